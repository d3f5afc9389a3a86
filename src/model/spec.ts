// Model specs are data: the native engine builds any sequential binary classifier from such a list.
import { UsageError } from '../errors.js';

export type LayerSpec =
  | { type: 'conv3x3'; filters: number }
  | { type: 'relu' }
  | { type: 'maxpool2x2' }
  | { type: 'flatten' }
  | { type: 'dense'; units: number }
  | { type: 'dropout'; rate: number };

export interface ModelSpec {
  name: string;
  /** input image [height, width, channels], channels-last */
  input: [number, number, number];
  layers: LayerSpec[];
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
