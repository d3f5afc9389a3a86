// A checkpoint as an ONNX model (SPEC §6), bytes out, no files (model-info.ts reads back what it writes).
// The graph is built from the model's graph of ops (native.layout gives every op's name and shape), so any spec of
// the engine's layer types exports: Conv, Relu, MaxPool, Flatten, Gemm (weights [out, in] with transB, as
// torch.onnx writes them), GlobalAveragePool, Add, and batch norm folded into the convolution before it (else a
// BatchNormalization node); a sigmoid or softmax head. A run trained with --normalize auto gets its per-channel
// Sub and Div at the input (the input stays pixels / 255), and one that kept a moving average of the weights
// exports the average (what its validation and best.* used). Weights are initializers (not graph inputs), the batch
// dimension is symbolic, and metadata_props carry everything a consumer needs to feed it (classes, input size,
// resize rule, scaling), under keys that `eval`/`predict` read back.
import onnxProto, { type onnx as P } from 'onnx-proto';
import { InputError } from '../errors.js';
import { resizeNote, resizeOf, type LayerSpec, type ModelSpec } from '../model/spec.js';
import { native } from '../native.js';
import type { Checkpoint } from '../store/checkpoint.js';
import { ENGINE_VERSION } from '../version.js';
import { BATCH_DIM, type Dim, type InputLayout } from './model-info.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const UINT8 = onnx.TensorProto.DataType.UINT8;
const INT64 = onnx.TensorProto.DataType.INT64;
const AttrType = onnx.AttributeProto.AttributeType;

export const IR_VERSION = 8;
export const OPSET = 13;
/** 1/255 as the engine applies it: float32(1/255) times the pixel (a float32 division by 255 differs in 126 of 256 values). */
const PIXEL_SCALE = Math.fround(1 / 255);

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

/** [k,k,Cin,Cout] (HWIO, the engine's) -> [Cout,Cin,k,k] (OIHW, ONNX Conv's). */
function hwioToOihw(w: Float32Array, k: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let t = 0; t < k * k; t++)
    for (let ci = 0; ci < cin; ci++)
      for (let co = 0; co < cout; co++) out[(co * cin + ci) * k * k + t] = w[(t * cin + ci) * cout + co];
  return out;
}

/** [rows, cols] -> [cols, rows]: a dense kernel [in, out] as Gemm's transB weight [out, in]. */
function transpose(k: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = k[r * cols + c];
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
  // a run that kept a moving average of the weights validated and chose best.* by it: export it
  return (ckpt.ema ?? ckpt.params).subarray(p.offset, p.offset + p.size);
}

/** --normalize auto: the training split's per-channel mean and std (of pixels / 255) that the checkpoint records. */
function normalizationOf(ckpt: Checkpoint, channels: number): { mean: number[]; std: number[] } | undefined {
  const n = (ckpt.meta.config as { normalization?: { mean: number[]; std: number[] } } | undefined)?.normalization;
  if (n === undefined) return undefined;
  const ok = (v: unknown, positive: boolean) =>
    Array.isArray(v) && v.length === channels && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0));
  if (!ok(n.mean, false) || !ok(n.std, true))
    throw new InputError(`checkpoint config.normalization ${JSON.stringify(n)}: expected a mean and a positive std of ${channels} channel${channels > 1 ? 's' : ''}`);
  return n;
}

