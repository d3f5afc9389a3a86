// Checkpoints are safetensors files (SPEC §6): an 8-byte little-endian header length, a JSON header, then raw
// little-endian float32 tensors. Python reads them with `safetensors` or a few lines of numpy. Besides the
// weights they hold the optimizer's state ("optimizer.<name>": RMSprop's accumulators, SGD's velocity, AdamW's
// first moment; "optimizer2.<name>": AdamW's second), the moving average of the weights where the recipe keeps
// one ("ema.<name>"), batch norm's running statistics ("state.<op>.moving_mean", "state.<op>.moving_variance")
// and, in __metadata__, everything a resumed run needs: the model spec, the training config, the epoch, the
// optimizer step and the data RNG state.
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { READ_LIMITS, readInputFile } from '../io/read.js';
import { checkSpecShape, type ModelSpec } from '../model/spec.js';
import { native, type ModelLayout, type ParamEntry } from '../native.js';

export const CHECKPOINT_FORMAT = 'engine-checkpoint/1';
export const OPTIMIZER_PREFIX = 'optimizer.';
export const STATE_PREFIX = 'state.';
export const EMA_PREFIX = 'ema.';
/** the prefix of the optimizer's state buffer j (0: 'optimizer.', 1: 'optimizer2.', ...) */
const optimizerPrefix = (j: number) => (j === 0 ? OPTIMIZER_PREFIX : `optimizer${j + 1}.`);

export interface CheckpointMeta {
  spec: ModelSpec;
  /** the training configuration that produced it (free-form, recorded for people and for resume) */
  config: Record<string, unknown>;
  /** class names, index = label */
  classes: string[];
  /**
   * epochs of training behind these weights; undefined when unknown (weights imported from a file whose name
   * does not say it): the metadata then has no 'epoch' key, and the model card says "epoch unknown"
   */
  epoch?: number;
  /** optimizer steps taken so far (dropout masks depend on it) */
  step: number;
  /** state of the data-order/augmentation RNG after `epoch` */
  rngState?: number[];
  /** validation figures of this epoch, when known */
  metrics?: Record<string, number>;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  layout: ParamEntry[];
  /** [P] in layout order */
  params: Float32Array;
  /** the optimizer's state buffers one after another ([P], AdamW's [2P]); absent in weights-only files (e.g. imported ones) */
  accumulators?: Float32Array;
  /** [P] the moving average of the weights, where the recipe keeps one */
  ema?: Float32Array;
  /** batch norm's running statistics [S] in `stateLayout` order; absent (or empty) for models without batch norm */
  stateLayout?: ParamEntry[];
  state?: Float32Array;
}

interface TensorHeader {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export function encodeCheckpoint(ckpt: Checkpoint): Buffer {
  const { meta, layout, params, accumulators, ema, stateLayout, state } = ckpt;
  const header: Record<string, unknown> = {
    __metadata__: {
      format: CHECKPOINT_FORMAT,
      spec: JSON.stringify(meta.spec),
      config: JSON.stringify(meta.config),
      classes: JSON.stringify(meta.classes),
      ...(meta.epoch !== undefined ? { epoch: String(meta.epoch) } : {}),
      step: String(meta.step),
      ...(meta.rngState ? { rng_state: JSON.stringify(meta.rngState) } : {}),
      ...(meta.metrics ? { metrics: JSON.stringify(meta.metrics) } : {}),
    },
  };
  const total = layout.reduce((s, p) => s + p.size, 0);
  if (params.length !== total) throw new Error(`checkpoint: ${params.length} params for a layout of ${total}`);
  const sources: Array<[string, number[], Float32Array]> = [];
  for (const p of layout) sources.push([p.name, p.shape, params.subarray(p.offset, p.offset + p.size)]);
  if (accumulators) {
    if (accumulators.length % total !== 0) throw new Error(`checkpoint: ${accumulators.length} optimizer values for ${total} params`);
    for (let j = 0; j < accumulators.length / total; j++)
      for (const p of layout) sources.push([optimizerPrefix(j) + p.name, p.shape, accumulators.subarray(j * total + p.offset, j * total + p.offset + p.size)]);
  }
  if (ema) {
    if (ema.length !== total) throw new Error(`checkpoint: ${ema.length} averaged weights for ${total} params`);
    for (const p of layout) sources.push([EMA_PREFIX + p.name, p.shape, ema.subarray(p.offset, p.offset + p.size)]);
  }
  if (state && stateLayout)
    for (const p of stateLayout) sources.push([STATE_PREFIX + p.name, p.shape, state.subarray(p.offset, p.offset + p.size)]);
  let offset = 0;
  for (const [name, shape, data] of sources) {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] } satisfies TensorHeader;
    offset += data.byteLength;
  }
  // Pad the header with spaces so the data starts 8-byte aligned, as the format recommends.
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const [, , data] of sources) {
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, pos);
    pos += data.byteLength;
  }
  return out;
}

