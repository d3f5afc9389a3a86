// `engine import keras`: the seed's Keras 2.1.5 HDF5 files -> an engine checkpoint (weights only).
//
// Two kinds of file: `model.save_weights()` writes the layers at the root (attribute layer_names, one group per
// layer with attribute weight_names, datasets `<layer>/<layer>/kernel:0` and `bias:0`); `model.save()` writes
// the same under /model_weights, plus the architecture as JSON in the root attribute model_config.
//
// No transposition is needed: Keras stores conv kernels as (kh, kw, in, out) and dense kernels as (in, out),
// and its channels-last Flatten walks H, W, C; the engine uses exactly these layouts (native/kernels_ref.h).
// So the i-th Keras layer with weights copies straight into the i-th engine layer, and equal shapes are the
// check. A weights-only file does not record data_format; a channels_first model would have the same shapes
// but another flatten order, which only the model_config check (--model-h5) can rule out.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { integerIn } from '../options/checks.js';
import { InputError, UsageError } from '../errors.js';
import { checkOutputFile, describeWriteError, makeOutputFolder, refuseInputsAsOutputs } from '../io/output.js';
import { SEED7 } from '../model/spec.js';
import { native, type ParamEntry } from '../native.js';
import { saveCheckpoint, type Checkpoint } from '../store/checkpoint.js';
import { describeSpec, specFromModelConfig } from './config.js';
import { childDataset, childGroup, hdf5Reason, openHdf5, stringAttr, stringsAttr, type Group } from './hdf5.js';

export interface ImportKerasOptions {
  /** a save_weights() file (a model.save() file works too); may be left out when modelH5 is given */
  weights?: string;
  /** a model.save() file: its architecture must be seed7; its weights are used unless `weights` is given */
  modelH5?: string;
  /** default: `<weights file name without .h5>.safetensors` in the current directory (or in `out`, a folder) */
  out?: string;
  /**
   * the epoch the weights are from; default: N for the seed's own file names `weights<N>.h5`, else unknown
   * (recorded as such: the checkpoint, its ONNX export and model card say "epoch unknown")
   */
  epoch?: number;
}

const WEIGHTS_FILE = "a Keras weights file written by save_weights() or save()";
const MODEL_FILE = 'a Keras model file written by model.save()';
const CLASSES = ['man', 'woman'];

/** The engine's parameters grouped per layer, in model order: [[conv1.kernel, conv1.bias], ...]. */
function engineLayers(): { layout: ParamEntry[]; layers: ParamEntry[][] } {
  const layout = native.layout(SEED7).params;
  const layers = new Map<string, ParamEntry[]>();
  for (const p of layout) {
    const layer = p.name.split('.')[0];
    layers.set(layer, [...(layers.get(layer) ?? []), p]);
  }
  return { layout, layers: [...layers.values()] };
}

const shapeText = (shape: readonly number[] | null): string => `[${(shape ?? []).join(',')}]`;

/** Copies the Keras layers with weights, in file order, into the engine's parameter vector. */
function readWeights(file: string, root: Group, layout: ParamEntry[], layers: ParamEntry[][]): Float32Array {
  const names = stringsAttr(root, 'layer_names');
  if (!names) throw new InputError(`${file}: not a Keras weights file (no layer_names attribute; expected ${WEIGHTS_FILE})`);
  const weighted: { layer: string; group: Group; weights: string[] }[] = [];
  for (const layer of names) {
    const group = childGroup(root, layer);
    const weights = group && stringsAttr(group, 'weight_names');
    if (!group || !weights) throw new InputError(`${file}: layer '${layer}' is listed but has no group with weight_names (a damaged Keras file?)`);
    if (weights.length > 0) weighted.push({ layer, group, weights });
  }
  if (weighted.length !== layers.length)
    throw new InputError(
      `${file}: expected ${layers.length} layers with weights (seed7: 5 Conv2D, 2 Dense), found ${weighted.length}` +
        (weighted.length ? `: ${weighted.map((w) => w.layer).join(', ')}` : '') +
        ' (weights of another model?)',
    );

  const params = new Float32Array(layout.reduce((s, p) => s + p.size, 0));
  weighted.forEach(({ layer, group, weights }, i) => {
    const expected = layers[i];
    if (weights.length !== expected.length)
      throw new InputError(`${file}: layer '${layer}' has ${weights.length} weights (${weights.join(', ')}), seed7's ${expected[0].name.split('.')[0]} has ${expected.length} (kernel, bias)`);
    weights.forEach((weight, j) => {
      const entry = expected[j];
      const dataset = childDataset(group, weight);
      if (!dataset) throw new InputError(`${file}: weight '${layer}/${weight}' is listed but missing`);
      if (shapeText(dataset.shape) !== shapeText(entry.shape))
        throw new InputError(`${file}: weight '${weight}' has shape ${shapeText(dataset.shape)}, seed7's ${entry.name} expects ${shapeText(entry.shape)} (weights of another model?)`);
      const value = dataset.value;
      if (!(value instanceof Float32Array || value instanceof Float64Array))
        throw new InputError(`${file}: weight '${weight}' is not floating point (dtype ${JSON.stringify(dataset.dtype)})`);
      params.set(value, entry.offset); // a float64 file rounds to float32 here
      const bad = params.subarray(entry.offset, entry.offset + entry.size).findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) throw new InputError(`${file}: weight '${layer}/${weight}' holds ${params[entry.offset + bad]} at element ${bad}: not usable weights`);
    });
  });
  return params;
}

