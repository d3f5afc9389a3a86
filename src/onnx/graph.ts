// A checkpoint as an ONNX model (SPEC §6), and the reader of what it writes: bytes in, bytes out, no files.
// The graph is built from the model spec, so any sequential spec of the engine's layer types exports. Weights
// are initializers (not graph inputs), the batch dimension is symbolic, and metadata_props carry everything a
// consumer needs to feed it (classes, input size, resize rule, scaling), under keys that `eval`/`predict` read back.
import onnxProto, { type onnx as P } from 'onnx-proto';
import { InputError } from '../errors.js';
import type { ModelSpec } from '../model/spec.js';
import type { Checkpoint } from '../store/checkpoint.js';
import { ENGINE_VERSION } from '../version.js';

const { onnx } = onnxProto;
type Dim = number | string;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const UINT8 = onnx.TensorProto.DataType.UINT8;
const AttrType = onnx.AttributeProto.AttributeType;

export const IR_VERSION = 8;
export const OPSET = 13;
const BATCH_DIM = 'N';
/** 1/255 as the engine applies it: float32(1/255) times the pixel (a float32 division by 255 differs in 126 of 256 values). */
const PIXEL_SCALE = Math.fround(1 / 255);

export type InputLayout = 'NCHW' | 'NHWC';
export type InputDtype = 'float32' | 'uint8';

export interface ModelInfo {
  /** class names, index = label; the output is P(classes[1]) */
  classes: string[];
  inputName: string;
  outputName: string;
  /** the pre-sigmoid output, when the model has one (engine exports do) */
  logitName?: string;
  /** e.g. ['N', 3, 150, 150] */
  inputShape: Dim[];
  outputShape: Dim[];
  height: number;
  width: number;
  channels: number;
  layout: InputLayout;
  dtype: InputDtype;
  /** multiply the 0..255 pixels by this before feeding (1 when the graph scales itself) */
  scale: number;
  /** the resize rule, e.g. 'pil-nearest' */
  resize: string;
  metadata: Record<string, string>;
  opset: number;
  irVersion: number;
}

const REQUIRED_KEYS = ['classes', 'input_height', 'input_width', 'input_channels', 'input_layout', 'input_dtype', 'scale', 'resize', 'output'] as const;

// ---------------------------------------------------------------------------------------------------------
// building

const attrInts = (name: string, ints: number[]) => ({ name, type: AttrType.INTS, ints });
const attrInt = (name: string, i: number) => ({ name, type: AttrType.INT, i });

