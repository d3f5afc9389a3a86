// An exported model's interface, read back from its ONNX bytes: the graph's input and outputs and the
// metadata_props that graph.ts writes (classes, input size, layout, resize rule, scaling), checked as something
// `eval`, `predict` and the demo can feed. Read with the wire reader (wire.ts), not onnx-proto: the weights are
// skipped, not decoded, and the commands that only run a model start without protobufjs.
import { InputError } from '../errors.js';
import { wireFields, wireString } from './wire.js';

export type Dim = number | string;
/** The symbolic batch dimension of every exported input and output. */
export const BATCH_DIM = 'N';

export type InputLayout = 'NCHW' | 'NHWC';
export type InputDtype = 'float32' | 'uint8';

export type ModelHead = 'sigmoid' | 'softmax';

export interface ModelInfo {
  /** class names, index = label: 2 for a sigmoid head (its output is P(classes[1])), 2 or more for a softmax head */
  classes: string[];
  /** 'sigmoid': one output column, P(classes[1]); 'softmax': one column per class (models without the key: sigmoid) */
  head: ModelHead;
  inputName: string;
  outputName: string;
  /** the pre-sigmoid/pre-softmax output, when the model has one (engine exports do) */
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
  /** the resize rule: 'pil-nearest', 'bilinear' or 'none' (see model/spec.ts) */
  resize: string;
  metadata: Record<string, string>;
  opset: number;
  irVersion: number;
}

/** The most classes a model may have: labels are bytes (src/data lists at most 256 class folders). */
export const MAX_CLASSES = 256;

const REQUIRED_KEYS = ['classes', 'input_height', 'input_width', 'input_channels', 'input_layout', 'input_dtype', 'scale', 'resize', 'output'] as const;

// ONNX's TensorProto.DataType numbers, for messages.
const DATA_TYPES = ['UNDEFINED', 'FLOAT', 'UINT8', 'INT8', 'UINT16', 'INT16', 'INT32', 'INT64', 'STRING', 'BOOL', 'FLOAT16', 'DOUBLE', 'UINT32', 'UINT64', 'COMPLEX64', 'COMPLEX128', 'BFLOAT16'];
const FLOAT = 1;
const UINT8 = 2;

/** A graph input's or output's name, element type and shape (a dim_param as its name, else dim_value; 0 when neither). */
interface ValueInfo {
  name: string;
  elemType: number;
  dims: Dim[];
}

/** What readModelMetadata reads of a ModelProto (field numbers from onnx.proto). */
interface ModelFields {
  irVersion: number;
  /** the default domain's opset version (0 when absent) */
  opset: number;
  meta: Record<string, string>;
  graph?: { nodes: number; initializers: Set<string>; input: ValueInfo[]; output: ValueInfo[] };
}

/** A TensorShapeProto's dims: each Dimension's dim_param (field 2) if set, else its dim_value (field 1). */
function readDims(shape: Uint8Array): Dim[] {
  const dims: Dim[] = [];
  for (const d of wireFields(shape)) {
    if (d.field !== 1 || !d.bytes) continue;
    let value = 0;
    let param = '';
    for (const x of wireFields(d.bytes)) {
      if (x.field === 1 && x.varint !== undefined) value = x.varint;
      else if (x.field === 2 && x.bytes) param = wireString(x.bytes);
    }
    dims.push(param ? param : value);
  }
  return dims;
}

/** A ValueInfoProto: name (1) and type (2), a TypeProto whose tensor_type (1) holds elem_type (1) and shape (2). */
function readValueInfo(bytes: Uint8Array): ValueInfo {
  const v: ValueInfo = { name: '', elemType: 0, dims: [] };
  for (const f of wireFields(bytes)) {
    if (f.field === 1 && f.bytes) v.name = wireString(f.bytes);
    if (f.field !== 2 || !f.bytes) continue;
    for (const t of wireFields(f.bytes)) {
      if (t.field !== 1 || !t.bytes) continue;
      v.dims = [];
      for (const e of wireFields(t.bytes)) {
        if (e.field === 1 && e.varint !== undefined) v.elemType = e.varint;
        else if (e.field === 2 && e.bytes) v.dims = readDims(e.bytes);
      }
    }
  }
  return v;
}