export async function saveCheckpoint(file: string, ckpt: Checkpoint): Promise<void> {
  await writeFileAtomic(file, encodeCheckpoint(ckpt));
}

/** A safetensors header larger than this is refused (the format's own readers stop at 100 MB). */
const MAX_HEADER_BYTES = 100 * 2 ** 20;

const isPlainObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
/** Control characters (C0, DEL, C1): never in a class name, which is printed, tabulated and shown in pages. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Why `classes` is not a list of `count` class names, or undefined: distinct, non-empty strings of printable
 * characters (they become label rows, report lines and page text).
 */
export function classNamesProblem(classes: unknown, count?: number): string | undefined {
  if (!Array.isArray(classes)) return `expected a list of class names, got ${JSON.stringify(classes)}`;
  if (count !== undefined && classes.length !== count) return `${classes.length} class names for a model of ${count} outputs`;
  const bad = classes.find((c) => typeof c !== 'string' || c === '' || CONTROL.test(c) || c.length > 200);
  if (bad !== undefined) return `class name ${JSON.stringify(bad)} is not a non-empty line of text (at most 200 characters, no control characters)`;
  if (new Set(classes).size !== classes.length) return `class names repeat: ${JSON.stringify(classes)}`;
  return undefined;
}

/**
 * The checks of one file's header, each failure an InputError naming the file and the field. The whole header is
 * checked before any tensor byte is read.
 */
class HeaderReader {
  constructor(
    readonly file: string,
    readonly meta: Record<string, unknown>,
  ) {}

  fail(field: string, why: string): never {
    throw new InputError(`${this.file}: ${field} ${why}`);
  }

  /** metadata[key] parsed as JSON (the metadata holds strings only). */
  json(key: string, optional = false): unknown {
    const v = this.meta[key];
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'string') this.fail(`metadata '${key}'`, v === undefined ? 'is missing (not an engine checkpoint?)' : `must be a string, got ${JSON.stringify(v)}`);
    try {
      return JSON.parse(v as string);
    } catch {
      return this.fail(`metadata '${key}'`, 'is not valid JSON');
    }
  }

  /** metadata[key], a whole number in [0, 2^53) written in decimal. */
  count(key: string, optional = false): number | undefined {
    const v = this.meta[key];
    if (v === undefined && optional) return undefined;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) this.fail(`metadata '${key}'`, `must be a whole number below 2^53, got ${JSON.stringify(v)}`);
    return n;
  }
}

/** The checked metadata: every field of CheckpointMeta, and the model layout its spec implies. */
function readMeta(file: string, header: Record<string, unknown>): { meta: CheckpointMeta; modelLayout: ModelLayout } {
  const raw = header.__metadata__;
  if (!isPlainObject(raw)) throw new InputError(`${file}: not an engine checkpoint (no __metadata__ object in its header)`);
  if (raw.format !== CHECKPOINT_FORMAT)
    throw new InputError(`${file}: not an engine checkpoint (format ${JSON.stringify(raw.format ?? 'missing')}, expected '${CHECKPOINT_FORMAT}')`);
  const r = new HeaderReader(file, raw);
  const specJson = r.json('spec');
  let spec: ModelSpec;
  let modelLayout: ModelLayout;
  try {
    spec = checkSpecShape(specJson, `${file}: metadata 'spec'`);
    modelLayout = native.layout(spec);
  } catch (err) {
    const message = (err as Error).message;
    throw new InputError(message.startsWith(file) ? message : `${file}: metadata 'spec': ${message}`);
  }
  const config = r.json('config');
  if (!isPlainObject(config)) r.fail("metadata 'config'", `must be a JSON object, got ${JSON.stringify(config)}`);
  const classes = r.json('classes');
  const classProblem = classNamesProblem(classes, modelLayout.classes);
  if (classProblem) r.fail("metadata 'classes'", classProblem);
  const rngState = r.json('rng_state', true);
  if (rngState !== undefined && !(Array.isArray(rngState) && rngState.length > 0 && rngState.every(isCount)))
    r.fail("metadata 'rng_state'", `must be a list of whole numbers, got ${JSON.stringify(rngState)}`);
  const metrics = r.json('metrics', true);
  // (JSON writes a NaN figure as null)
  if (metrics !== undefined && !(isPlainObject(metrics) && Object.values(metrics).every((v) => typeof v === 'number' || v === null)))
    r.fail("metadata 'metrics'", `must be an object of numbers, got ${JSON.stringify(metrics)}`);
  return {
    meta: {
      spec,
      config: config as Record<string, unknown>,
      classes: classes as string[],
      epoch: r.count('epoch', true),
      step: r.count('step')!,
      rngState: rngState as number[] | undefined,
      metrics: metrics as Record<string, number> | undefined,
    },
    modelLayout,
  };
}

