// Library entry: what the CLI does, callable from TypeScript.
export { train, type TrainEvents, type TrainSummary } from './train/train.js';
export { trainEpoch, evaluateSplit, type EpochConfig, type EpochResult } from './train/epoch.js';
export { resolveTrainOptions, TRAIN_DEFAULTS, type TrainOptions, type TrainConfig } from './train/options.js';
export { loadCheckpoint, saveCheckpoint, type Checkpoint, type CheckpointMeta } from './train/checkpoint.js';
export { SEED7, SEED5, MODEL_SPECS, modelSpec, type ModelSpec, type LayerSpec } from './model/spec.js';
export { listSplit, resolveSplitDir, type SplitListing } from './data/discover.js';
export { loadSplit, loadImage150, decodeRGB, resizeNearestPIL, IMAGE_SIZE, type ImageSet } from './data/decode.js';
export { Rng, permutation, drawAugmentation, SEED_AUGMENT } from './data/random.js';
export { native, trainerConfig, type NativeTrainer, type TrainerConfig, type Plan, type PlanStep, type ModelLayout, type Isa } from './native.js';
export { importKeras, type ImportKerasOptions } from './keras/import.js';
export { writeLabels, labelTableText, labelTableNpy, type LabelRow, type LabelFormat } from './labels/labels.js';
export { buildOnnxModel, exportOnnx, readModelMetadata, loadModelInfo, type ExportOptions, type ModelInfo } from './onnx/export.js';
export { writeModelCard, modelCardMarkdown, wilsonInterval, MODEL_CARD_NAME, type WrittenModelCard } from './report/model-card.js';
export { renderHtmlReport, writeHtmlReport, type HtmlReportOptions } from './report/html.js';
export { serveDemo, type DemoServer, type DemoServerOptions } from './demo/serve.js';
export { fetchDataset, readManifest, DEFAULT_DATA_URL, type FetchOptions, type FetchResult } from './data/fetch.js';
export { evaluate, formatReport, resolveTarget, type EvalOptions, type EvalReport, type Misclassified } from './eval/evaluate.js';
export {
  accuracy,
  averagePrecision,
  rankedAveragePrecision,
  binaryMetrics,
  classFigures,
  confusionMatrix,
  predictPositive,
  prCurve,
  rocAuc,
  rocCurve,
  type BinaryMetrics,
  type ClassFigures,
  type Confusion,
  type PrPoint,
  type RocPoint,
} from './eval/metrics.js';
export { loadModel, type LoadedModel, type ModelChoice } from './eval/session.js';
export { newestRunModel } from './eval/model-source.js';
export { predict, type PredictOptions, type Prediction } from './predict/predict.js';
export { EngineError, UsageError, InputError } from './errors.js';
export { ENGINE_VERSION, versions } from './version.js';
export { listDataSplit } from './data/dataset.js';
export { listCelebaSplit, isCelebaLayout } from './data/celeba-layout.js';
export { openTrainingSplit, openCachedSplit, defaultCacheDir, type LoadedSplit, type SplitLoadOptions } from './data/cache.js';
export { memorySource, openNpySource, type ImageSource } from './data/image-store.js';
export { TrainingDiverged } from './train/diverged.js';
export { openResume } from './train/resume.js';
