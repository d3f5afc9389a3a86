// Checkpoints are safetensors files (SPEC §6): an 8-byte little-endian header length, a JSON header, then raw
// little-endian float32 tensors. Python reads them with `safetensors` or a few lines of numpy. Besides the
// weights they hold the optimizer's state ("optimizer.<name>": RMSprop's accumulators, SGD's velocity, AdamW's
// first moment; "optimizer2.<name>": AdamW's second), the moving average of the weights where the recipe keeps
// one ("ema.<name>"), batch norm's running statistics ("state.<op>.moving_mean", "state.<op>.moving_variance")
// and, in __metadata__, everything a resumed run needs: the model spec, the training config, the epoch, the
// optimizer step and the data RNG state.
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readInputFile } from '../io/read.js';
import type { ModelSpec } from '../model/spec.js';
import type { ParamEntry } from '../native.js';

export const CHECKPOINT_FORMAT = 'engine-checkpoint/1';
export const OPTIMIZER_PREFIX = 'optimizer.';
export const STATE_PREFIX = 'state.';
export const EMA_PREFIX = 'ema.';
/** the prefix of the optimizer's state buffer j (0: 'optimizer.', 1: 'optimizer2.', ...) */
const optimizerPrefix = (j: number) => (j === 0 ? OPTIMIZER_PREFIX : `optimizer${j + 1}.`);
const isWeightName = (name: string) => !/^optimizer\d*\./.test(name) && !name.startsWith(STATE_PREFIX) && !name.startsWith(EMA_PREFIX);

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

function parseJsonField<T>(file: string, meta: Record<string, string>, key: string): T {
  if (typeof meta[key] !== 'string') throw new InputError(`${file}: not an engine checkpoint (metadata '${key}' missing)`);
  try {
    return JSON.parse(meta[key]) as T;
  } catch {
    throw new InputError(`${file}: metadata '${key}' is not valid JSON`);
  }
}

/**
 * Decodes a checkpoint and checks it against `layout` (the parameter layout of the model it is loaded into) and
 * `stateLayout` (its state's), when given. Every malformation is an InputError naming the file.
 */