/**
 * The tensor entries of the header, checked: each an F32 tensor of a plain shape whose data_offsets lie in the
 * data section, hold exactly its bytes, and together cover the section without overlap or gap (as the format
 * requires: no byte is read twice, none is left unaccounted for).
 */
function readTensorEntries(file: string, header: Record<string, unknown>, dataLen: number): Map<string, TensorHeader> {
  const entries = new Map<string, TensorHeader>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const fail = (why: string): never => {
      throw new InputError(`${file}: tensor ${JSON.stringify(name)} ${why}`);
    };
    if (!isPlainObject(t)) fail(`must be an object {dtype, shape, data_offsets}, got ${JSON.stringify(t)}`);
    const { dtype, shape, data_offsets: offsets } = t as Record<string, unknown>;
    if (dtype !== 'F32') fail(`has dtype ${JSON.stringify(dtype)}, expected F32`);
    if (!Array.isArray(shape) || shape.length > 8 || !shape.every(isCount)) fail(`has shape ${JSON.stringify(shape)}, expected a list of whole numbers`);
    let n = 1;
    for (const d of shape as number[]) n *= d;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1])
      fail(`has data_offsets ${JSON.stringify(offsets)}, expected [begin, end] with 0 <= begin <= end`);
    const [b, e] = offsets as number[];
    if (e > dataLen) fail(`lies outside the file: data_offsets [${b}, ${e}] for a data section of ${dataLen} bytes (truncated?)`);
    if (e - b !== 4 * n) fail(`has data_offsets [${b}, ${e}] (${e - b} bytes) for shape [${shape}] (${4 * n} bytes of F32)`);
    entries.set(name, { dtype: 'F32', shape: shape as number[], data_offsets: [b, e] });
  }
  const order = [...entries].sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  let end = 0;
  for (const [name, t] of order) {
    const [b, e] = t.data_offsets;
    if (b === e) continue; // an empty tensor holds no byte: it cannot overlap
    if (b < end) throw new InputError(`${file}: tensor ${JSON.stringify(name)} overlaps the tensor before it (data_offsets [${b}, ${e}], the previous ends at ${end})`);
    if (b > end) throw new InputError(`${file}: ${b - end} bytes before tensor ${JSON.stringify(name)} belong to no tensor (data_offsets [${b}, ${e}])`);
    end = e;
  }
  if (end !== dataLen) throw new InputError(`${file}: ${dataLen - end} bytes after the last tensor belong to no tensor`);
  return entries;
}

/**
 * Decodes a checkpoint and checks it against `layout` (the parameter layout of the model it is loaded into) and
 * `stateLayout` (its state's); by default the layout its own spec implies. The whole header is checked before a
 * tensor byte is read, and every value must be finite. Every malformation is an InputError naming the file and
 * the field.
 */