function metadataProps(ckpt: Checkpoint, layout: InputLayout, output: string, logit: string | undefined, tta: boolean): Record<string, string> {
  const softmax = ckpt.meta.spec.head === 'softmax';
  const { spec, classes, config, epoch, metrics } = ckpt.meta;
  const [h, w, c] = spec.input;
  const embedded = layout === 'NHWC';
  const rule = resizeOf(spec);
  return {
    classes: JSON.stringify(classes),
    input_height: String(h),
    input_width: String(w),
    input_channels: String(c),
    input_layout: layout,
    input_dtype: embedded ? 'uint8' : 'float32',
    resize: rule,
    resize_note: resizeNote(rule, w, h),
    scale: embedded ? '1' : String(1 / 255),
    channel_order: c === 1 ? 'L' : 'RGB',
    ...(c === 1 ? { channel_note: "one grey channel, PIL's convert('L'): L = (19595 R + 38470 G + 7471 B + 32768) >> 16 (ITU-R 601-2 luma)" } : {}),
    output,
    ...(logit !== undefined ? { logit_output: logit } : {}),
    ...(tta ? { tta: 'flip', tta_note: 'the output is the mean of the probabilities of each image and of its left-right mirror image' } : {}),
    head: softmax ? 'softmax' : 'sigmoid',
    ...(softmax ? {} : { positive_class: classes[1] }),
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
export function buildOnnxModel(ckpt: Checkpoint, opts: { embedPreprocessing?: boolean; tta?: 'none' | 'flip' } = {}): Uint8Array {
  const spec: ModelSpec = ckpt.meta.spec;
  const classes = ckpt.meta.classes;
  let layout;
  try {
    layout = native.layout(spec);
  } catch (err) {
    throw new InputError(`checkpoint spec '${spec.name}': ${(err as Error).message}`);
  }
  if (!Array.isArray(classes) || classes.length !== layout.classes || !classes.every((c) => typeof c === 'string'))
    throw new InputError(`checkpoint classes ${JSON.stringify(classes)}: expected the ${layout.classes} class names of the model`);
  const softmax = spec.head === 'softmax';
  const [height, width, channels] = spec.input;
  const nodes: P.INodeProto[] = [];
  const initializer: P.ITensorProto[] = [];
  const node = (opType: string, inputs: string[], output: string, attribute: P.IAttributeProto[] = []) => {
    nodes.push({ opType, name: output, input: inputs, output: [output], attribute });
    return output;
  };
  const weight = (name: string, dims: number[], data: Float32Array) => {
    initializer.push(floatTensor(name, dims, data));
    return name;
  };

  let inputInfo: P.IValueInfoProto;
  let image = 'image';
  if (opts.embedPreprocessing) {
    inputInfo = valueInfo('image', UINT8, [BATCH_DIM, height, width, channels]);
    weight('pixel_scale', [], Float32Array.of(PIXEL_SCALE));
    image = node('Cast', [image], 'pixels', [attrInt('to', FLOAT)]);
    image = node('Mul', [image, 'pixel_scale'], 'scaled');
    image = node('Transpose', [image], 'nchw', [attrInts('perm', [0, 3, 1, 2])]);
  } else {
    inputInfo = valueInfo('image', FLOAT, [BATCH_DIM, channels, height, width]);
  }
  // the per-channel normalisation the run trained with, in the graph: the input stays pixels / 255
  const normalization = normalizationOf(ckpt, channels);
  if (normalization) {
    weight('input_mean', [1, channels, 1, 1], Float32Array.from(normalization.mean));
    weight('input_std', [1, channels, 1, 1], Float32Array.from(normalization.std));
    image = node('Sub', [image, 'input_mean'], 'centred');
    image = node('Div', [image, 'input_std'], 'normalized');
  }
  // --tta flip: the images and their left-right mirrors go through the net as one batch of 2N; the two halves'
  // probabilities are averaged at the end (ReduceMean of two: (a + b) / 2 in float32, as eval --tta flip does)
  const tta = opts.tta === 'flip';
  const int64 = (name: string, values: number[]) => (initializer.push({ name, dataType: INT64, dims: [values.length], int64Data: values }), name);
  if (tta) {
    // a reversed Slice along the width: from the last column to before the first (an end below -width clamps there)
    const mirrored = node('Slice', [image, int64('tta_starts', [-1]), int64('tta_ends', [-(width + 1)]), int64('tta_axes', [3]), int64('tta_steps', [-1])], 'mirrored');
    image = node('Concat', [image, mirrored], 'with_mirrored', [attrInt('axis', 0)]);
  }

  // Each engine tensor as ONNX holds it: its value name, its (h, w, c) shape, whether it is still a 4-D NCHW map,
  // and, after an ONNX Flatten (which flattens C,H,W where the engine flattens H,W,C), the map it came from, whose
  // order the next dense kernel's rows must take.
  interface Value {
    name: string;
    shape: [number, number, number];
    spatial: boolean;
    flattenedFrom?: [number, number, number];
  }
  const values = new Map<string, Value>([['input', { name: image, shape: [height, width, channels], spatial: true }]]);
  const state = (name: string, C: number): Float32Array => {
    const e = ckpt.stateLayout?.find((p) => p.name === name);
    if (!e || !ckpt.state || e.size !== C) throw new InputError(`checkpoint has no batch-norm statistic ${name} (a checkpoint written before batch norm kept it?)`);
    return ckpt.state.subarray(e.offset, e.offset + e.size);
  };
  // (an explicit flatten layer keeps its own name; one the ONNX graph needs where the engine needs none is <op>.flat)
  const flat = (v: Value, name: string): Value =>
    v.spatial ? { name: node('Flatten', [v.name], name, [attrInt('axis', 1)]), shape: [1, 1, v.shape[0] * v.shape[1] * v.shape[2]], spatial: false, flattenedFrom: v.shape[0] * v.shape[1] > 1 ? v.shape : undefined } : v;
  const folded = new Set<number>();  // batch norms folded into the convolution before them

  let previous = 'input';
  for (const [i, layer] of spec.layers.entries()) {
    const op = layout.ops[i];
    const inputs = (layer.inputs ?? [previous]).map((n) => values.get(n)!);
    const x = inputs[0];
    const out = (v: Omit<Value, 'shape'> & { shape?: Value['shape'] }): void => void values.set(op.name, { shape: op.shape, ...v });
    previous = op.name;
    switch (layer.type) {
      case 'conv3x3':
      case 'conv': {
        const k = layer.type === 'conv' ? layer.kernel : 3;
        const stride = layer.type === 'conv' ? (layer.stride ?? 1) : 1;
        const same = layer.type === 'conv' && layer.padding === 'same';
        const [c, co] = [x.shape[2], layer.filters];
        let kernel = hwioToOihw(paramOf(ckpt, `${op.name}.kernel`, [k, k, c, co]), k, c, co);
        let bias = Float32Array.from(paramOf(ckpt, `${op.name}.bias`, [co]));
        // a batch norm that reads only this convolution's output folds into its weights and bias
        const next = spec.layers[i + 1];
        const nextOp = layout.ops[i + 1];
        const readers = spec.layers.filter((l, j) => j > i && (l.inputs ?? [j === i + 1 ? op.name : '']).includes(op.name));
        if (next?.type === 'batchnorm' && (next.inputs ?? [op.name])[0] === op.name && readers.length === 1) {
          const gamma = paramOf(ckpt, `${nextOp.name}.gamma`, [co]);
          const beta = paramOf(ckpt, `${nextOp.name}.beta`, [co]);
          const mean = state(`${nextOp.name}.moving_mean`, co);
          const variance = state(`${nextOp.name}.moving_variance`, co);
          const eps = next.epsilon ?? 1e-3;
          kernel = Float32Array.from(kernel);
          for (let o = 0; o < co; o++) {
            const s = gamma[o] / Math.sqrt(variance[o] + eps);
            for (let j = 0; j < c * k * k; j++) kernel[o * c * k * k + j] *= s;
            bias[o] = (bias[o] - mean[o]) * s + beta[o];
          }
          folded.add(i + 1);
        }
        const attrs = [attrInts('kernel_shape', [k, k]), attrInts('strides', [stride, stride])];
        if (same) {
          const pad = (n: number, o: number) => Math.max((o - 1) * stride + k - n, 0);
          const [ph, pw] = [pad(x.shape[0], op.shape[0]), pad(x.shape[1], op.shape[1])];
          attrs.push(attrInts('pads', [Math.floor(ph / 2), Math.floor(pw / 2), ph - Math.floor(ph / 2), pw - Math.floor(pw / 2)]));
        }
        const name = node('Conv', [x.name, weight(`${op.name}.weight`, [co, c, k, k], kernel), weight(`${op.name}.bias`, [co], bias)], op.name, attrs);
        out({ name, spatial: true });
        if (folded.has(i + 1)) values.set(nextOp.name, { ...values.get(op.name)!, shape: nextOp.shape });
        break;
      }
      case 'batchnorm': {
        if (folded.has(i)) break;
        const C = x.shape[2];
        const eps = layer.epsilon ?? 1e-3;
        const name = node(
          'BatchNormalization',
          [x.name, weight(`${op.name}.scale`, [C], paramOf(ckpt, `${op.name}.gamma`, [C])), weight(`${op.name}.B`, [C], paramOf(ckpt, `${op.name}.beta`, [C])), weight(`${op.name}.mean`, [C], state(`${op.name}.moving_mean`, C)), weight(`${op.name}.var`, [C], state(`${op.name}.moving_variance`, C))],
          op.name,
          [{ name: 'epsilon', type: AttrType.FLOAT, f: eps }],
        );
        out({ name, spatial: x.spatial, flattenedFrom: x.flattenedFrom });
        break;
      }
      case 'relu':
        out({ name: node('Relu', [x.name], op.name), spatial: x.spatial, flattenedFrom: x.flattenedFrom });
        break;
      case 'maxpool2x2':
        out({ name: node('MaxPool', [x.name], op.name, [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])]), spatial: true });
        break;
      case 'flatten':
        values.set(op.name, x.spatial ? { ...flat(x, op.name), shape: op.shape } : { ...x, shape: op.shape });
        break;
      case 'globalavgpool':
        out({ name: node('GlobalAveragePool', [x.name], op.name), spatial: true });
        break;
      case 'add': {
        // a 1x1 map and a flat vector hold the same values: flatten the map to add them
        const [a, b] = x.spatial === inputs[1].spatial ? inputs : inputs.map((v) => flat(v, `${v.name}.flat`));
        out({ name: node('Add', [a.name, b.name], op.name), spatial: a.spatial, flattenedFrom: a.flattenedFrom });
        break;
      }
      case 'dense': {
        const v = flat(x, `${x.name}.flat`); // the engine takes a dense layer straight on a 1x1 map
        const c = v.shape[2];
        let kernel = paramOf(ckpt, `${op.name}.kernel`, [c, layer.units]);
        if (v.flattenedFrom) kernel = permuteFlattenRows(kernel, ...v.flattenedFrom, layer.units);
        const w = weight(`${op.name}.weight`, [layer.units, c], transpose(kernel, c, layer.units));
        const name = node('Gemm', [v.name, w, weight(`${op.name}.bias`, [layer.units], paramOf(ckpt, `${op.name}.bias`, [layer.units]))], op.name, [attrInt('transB', 1)]);
        out({ name, spatial: false });
        break;
      }
      case 'dropout':
        values.set(op.name, { ...x, shape: op.shape }); // identity at inference
        break;
      default:
        throw new InputError(`layer ${i} of spec '${spec.name}': type '${(layer as LayerSpec).type}' cannot be exported`);
    }
  }
  const last = values.get(previous)!;
  const logit = flat(last, `${last.name}.flat`).name;
  const K = layout.classes === 2 && !softmax ? 1 : layout.classes;
  const output = softmax ? 'probabilities' : `prob_${classes[1]}`;
  if (tta) {
    const both = node(softmax ? 'Softmax' : 'Sigmoid', [logit], 'scores_with_mirrored', softmax ? [attrInt('axis', 1)] : []);
    const halves = node('Reshape', [both, int64('tta_halves', [2, -1, K])], 'scores_halves');
    node('ReduceMean', [halves], output, [attrInts('axes', [0]), attrInt('keepdims', 0)]);
  } else node(softmax ? 'Softmax' : 'Sigmoid', [logit], output, softmax ? [attrInt('axis', 1)] : []);

  const inputLayout: InputLayout = opts.embedPreprocessing ? 'NHWC' : 'NCHW';
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'engine',
    producerVersion: ENGINE_VERSION,
    docString: softmax
      ? `${spec.name} classifier: class probabilities for classes ${JSON.stringify(classes)}`
      : `${spec.name} binary classifier: P(${classes[1]}) for classes ${JSON.stringify(classes)}`,
    graph: {
      name: spec.name,
      node: nodes,
      initializer,
      input: [inputInfo],
      // The logits are a second output so that evaluation can apply a float32 sigmoid/softmax of its own (see
      // src/eval/session.ts); consumers that only want the probabilities read the first.
      // (a TTA graph has no logit output: the mean of two images' logits is not the logit of their mean score)
      output: [valueInfo(output, FLOAT, [BATCH_DIM, K]), ...(tta ? [] : [valueInfo(logit, FLOAT, [BATCH_DIM, K])])],
    },
    metadataProps: Object.entries(metadataProps(ckpt, inputLayout, output, tta ? undefined : logit, tta)).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}