export function decodeCheckpoint(file: string, buf: Buffer, layout?: ParamEntry[], stateLayout?: ParamEntry[]): Checkpoint {
  if (buf.length < 8) throw new InputError(`${file}: too short to be a checkpoint (${buf.length} bytes)`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen <= 0 || 8 + headerLen > buf.length)
    throw new InputError(`${file}: not a safetensors checkpoint (header length ${headerLen} for a ${buf.length}-byte file)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  } catch {
    throw new InputError(`${file}: not a safetensors checkpoint (header is not JSON)`);
  }
  const meta = (header.__metadata__ ?? {}) as Record<string, string>;
  if (meta.format !== CHECKPOINT_FORMAT)
    throw new InputError(`${file}: not an engine checkpoint (format '${meta.format ?? 'missing'}', expected '${CHECKPOINT_FORMAT}')`);
  const spec = parseJsonField<ModelSpec>(file, meta, 'spec');
  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;

  const tensor = (name: string, shape: number[]): Float32Array | undefined => {
    const t = header[name] as TensorHeader | undefined;
    if (!t) return undefined;
    const [b, e] = t.data_offsets ?? [];
    if (t.dtype !== 'F32') throw new InputError(`${file}: tensor ${name} has dtype ${t.dtype}, expected F32`);
    if (JSON.stringify(t.shape) !== JSON.stringify(shape))
      throw new InputError(`${file}: tensor ${name} has shape [${t.shape}], the model expects [${shape}] (a checkpoint of another model?)`);
    const n = shape.reduce((a, x) => a * x, 1);
    if (!(Number.isInteger(b) && e === b + 4 * n && e <= dataLen))
      throw new InputError(`${file}: tensor ${name} lies outside the file (truncated?)`);
    // Copy: the buffer's data section need not be 4-byte aligned.
    return new Float32Array(new Uint8Array(buf.buffer, buf.byteOffset + dataStart + b, 4 * n).slice().buffer);
  };

  const tensorLayout = layout ?? layoutFromHeader(file, header, isWeightName);
  const stateEntries = stateLayout ?? layoutFromHeader(file, header, (name) => name.startsWith(STATE_PREFIX)).map((e) => ({ ...e, name: e.name.slice(STATE_PREFIX.length) }));
  const stateTotal = stateEntries.reduce((s, p) => s + p.size, 0);
  const state = new Float32Array(stateTotal);
  for (const p of stateEntries) {
    const v = tensor(STATE_PREFIX + p.name, p.shape);
    if (!v) throw new InputError(`${file}: tensor ${STATE_PREFIX + p.name} is missing (a checkpoint of another model?)`);
    state.set(v, p.offset);
  }
  const total = tensorLayout.reduce((s, p) => s + p.size, 0);
  const params = new Float32Array(total);
  for (const p of tensorLayout) {
    const w = tensor(p.name, p.shape);
    if (!w) throw new InputError(`${file}: tensor ${p.name} is missing (a checkpoint of another model?)`);
    params.set(w, p.offset);
  }
  /** the tensors of every parameter under `prefix`, or undefined when any is missing */
  const all = (prefix: string): Float32Array | undefined => {
    const out = new Float32Array(total);
    for (const p of tensorLayout) {
      const v = tensor(prefix + p.name, p.shape);
      if (!v) return undefined;
      out.set(v, p.offset);
    }
    return out;
  };
  const buffers: Float32Array[] = [];
  for (let b = all(optimizerPrefix(0)); b; b = all(optimizerPrefix(buffers.length))) buffers.push(b);
  const accumulators = buffers.length === 0 ? undefined : buffers.length === 1 ? buffers[0] : concat(buffers);
  const ema = all(EMA_PREFIX);
  const epoch = meta.epoch === undefined ? undefined : Number(meta.epoch);
  const step = Number(meta.step);
  if ((epoch !== undefined && (!Number.isInteger(epoch) || epoch < 0)) || !Number.isInteger(step) || step < 0)
    throw new InputError(`${file}: metadata epoch/step must be non-negative integers`);
  return {
    meta: {
      spec,
      config: parseJsonField(file, meta, 'config'),
      classes: parseJsonField(file, meta, 'classes'),
      epoch,
      step,
      rngState: meta.rng_state ? parseJsonField(file, meta, 'rng_state') : undefined,
      metrics: meta.metrics ? parseJsonField(file, meta, 'metrics') : undefined,
    },
    layout: tensorLayout,
    params,
    accumulators,
    ...(ema ? { ema } : {}),
    ...(stateEntries.length ? { stateLayout: stateEntries, state } : {}),
  };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

/** A layout as stored (file order of the tensors `keep` selects), for reading without a model at hand. */
function layoutFromHeader(file: string, header: Record<string, unknown>, keep: (name: string) => boolean): ParamEntry[] {
  const entries = Object.entries(header)
    .filter(([name]) => name !== '__metadata__' && keep(name))
    .map(([name, t]) => ({ name, t: t as TensorHeader }))
    .sort((a, b) => (a.t.data_offsets?.[0] ?? 0) - (b.t.data_offsets?.[0] ?? 0));
  let offset = 0;
  return entries.map(({ name, t }) => {
    if (!Array.isArray(t.shape)) throw new InputError(`${file}: tensor ${name} has no shape`);
    const size = t.shape.reduce((a: number, x: number) => a * x, 1);
    const entry = { name, shape: t.shape, offset, size };
    offset += size;
    return entry;
  });
}

export async function loadCheckpoint(file: string, layout?: ParamEntry[], stateLayout?: ParamEntry[]): Promise<Checkpoint> {
  return decodeCheckpoint(file, await readInputFile(file, 'checkpoint'), layout, stateLayout);
}
