// Library entry: what the CLI does, callable from TypeScript.
export { train, runTraining, type TrainEvents, type TrainSummary } from './workflows/train.js';
export { trainEpoch, evaluateSplit, type EpochConfig, type EpochResult } from './train/epoch.js';
export { resolveTrainOptions, resolveArch, TRAIN_DEFAULTS, TRAIN_OPTIONS, type TrainOptions, type TrainConfig, type RecipeSources, type ValChoice } from './options/train.js';
export type { OptionSpec, OptionTable } from './options/table.js';
export { loadCheckpoint, saveCheckpoint, type Checkpoint, type CheckpointMeta } from './store/checkpoint.js';
export {
  SEED7,
  SEED5,
  FMNIST_CNN,
  MODEL_SPECS,
  PRESETS,
  SEED_RECIPE,
  RESIZE_RULES,
  modelSpec,
  trainingSpec,
  type ModelSpec,
  type LayerSpec,
  type Preset,
  type Recipe,
  type ResizeRule,
  type Head,
} from './model/spec.js';
export type { EpochFigures } from './store/history.js';
export { listSplit, resolveSplitDir, type SplitListing } from './data/discover.js';
export { loadSplit, loadImage150, loadImageFor, decodeRGB, resizeNearestPIL, IMAGE_SIZE, type ImageSet } from './data/decode.js';
export { preprocessOf, fitToInput, resizeBilinearPIL, rgbToGreyPIL, SEED_PREPROCESS, type Preprocess, type RawImage } from './data/preprocess.js';
export {
  readDataSplit,
  listTrainingSplits,
  datasetKind,
  hasDataSplit,
  validationOf,
  describeValidation,
  holdoutRows,
  type DatasetKind,
  type SplitData,
  type Validation,
} from './data/dataset.js';
export { openIdxDataset, isIdxDataset, FASHION_MNIST_CLASSES, MNIST_CLASSES, IDX_FILES, type IdxDataset } from './data/idx.js';
export { Rng, permutation, drawAugmentation, SEED_AUGMENT } from './data/random.js';
export { native, trainerConfig, type NativeTrainer, type TrainerConfig, type Plan, type PlanStep, type ModelLayout, type Isa } from './native.js';
export { importKeras, type ImportKerasOptions } from './keras/import.js';
export { writeLabels, labelTableText, labelTableNpy, labelColumn, type LabelRow, type LabelFormat } from './labels/labels.js';
export { buildOnnxModel, readModelMetadata, type ModelInfo } from './onnx/graph.js';
export { exportOnnx, type ExportOptions } from './workflows/export.js';
export { modelCardMarkdown, MODEL_CARD_NAME, type ModelCardInput } from './report/model-card.js';
export { writeModelCard, type WrittenModelCard } from './workflows/model-card.js';
export { renderHtmlReport, writeHtmlReport, type HtmlReportOptions } from './report/html.js';
export { writeRunHtmlReport } from './workflows/run-report.js';
export { serveDemo, type DemoServer, type DemoServerOptions } from './demo/serve.js';
export { fetchDataset, readManifest, type FetchOptions, type FetchResult } from './data/fetch.js';
export { DEFAULT_DATA_URL } from './options/data-fetch.js';
export { evaluate, formatReport, resolveTarget, type EvalOptions, type EvalReport, type Misclassified } from './eval/evaluate.js';
export {
  accuracy,
  averagePrecision,
  rankedAveragePrecision,
  classFigures,
  confusionMatrix,
  predictPositive,
  prCurve,
  rocAuc,
  rocCurve,
  wilsonInterval,
  type ClassFigures,
  type Confusion,
  type PrPoint,
  type RocPoint,
} from './eval/metrics.js';
export {
  binaryMetrics,
  classificationMetrics,
  predictClasses,
  topKCorrect,
  type ClassificationMetrics,
  type ClassScores,
  type ConfusionMatrix,
  type ConfusedPair,
  type TopK,
} from './eval/class-metrics.js';
export { openModel as loadModel, scoreFiles, sigmoidFloat32, softmaxFloat32, type LoadedModel, type ModelChoice } from './eval/session.js';
export { newestRunModel, loadModelInfo } from './eval/model-source.js';
export { predict, type PredictOptions, type Prediction } from './predict/predict.js';
export { EngineError, UsageError, InputError } from './errors.js';
export { ENGINE_VERSION, versions } from './version.js';
export { listDataSplit } from './data/dataset.js';
export { listCelebaSplit, isCelebaLayout } from './data/celeba-layout.js';
export { openTrainingSplit, openCachedSplit, defaultCacheDir, type LoadedSplit, type SplitLoadOptions } from './data/cache.js';
export { memorySource, openNpySource, type ImageSource } from './data/image-store.js';
export { TrainingDiverged } from './train/diverged.js';
export { openResume } from './train/resume.js';