function valueInfo(name: string, elemType: number, shape: Dim[]): P.IValueInfoProto {
  const dim = shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

function floatTensor(name: string, dims: number[], data: Float32Array): P.ITensorProto {
  // raw_data is little-endian, as are Float32Arrays on every platform Node runs on.
  return { name, dataType: FLOAT, dims, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

/** [3,3,Cin,Cout] (HWIO, the engine's) -> [Cout,Cin,3,3] (OIHW, ONNX Conv's). */
function hwioToOihw(w: Float32Array, cin: number, cout: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let k = 0; k < 9; k++)
    for (let ci = 0; ci < cin; ci++)
      for (let co = 0; co < cout; co++) out[(co * cin + ci) * 9 + k] = w[(k * cin + ci) * cout + co];
  return out;
}

/**
 * Rows of a dense kernel [h*w*c, O] reordered from the engine's flatten order (H,W,C) to ONNX Flatten's order
 * of an NCHW tensor (C,H,W): row (c*h + y)*w + x takes engine row (y*w + x)*c_total + c.
 */
function permuteFlattenRows(k: Float32Array, h: number, w: number, c: number, units: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const src = ((y * w + x) * c + ch) * units;
        out.set(k.subarray(src, src + units), ((ch * h + y) * w + x) * units);
      }
  return out;
}

function paramOf(ckpt: Checkpoint, name: string, shape: number[]): Float32Array {
  const p = ckpt.layout.find((e) => e.name === name);
  if (!p) throw new InputError(`checkpoint has no tensor ${name} (its spec '${ckpt.meta.spec.name}' does not match its weights)`);
  if (JSON.stringify(p.shape) !== JSON.stringify(shape))
    throw new InputError(`checkpoint tensor ${name} has shape [${p.shape}], its spec '${ckpt.meta.spec.name}' implies [${shape}]`);
  return ckpt.params.subarray(p.offset, p.offset + p.size);
}

function metadataProps(ckpt: Checkpoint, layout: InputLayout, output: string, logit: string): Record<string, string> {
  const { spec, classes, config, epoch, metrics } = ckpt.meta;
  const [h, w, c] = spec.input;
  const embedded = layout === 'NHWC';
  return {
    classes: JSON.stringify(classes),
    input_height: String(h),
    input_width: String(w),
    input_channels: String(c),
    input_layout: layout,
    input_dtype: embedded ? 'uint8' : 'float32',
    resize: 'pil-nearest',
    resize_note: `resize to ${w}x${h} (width x height) with PIL's NEAREST rule, source index floor((i + 0.5) * src / dst) per axis; the aspect ratio is not kept`,
    scale: embedded ? '1' : String(1 / 255),
    channel_order: 'RGB',
    output,
    logit_output: logit,
    positive_class: classes[1],
    producer: `engine ${ENGINE_VERSION}`,
    training_config: JSON.stringify(config),
    // no key when the epoch is unknown (imported weights whose file name does not say it)
    ...(epoch !== undefined ? { epoch: String(epoch) } : {}),
    ...(metrics?.val_acc !== undefined ? { val_accuracy: String(metrics.val_acc) } : {}),
    model: spec.name,
  };
}

/**
 * The checkpoint as an ONNX ModelProto. Float variant: input `image` float32 [N,C,H,W], pixels/255 in RGB.
 * With embedPreprocessing: input `image` uint8 [N,H,W,C] raw pixels; the graph casts, scales and transposes.
 */
export function buildOnnxModel(ckpt: Checkpoint, opts: { embedPreprocessing?: boolean } = {}): Uint8Array {
  const spec: ModelSpec = ckpt.meta.spec;
  const classes = ckpt.meta.classes;
  if (!Array.isArray(classes) || classes.length !== 2)
    throw new InputError(`checkpoint classes ${JSON.stringify(classes)}: expected the 2 class names of a binary classifier`);
  const [height, width, channels] = spec.input;
  const nodes: P.INodeProto[] = [];
  const initializer: P.ITensorProto[] = [];
  const counts = new Map<string, number>();
  const fresh = (base: string) => {
    const k = (counts.get(base) ?? 0) + 1;
    counts.set(base, k);
    return `${base}${k}`;
  };
  const node = (opType: string, inputs: string[], output: string, attribute: P.IAttributeProto[] = []) => {
    nodes.push({ opType, name: output, input: inputs, output: [output], attribute });
    return output;
  };

  let inputInfo: P.IValueInfoProto;
  let x = 'image';
  if (opts.embedPreprocessing) {
    inputInfo = valueInfo('image', UINT8, [BATCH_DIM, height, width, channels]);
    initializer.push(floatTensor('pixel_scale', [], Float32Array.of(PIXEL_SCALE)));
    x = node('Cast', [x], 'pixels', [attrInt('to', FLOAT)]);
    x = node('Mul', [x, 'pixel_scale'], 'scaled');
    x = node('Transpose', [x], 'nchw', [attrInts('perm', [0, 3, 1, 2])]);
  } else {
    inputInfo = valueInfo('image', FLOAT, [BATCH_DIM, channels, height, width]);
  }

  // Shape as the engine sees it (H,W,C); `spatial` while the ONNX tensor is still 4-D NCHW.
  let [h, w, c] = [height, width, channels];
  let spatial = true;
  // set by a Flatten: the (H,W,C) map whose rows the next dense kernel must reorder
  let flattenedFrom = null as [number, number, number] | null;
  const flatten = () => {
    x = node('Flatten', [x], fresh('flatten'), [attrInt('axis', 1)]);
    flattenedFrom = [h, w, c];
    [h, w, c, spatial] = [1, 1, h * w * c, false];
  };
  for (const [i, layer] of spec.layers.entries()) {
    switch (layer.type) {
      case 'conv3x3': {
        const name = fresh('conv');
        const kernel = paramOf(ckpt, `${name}.kernel`, [3, 3, c, layer.filters]);
        const bias = paramOf(ckpt, `${name}.bias`, [layer.filters]);
        initializer.push(floatTensor(`${name}.weight`, [layer.filters, c, 3, 3], hwioToOihw(kernel, c, layer.filters)));
        initializer.push(floatTensor(`${name}.bias`, [layer.filters], bias));
        x = node('Conv', [x, `${name}.weight`, `${name}.bias`], name, [attrInts('kernel_shape', [3, 3])]);
        [h, w, c] = [h - 2, w - 2, layer.filters];
        break;
      }
      case 'relu':
        x = node('Relu', [x], fresh('relu'));
        break;
      case 'maxpool2x2':
        x = node('MaxPool', [x], fresh('pool'), [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])]);
        [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
        break;
      case 'flatten':
        if (spatial) flatten();
        break;
      case 'dense': {
        if (spatial) flatten(); // the engine accepts a dense layer straight on a 1x1 map
        const name = fresh('dense');
        let kernel = paramOf(ckpt, `${name}.kernel`, [c, layer.units]);
        if (flattenedFrom) {
          kernel = permuteFlattenRows(kernel, ...flattenedFrom, layer.units);
          flattenedFrom = null;
        }
        initializer.push(floatTensor(`${name}.weight`, [c, layer.units], kernel));
        initializer.push(floatTensor(`${name}.bias`, [layer.units], paramOf(ckpt, `${name}.bias`, [layer.units])));
        x = node('Gemm', [x, `${name}.weight`, `${name}.bias`], name);
        c = layer.units;
        break;
      }
      case 'dropout':
        break; // identity at inference
      default:
        throw new InputError(`layer ${i} of spec '${spec.name}': type '${(layer as { type: string }).type}' cannot be exported`);
    }
  }
  if (spatial || c !== 1) throw new InputError(`spec '${spec.name}' does not end in a dense layer of 1 unit: cannot export it`);
  const output = `prob_${classes[1]}`;
  const logit = x;
  node('Sigmoid', [logit], output);

  const layout: InputLayout = opts.embedPreprocessing ? 'NHWC' : 'NCHW';
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'engine',
    producerVersion: ENGINE_VERSION,
    docString: `${spec.name} binary classifier: P(${classes[1]}) for classes ${JSON.stringify(classes)}`,
    graph: {
      name: spec.name,
      node: nodes,
      initializer,
      input: [inputInfo],
      // The logit is a second output so that evaluation can apply a float32 sigmoid of its own (see
      // src/eval/session.ts); consumers that only want P(positive) read the first.
      output: [valueInfo(output, FLOAT, [BATCH_DIM, 1]), valueInfo(logit, FLOAT, [BATCH_DIM, 1])],
    },
    metadataProps: Object.entries(metadataProps(ckpt, layout, output, logit)).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}

