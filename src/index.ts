// Library entry: what the CLI does, callable from TypeScript.
import { withApiErrors } from './api-errors.js';
import { fetchDataset as fetchDataset_ } from './data/fetch.js';
import { serveDemo as serveDemo_ } from './demo/serve.js';
import { evaluate as evaluate_ } from './eval/evaluate.js';
import { openModel } from './eval/session.js';
import { importKeras as importKeras_ } from './keras/import.js';
import { FETCH_OPTIONS } from './options/data-fetch.js';
import { MODEL_CHOICE_OPTIONS, RUNTIME_OPTIONS } from './options/common.js';
import { EVAL_OPTIONS } from './options/eval.js';
import { EXPORT_OPTIONS } from './options/export.js';
import { IMPORT_KERAS_OPTIONS } from './options/import-keras.js';
import { PREDICT_OPTIONS } from './options/predict.js';
import { SERVE_DEMO_OPTIONS } from './options/serve-demo.js';
import { TRAIN_OPTIONS } from './options/train.js';
import { predict as predict_ } from './predict/predict.js';
import { exportOnnx as exportOnnx_ } from './workflows/export.js';
import { runTraining as runTraining_, train as train_ } from './workflows/train.js';

// What a library call refuses names its options as the call spells them (options.batchSize, not --batch-size).
export const train = withApiErrors(train_, TRAIN_OPTIONS);
export const runTraining = withApiErrors(runTraining_, TRAIN_OPTIONS);
export const evaluate = withApiErrors(evaluate_, EVAL_OPTIONS);
export const predict = withApiErrors(predict_, PREDICT_OPTIONS);
/** Opens a model once (an .onnx file, a checkpoint exported in memory, or the newest run's) for many evaluate/predict calls; close() it. */
export const loadModel = withApiErrors(openModel, [...MODEL_CHOICE_OPTIONS, ...RUNTIME_OPTIONS]);
export const exportOnnx = withApiErrors(exportOnnx_, EXPORT_OPTIONS);
export const importKeras = withApiErrors(importKeras_, IMPORT_KERAS_OPTIONS);
export const fetchDataset = withApiErrors(fetchDataset_, FETCH_OPTIONS);
export const serveDemo = withApiErrors(serveDemo_, SERVE_DEMO_OPTIONS);
export { type TrainEvents, type TrainSummary } from './workflows/train.js';
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
export { type ImportKerasOptions } from './keras/import.js';
export { writeLabels, labelTableText, labelTableNpy, labelColumn, type LabelRow, type LabelFormat } from './labels/labels.js';
export { buildOnnxModel } from './onnx/graph.js';
export { readModelMetadata, type ModelInfo } from './onnx/model-info.js';
export { type ExportOptions } from './workflows/export.js';
export { modelCardMarkdown, MODEL_CARD_NAME, type ModelCardInput } from './report/model-card.js';
export { writeModelCard, type WrittenModelCard } from './workflows/model-card.js';
export { renderHtmlReport, writeHtmlReport, type HtmlReportOptions } from './report/html.js';
export { writeRunHtmlReport } from './workflows/run-report.js';
export { type DemoServer, type DemoServerOptions } from './demo/serve.js';
export { readManifest, type FetchOptions, type FetchResult } from './data/fetch.js';
export { DEFAULT_DATA_URL } from './options/data-fetch.js';
export { formatReport, resolveTarget, type EvalOptions, type EvalReport, type Misclassified } from './eval/evaluate.js';
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
export { scoreFiles, sigmoidFloat32, softmaxFloat32, type LoadedModel, type ModelChoice } from './eval/session.js';
export { newestRunModel, loadModelInfo } from './eval/model-source.js';
export { type PredictOptions, type Prediction } from './predict/predict.js';
export { EngineError, UsageError, InputError } from './errors.js';
export { ENGINE_VERSION, versions } from './version.js';
export { listDataSplit } from './data/dataset.js';
export { listCelebaSplit, isCelebaLayout } from './data/celeba-layout.js';
export { openTrainingSplit, openCachedSplit, defaultCacheDir, type LoadedSplit, type SplitLoadOptions } from './data/cache.js';
export { memorySource, openNpySource, type ImageSource } from './data/image-store.js';
export { TrainingDiverged } from './train/diverged.js';
export { openResume } from './train/resume.js';
