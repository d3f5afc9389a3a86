// Model specs are data: the native engine builds a graph of ops from such a list (native/model/graph.h). A layer
// reads the layer before it, or the layers its `inputs` name ('input' is the image), so a sequential list is the
// common case and a residual block names its shortcut.
import { UsageError } from '../errors.js';

export type LayerSpec = (
  | { type: 'conv3x3'; filters: number }
  /** a convolution of any odd kernel size, stride and padding ('same': the output is ceil(input / stride)) */
  | { type: 'conv'; filters: number; kernel: number; stride?: number; padding?: 'valid' | 'same' }
  | { type: 'relu' }
  | { type: 'maxpool2x2' }
  | { type: 'flatten' }
  | { type: 'dense'; units: number }
  | { type: 'dropout'; rate: number }
  /** the mean over the pixels of each channel: [h, w, c] -> [1, 1, c] */
  | { type: 'globalavgpool' }
  /** the sum of its two inputs, of the same shape (a residual connection) */
  | { type: 'add' }
  /** batch normalisation per channel (statistics of the batch in training, running ones at inference) */
  | { type: 'batchnorm'; momentum?: number; epsilon?: number }
) & {
  /** unique; default <kind><n> counted per kind (conv1, dense2, bn1, pool3, gap1, add1, relu4, ...) */
  name?: string;
  /** the layers it reads ('input': the image); default the layer before it */
  inputs?: string[];
};

export interface ModelSpec {
  name: string;
  /** input image [height, width, channels], channels-last */
  input: [number, number, number];
  layers: LayerSpec[];
  /** sigmoid (default): the last layer is one logit, P(class 1); softmax: one logit per class */
  head?: 'sigmoid' | 'softmax';
}

const convBlock = (filters: number): LayerSpec[] => [{ type: 'conv3x3', filters }, { type: 'relu' }, { type: 'maxpool2x2' }];

const head: LayerSpec[] = [
  { type: 'flatten' },
  { type: 'dense', units: 64 },
  { type: 'relu' },
  { type: 'dropout', rate: 0.5 },
  { type: 'dense', units: 1 },
];

/** The seed's 7-layer CNN (SPEC §1): 5 conv blocks and 2 dense layers, 91,329 parameters. */
export const SEED7: ModelSpec = {
  name: 'seed7',
  input: [150, 150, 3],
  layers: [...convBlock(32), ...convBlock(32), ...convBlock(32), ...convBlock(64), ...convBlock(64), ...head],
};

/** The seed's earlier 5-layer net: 3 conv blocks of 32 filters and the same head (its size is an assumption). */
export const SEED5: ModelSpec = {
  name: 'seed5',
  input: [150, 150, 3],
  layers: [...convBlock(32), ...convBlock(32), ...convBlock(64), ...head],
};

export const MODEL_SPECS: Record<string, ModelSpec> = { seed7: SEED7, seed5: SEED5 };

export function modelSpec(name: string): ModelSpec {
  // Own keys only: 'toString' or '__proto__' are properties of every object, not models.
  const spec = typeof name === 'string' && Object.hasOwn(MODEL_SPECS, name) ? MODEL_SPECS[name] : undefined;
  if (!spec) throw new UsageError(`unknown model '${name}': expected one of ${Object.keys(MODEL_SPECS).join(', ')}`);
  return spec;
}
