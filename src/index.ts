// Library entry: what the CLI does, callable from TypeScript.
export { train, type TrainEvents, type TrainSummary } from './train/train.js';
export { trainEpoch, evaluateSplit, type EpochConfig, type EpochResult } from './train/epoch.js';
export { resolveTrainOptions, TRAIN_DEFAULTS, type TrainOptions, type TrainConfig } from './train/options.js';
export { loadCheckpoint, saveCheckpoint, type Checkpoint, type CheckpointMeta } from './train/checkpoint.js';
export { SEED7, SEED5, MODEL_SPECS, modelSpec, type ModelSpec, type LayerSpec } from './model/spec.js';
export { listSplit, resolveSplitDir, type SplitListing } from './data/discover.js';
export { loadSplit, loadImage150, decodeRGB, resizeNearestPIL, IMAGE_SIZE, type ImageSet } from './data/decode.js';
export { Rng, permutation, drawAugmentation, SEED_AUGMENT } from './data/random.js';
export { native, type NativeTrainer, type TrainerOptions, type Isa } from './native.js';
export { EngineError, UsageError, InputError } from './errors.js';
export { ENGINE_VERSION, versions } from './version.js';