function readGraph(bytes: Uint8Array): NonNullable<ModelFields['graph']> {
  const graph = { nodes: 0, initializers: new Set<string>(), input: [] as ValueInfo[], output: [] as ValueInfo[] };
  for (const f of wireFields(bytes)) {
    if (!f.bytes) continue;
    if (f.field === 1) graph.nodes++;
    else if (f.field === 5) {
      // an initializer (TensorProto): only its name (field 8) is needed
      for (const t of wireFields(f.bytes)) if (t.field === 8 && t.bytes) graph.initializers.add(wireString(t.bytes));
    } else if (f.field === 11) graph.input.push(readValueInfo(f.bytes));
    else if (f.field === 12) graph.output.push(readValueInfo(f.bytes));
  }
  return graph;
}

function readModelFields(bytes: Uint8Array): ModelFields {
  const model: ModelFields = { irVersion: 0, opset: 0, meta: {} };
  for (const f of wireFields(bytes)) {
    if (f.field === 1 && f.varint !== undefined) model.irVersion = f.varint;
    else if (f.field === 7 && f.bytes) model.graph = readGraph(f.bytes);
    else if (f.field === 8 && f.bytes) {
      // opset_import: {domain: 1, version: 2}; the default domain is '' or 'ai.onnx'
      let domain = '';
      let version = 0;
      for (const o of wireFields(f.bytes)) {
        if (o.field === 1 && o.bytes) domain = wireString(o.bytes);
        else if (o.field === 2 && o.varint !== undefined) version = o.varint;
      }
      if ((domain === '' || domain === 'ai.onnx') && model.opset === 0) model.opset = version;
    } else if (f.field === 14 && f.bytes) {
      // metadata_props: {key: 1, value: 2}
      let key = '';
      let value = '';
      for (const e of wireFields(f.bytes)) {
        if (e.field === 1 && e.bytes) key = wireString(e.bytes);
        else if (e.field === 2 && e.bytes) value = wireString(e.bytes);
      }
      model.meta[key] = value;
    }
  }
  return model;
}

function positiveInt(file: string, meta: Record<string, string>, key: string): number {
  const n = Number(meta[key]);
  if (!/^\d+$/.test(meta[key]) || n < 1) throw new InputError(`${file}: metadata '${key}' is '${meta[key]}', expected a positive whole number`);
  return n;
}