// ---------------------------------------------------------------------------------------------------------
// reading

// protobufjs decodes int64 fields as Long objects when the `long` package is installed.
type Long = { toNumber(): number };
const toNumber = (v: number | Long | null | undefined): number => (v == null ? 0 : typeof v === 'number' ? v : v.toNumber());

const dimsOf = (v: P.IValueInfoProto): Dim[] =>
  (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : toNumber(d.dimValue)));

function positiveInt(file: string, meta: Record<string, string>, key: string): number {
  const n = Number(meta[key]);
  if (!/^\d+$/.test(meta[key]) || n < 1) throw new InputError(`${file}: metadata '${key}' is '${meta[key]}', expected a positive whole number`);
  return n;
}

/** Reads and checks an exported model's interface. Every problem is an InputError naming `file`. */
export function readModelMetadata(bytes: Uint8Array, file = '<model>'): ModelInfo {
  let model: P.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new InputError(`${file}: not an ONNX model (${(err as Error).message})`);
  }
  // Decoded messages are class instances: repeated fields default to [] and strings to ''.
  const graph = model.graph as P.GraphProto | null | undefined;
  if (!graph || graph.node.length === 0 || graph.output.length === 0)
    throw new InputError(`${file}: not an ONNX model (no graph with nodes and outputs)`);

  const meta: Record<string, string> = {};
  for (const p of model.metadataProps as P.StringStringEntryProto[]) meta[p.key] = p.value;
  const missing = REQUIRED_KEYS.filter((k) => typeof meta[k] !== 'string');
  if (missing.length > 0)
    throw new InputError(`${file}: not an engine model: metadata_props lacks ${missing.join(', ')} (expected keys ${REQUIRED_KEYS.join(', ')})`);

  let classes: unknown;
  try {
    classes = JSON.parse(meta.classes);
  } catch {
    classes = null;
  }
  if (!Array.isArray(classes) || classes.length !== 2 || !classes.every((s) => typeof s === 'string'))
    throw new InputError(`${file}: metadata 'classes' is ${meta.classes}, expected a JSON array of 2 class names`);
  const height = positiveInt(file, meta, 'input_height');
  const width = positiveInt(file, meta, 'input_width');
  const channels = positiveInt(file, meta, 'input_channels');
  const layout = meta.input_layout;
  if (layout !== 'NCHW' && layout !== 'NHWC') throw new InputError(`${file}: metadata 'input_layout' is '${layout}', expected NCHW or NHWC`);
  const dtype = meta.input_dtype;
  if (dtype !== 'float32' && dtype !== 'uint8') throw new InputError(`${file}: metadata 'input_dtype' is '${dtype}', expected float32 or uint8`);
  const scale = Number(meta.scale);
  if (!(Number.isFinite(scale) && scale > 0)) throw new InputError(`${file}: metadata 'scale' is '${meta.scale}', expected a positive number`);

  const initializers = new Set(graph.initializer.map((t) => t.name));
  const inputs = (graph.input as P.ValueInfoProto[]).filter((v) => !initializers.has(v.name));
  if (inputs.length !== 1) throw new InputError(`${file}: expected 1 graph input, found ${inputs.length}`);
  const input = inputs[0];
  const tensorType = input.type?.tensorType;
  const shape = dimsOf(input);
  const expected: Dim[] = layout === 'NCHW' ? [BATCH_DIM, channels, height, width] : [BATCH_DIM, height, width, channels];
  const fits = shape.length === 4 && shape.every((d, i) => (i === 0 ? typeof d === 'string' || d >= 1 : d === expected[i]));
  if (!fits) throw new InputError(`${file}: input '${input.name}' has shape [${shape}], expected [${expected}] (${layout}, from the metadata)`);
  const elem = tensorType?.elemType;
  if (elem !== (dtype === 'uint8' ? UINT8 : FLOAT))
    throw new InputError(`${file}: input '${input.name}' has element type ${onnx.TensorProto.DataType[elem ?? 0] ?? elem}, metadata says ${dtype}`);

  const output = (graph.output as P.ValueInfoProto[]).find((o) => o.name === meta.output);
  if (!output) throw new InputError(`${file}: metadata 'output' names '${meta.output}', but the graph's outputs are ${graph.output.map((o) => o.name).join(', ')}`);
  const logit = meta.logit_output ? (graph.output as P.ValueInfoProto[]).find((o) => o.name === meta.logit_output) : undefined;
  if (meta.logit_output && !logit)
    throw new InputError(`${file}: metadata 'logit_output' names '${meta.logit_output}', but the graph's outputs are ${graph.output.map((o) => o.name).join(', ')}`);
  const opset = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');

  return {
    classes: classes as string[],
    inputName: input.name,
    outputName: output.name,
    logitName: logit?.name,
    inputShape: shape,
    outputShape: dimsOf(output),
    height,
    width,
    channels,
    layout,
    dtype,
    scale,
    resize: meta.resize,
    metadata: meta,
    opset: toNumber(opset?.version),
    irVersion: toNumber(model.irVersion),
  };
}