/** Checks that a model.save() file holds the seed7 architecture. */
function checkArchitecture(file: string, root: Group): void {
  const json = stringAttr(root, 'model_config');
  if (json === undefined)
    throw new InputError(`${file}: no model_config attribute (expected ${MODEL_FILE}; a weights-only file goes as the positional argument)`);
  let found;
  try {
    found = specFromModelConfig(json, 'keras');
  } catch (err) {
    throw new InputError(`${file}: unsupported architecture: ${(err as Error).message}`);
  }
  const expected = describeSpec(SEED7);
  if (describeSpec(found) !== expected)
    throw new InputError(`${file}: the architecture is not seed7: expected ${expected}, found ${describeSpec(found)}`);
}

/** Runs `read` on the open file; HDF5 errors while reading (a damaged file) become InputErrors naming it. */
async function withHdf5<T>(file: string, expected: string, read: (root: Group) => T): Promise<T> {
  const h5 = await openHdf5(file, expected);
  try {
    return read(h5);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${file}: cannot read: ${hdf5Reason(err)} (expected ${expected})`);
  } finally {
    h5.close();
  }
}

const stem = (file: string): string => path.basename(file).replace(/\.(h5|hdf5|keras)$/i, '');

/**
 * "weights70.h5" -> 70: the seed's training script saved its checkpoints as weights<epoch>.h5 (the seed ships
 * weights70.h5). Any other name says nothing reliable about the epoch ("myweights_v2.h5" is not epoch 2): undefined.
 */
export function epochFromName(file: string): number | undefined {
  const match = /^weights(\d{1,6})\.h5$/.exec(path.basename(file));
  return match ? Number(match[1]) : undefined;
}

/** Imports the weights; `source` is the weights file read (the checkpoint records only its name). */
export async function importKeras(opts: ImportKerasOptions): Promise<{ file: string; source: string; checkpoint: Checkpoint }> {
  if (opts.weights === undefined && opts.modelH5 === undefined) throw new UsageError('import keras: name a weights file (or --model-h5)');
  if (opts.epoch !== undefined) integerIn('epoch', opts.epoch, 0, 1_000_000);
  const modelFile = opts.modelH5 === undefined ? undefined : path.resolve(opts.modelH5);
  const source = path.resolve(opts.weights ?? opts.modelH5!);

  // Where the checkpoint goes, checked before anything is read: it must not replace one of the inputs.
  const name = `${stem(source)}.safetensors`;
  const outIsDir = opts.out !== undefined && (await fs.stat(opts.out).catch(() => null))?.isDirectory();
  const file = path.resolve(opts.out === undefined ? name : outIsDir ? path.join(opts.out, name) : opts.out);
  const shown = opts.out !== undefined && !outIsDir ? opts.out : file; // messages name the path as typed
  await checkOutputFile('--out', shown);
  await refuseInputsAsOutputs(
    [{ name: opts.out === undefined ? 'the checkpoint to write' : '--out', file: shown }],
    [
      { name: 'the weights file', file: source },
      ...(modelFile ? [{ name: '--model-h5', file: modelFile }] : []),
    ],
  );

  if (modelFile) await withHdf5(modelFile, MODEL_FILE, (root) => checkArchitecture(modelFile, root));

  const { layout, layers } = engineLayers();
  const { params, attrs } = await withHdf5(source, WEIGHTS_FILE, (root) => {
    // A model.save() file keeps its weights (and a copy of the version attributes) under /model_weights.
    const weights = childGroup(root, 'model_weights') ?? root;
    const attr = (name: string) => stringAttr(weights, name) ?? stringAttr(root, name);
    return {
      params: readWeights(source, weights, layout, layers),
      attrs: { keras_version: attr('keras_version'), backend: attr('backend') },
    };
  });

  const checkpoint: Checkpoint = {
    meta: {
      spec: SEED7,
      // file names only: a checkpoint (and the model and card made from it) records no path of this machine
      config: { source: 'keras', file: path.basename(source), ...attrs, ...(modelFile && modelFile !== source ? { model_file: path.basename(modelFile) } : {}) },
      classes: CLASSES,
      epoch: opts.epoch ?? epochFromName(source),
      step: 0,
    },
    layout,
    params,
  };
  // a missing folder is created, as --annotate's and export's are
  await makeOutputFolder('--out', path.dirname(file));
  try {
    await saveCheckpoint(file, checkpoint);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'its folder does not exist' : describeWriteError(err);
    throw new InputError(`cannot write ${file}: ${reason} (choose another path with --out)`);
  }
  return { file, source, checkpoint };
}