export function decodeCheckpoint(file: string, buf: Buffer, layout?: ParamEntry[], stateLayout?: ParamEntry[]): Checkpoint {
  if (buf.length < 8) throw new InputError(`${file}: too short to be a checkpoint (${buf.length} bytes)`);
  const headerLen = buf.readBigUInt64LE(0);
  if (headerLen <= 0n || headerLen > BigInt(Math.min(MAX_HEADER_BYTES, buf.length - 8)))
    throw new InputError(`${file}: not a safetensors checkpoint (header length ${headerLen} for a ${buf.length}-byte file)`);
  const dataStart = 8 + Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(8, dataStart).toString('utf8'));
  } catch {
    throw new InputError(`${file}: not a safetensors checkpoint (header is not JSON)`);
  }
  if (!isPlainObject(header)) throw new InputError(`${file}: not a safetensors checkpoint (header is ${JSON.stringify(header)}, expected an object)`);
  const { meta, modelLayout } = readMeta(file, header);
  const entries = readTensorEntries(file, header, buf.length - dataStart);
  const paramLayout = layout ?? modelLayout.params;
  const stateEntries = stateLayout ?? modelLayout.state;
  const known = new Set<string>();
  const want = (name: string, shape: number[], required: boolean): TensorHeader | undefined => {
    known.add(name);
    const t = entries.get(name);
    if (!t) {
      if (required) throw new InputError(`${file}: tensor ${name} is missing (spec '${meta.spec.name}': a checkpoint of another model?)`);
      return undefined;
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new InputError(`${file}: tensor ${name} has shape [${t.shape}], the model (spec '${meta.spec.name}') expects [${shape}] (a checkpoint of another model?)`);
    return t;
  };
  for (const p of stateEntries) want(STATE_PREFIX + p.name, p.shape, true);
  for (const p of paramLayout) want(p.name, p.shape, true);
  // The optimizer's buffers (RMSprop and SGD: one, AdamW: two) and the weights' moving average: each whole or absent.
  const complete = (prefix: string) => paramLayout.every((p) => entries.has(prefix + p.name));
  let optimizerBuffers = 0;
  for (; complete(optimizerPrefix(optimizerBuffers)); optimizerBuffers++) for (const p of paramLayout) want(optimizerPrefix(optimizerBuffers) + p.name, p.shape, true);
  const withEma = complete(EMA_PREFIX);
  if (withEma) for (const p of paramLayout) want(EMA_PREFIX + p.name, p.shape, true);
  const extra = [...entries.keys()].filter((n) => !known.has(n));
  if (extra.length) throw new InputError(`${file}: tensor ${JSON.stringify(extra[0])} is not one of the model's (spec '${meta.spec.name}')`);

  // The header holds: now the bytes.
  const read = (name: string, into: Float32Array, at: number) => {
    const [b, e] = entries.get(name)!.data_offsets;
    // Copy: the buffer's data section need not be 4-byte aligned.
    const v = new Float32Array(new Uint8Array(buf.buffer, buf.byteOffset + dataStart + b, e - b).slice().buffer);
    const bad = v.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new InputError(`${file}: tensor ${name} holds ${v[bad]} at element ${bad}: not a usable checkpoint (weights from a diverged run?)`);
    into.set(v, at);
  };
  const size = (l: ParamEntry[]) => l.reduce((s, p) => s + p.size, 0);
  const state = new Float32Array(size(stateEntries));
  for (const p of stateEntries) read(STATE_PREFIX + p.name, state, p.offset);
  /** every parameter's tensor under `prefix`, into `into` from `at` on (in the layout's order) */
  const readAll = (prefix: string, into: Float32Array, at: number) => {
    for (const p of paramLayout) read(prefix + p.name, into, at + p.offset);
  };
  const total = size(paramLayout);
  const params = new Float32Array(total);
  readAll('', params, 0);
  const accumulators = optimizerBuffers > 0 ? new Float32Array(total * optimizerBuffers) : undefined;
  for (let j = 0; j < optimizerBuffers; j++) readAll(optimizerPrefix(j), accumulators!, j * total);
  const ema = withEma ? new Float32Array(total) : undefined;
  if (ema) readAll(EMA_PREFIX, ema, 0);
  return {
    meta,
    layout: paramLayout,
    params,
    accumulators,
    ...(ema ? { ema } : {}),
    ...(stateEntries.length ? { stateLayout: stateEntries, state } : {}),
  };
}

export async function loadCheckpoint(file: string, layout?: ParamEntry[], stateLayout?: ParamEntry[]): Promise<Checkpoint> {
  return decodeCheckpoint(file, await readInputFile(file, 'checkpoint', READ_LIMITS.model), layout, stateLayout);
}