/** Reads and checks an exported model's interface. Every problem is an InputError naming `file`. */
export function readModelMetadata(bytes: Uint8Array, file = '<model>'): ModelInfo {
  let model: ModelFields;
  try {
    model = readModelFields(bytes);
  } catch (err) {
    throw new InputError(`${file}: not an ONNX model (${(err as Error).message})`);
  }
  const { graph, meta } = model;
  if (!graph || graph.nodes === 0 || graph.output.length === 0)
    throw new InputError(`${file}: not an ONNX model (no graph with nodes and outputs)`);

  const missing = REQUIRED_KEYS.filter((k) => typeof meta[k] !== 'string');
  if (missing.length > 0)
    throw new InputError(`${file}: not an engine model: metadata_props lacks ${missing.join(', ')} (expected keys ${REQUIRED_KEYS.join(', ')})`);

  let classes: unknown;
  try {
    classes = JSON.parse(meta.classes);
  } catch {
    classes = null;
  }
  const head = meta.head ?? 'sigmoid';
  if (head !== 'sigmoid' && head !== 'softmax') throw new InputError(`${file}: metadata 'head' is '${head}', expected sigmoid or softmax`);
  const count = head === 'sigmoid' ? '2' : `2 to ${MAX_CLASSES}`;
  if (
    !Array.isArray(classes) ||
    classes.length < 2 ||
    classes.length > (head === 'sigmoid' ? 2 : MAX_CLASSES) ||
    !classes.every((s) => typeof s === 'string' && s !== '') ||
    new Set(classes).size !== classes.length
  )
    throw new InputError(`${file}: metadata 'classes' is ${meta.classes}, expected a JSON array of ${count} distinct class names (${head} head)`);
  const height = positiveInt(file, meta, 'input_height');
  const width = positiveInt(file, meta, 'input_width');
  const channels = positiveInt(file, meta, 'input_channels');
  const layout = meta.input_layout;
  if (layout !== 'NCHW' && layout !== 'NHWC') throw new InputError(`${file}: metadata 'input_layout' is '${layout}', expected NCHW or NHWC`);
  const dtype = meta.input_dtype;
  if (dtype !== 'float32' && dtype !== 'uint8') throw new InputError(`${file}: metadata 'input_dtype' is '${dtype}', expected float32 or uint8`);
  const scale = Number(meta.scale);
  // the pixels are multiplied by float32(scale): it must be a positive float32 (0 < scale <= float32's max)
  if (!(Number.isFinite(Math.fround(scale)) && Math.fround(scale) > 0))
    throw new InputError(`${file}: metadata 'scale' is '${meta.scale}', expected a positive number within float32's range`);

  const inputs = graph.input.filter((v) => !graph.initializers.has(v.name));
  if (inputs.length !== 1) throw new InputError(`${file}: expected 1 graph input, found ${inputs.length}`);
  const input = inputs[0];
  const shape = input.dims;
  const expected: Dim[] = layout === 'NCHW' ? [BATCH_DIM, channels, height, width] : [BATCH_DIM, height, width, channels];
  const fits = shape.length === 4 && shape.every((d, i) => (i === 0 ? typeof d === 'string' || d >= 1 : d === expected[i]));
  if (!fits) throw new InputError(`${file}: input '${input.name}' has shape [${shape}], expected [${expected}] (${layout}, from the metadata)`);
  const elem = input.elemType;
  if (elem !== (dtype === 'uint8' ? UINT8 : FLOAT))
    throw new InputError(`${file}: input '${input.name}' has element type ${DATA_TYPES[elem] ?? elem}, metadata says ${dtype}`);

  const output = graph.output.find((o) => o.name === meta.output);
  if (!output) throw new InputError(`${file}: metadata 'output' names '${meta.output}', but the graph's outputs are ${graph.output.map((o) => o.name).join(', ')}`);
  const logit = meta.logit_output ? graph.output.find((o) => o.name === meta.logit_output) : undefined;
  if (meta.logit_output && !logit)
    throw new InputError(`${file}: metadata 'logit_output' names '${meta.logit_output}', but the graph's outputs are ${graph.output.map((o) => o.name).join(', ')}`);
  // a sigmoid head outputs [N, 1], a softmax head [N, K]; a symbolic size is taken on trust
  const columns = head === 'sigmoid' ? 1 : classes.length;
  for (const v of logit ? [output, logit] : [output]) {
    const dims = v.dims;
    if (dims.length !== 2 || (typeof dims[1] === 'number' && dims[1] !== columns))
      throw new InputError(`${file}: output '${v.name}' has shape [${dims}], expected [N,${columns}] (${head} head, ${classes.length} classes)`);
  }

  return {
    classes: classes as string[],
    head,
    inputName: input.name,
    outputName: output.name,
    logitName: logit?.name,
    inputShape: shape,
    outputShape: output.dims,
    height,
    width,
    channels,
    layout,
    dtype,
    scale,
    resize: meta.resize,
    metadata: meta,
    opset: model.opset,
    irVersion: model.irVersion,
  };
}
