// The import rules of src/ (`npm run check:cycles`, run by .ci/run): no cycles, and arrows that point one way,
// from the command line down to the storage and the native engine:
//
//   cli.ts, index.ts -> commands/ -> workflows/ -> train/, eval/, report/, onnx/ -> store/, model/, data/,
//   options/ -> io/, errors.ts, version.ts, native.ts
//   (predict/, demo/, keras/, labels/ are features at the level of workflows/: they use the layers below.)
//
// Type-only imports count: a cycle through types is still two modules that cannot be read apart.
const BASE = '^src/(errors|version|native)\\.ts$|^src/(io|model)/';
const ENTRY = '^src/(cli|index)\\.ts$';
const FEATURES = '^src/(predict|demo|keras|labels)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'modules that import each other, directly or through others',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'base-imports-only-base',
      severity: 'error',
      comment: 'errors, version, native, io/ and model/ are the bottom: they import nothing else of src/',
      from: { path: BASE },
      to: { path: '^src/', pathNot: BASE },
    },
    {
      name: 'options-imports-only-base',
      severity: 'error',
      comment: 'options/ (tables, defaults, checks) sits on the base only, so every layer can resolve its options',
      from: { path: '^src/options/' },
      to: { path: '^src/', pathNot: `${BASE}|^src/options/` },
    },
    {
      name: 'storage-data-onnx-do-not-look-up',
      severity: 'error',
      comment: 'store/, data/ and onnx/ hold files, images and graphs: they never import training, evaluation, reports or anything above',
      from: { path: '^src/(store|data|onnx)/' },
      to: { path: `^src/(train|eval|report|workflows|commands)/|${FEATURES}|${ENTRY}` },
    },
    {
      name: 'onnx-is-pure',
      severity: 'error',
      comment: 'onnx/ builds and reads graphs in memory: no files (the export workflow writes them)',
      from: { path: '^src/onnx/' },
      to: { path: '^src/io/|^src/data/' },
    },
    {
      name: 'store-and-data-apart',
      severity: 'error',
      comment: 'the run folder (store/) and the datasets (data/) do not depend on each other',
      from: { path: '^src/store/' },
      to: { path: '^src/data/' },
    },
    {
      name: 'data-and-store-apart',
      severity: 'error',
      from: { path: '^src/data/' },
      to: { path: '^src/store/' },
    },
    {
      name: 'middle-layer-does-not-look-up',
      severity: 'error',
      comment: 'train/, eval/ and report/ are used by workflows/ and the features, never the reverse',
      from: { path: '^src/(train|eval|report)/' },
      to: { path: `^src/(workflows|commands)/|${FEATURES}|${ENTRY}` },
    },
    {
      name: 'train-is-not-eval-or-report',
      severity: 'error',
      comment: 'training writes no reports and runs no evaluation: workflows/train.ts puts them together',
      from: { path: '^src/train/' },
      to: { path: '^src/(eval|report)/' },
    },
    {
      name: 'eval-is-not-train-or-report',
      severity: 'error',
      from: { path: '^src/eval/' },
      to: { path: '^src/(train|report)/' },
    },
    {
      name: 'report-renders-only',
      severity: 'error',
      comment: "report/ renders figures computed elsewhere: it may read eval's result types and pure metrics, not run a model",
      from: { path: '^src/report/' },
      to: { path: '^src/(train|data|onnx)/|^src/eval/(?!metrics|report)' },
    },
    {
      name: 'features-do-not-look-up',
      severity: 'error',
      from: { path: FEATURES },
      to: { path: `^src/(workflows|commands)/|${ENTRY}` },
    },
    {
      name: 'workflows-serve-the-commands',
      severity: 'error',
      from: { path: '^src/workflows/' },
      to: { path: `^src/commands/|${ENTRY}` },
    },
    {
      name: 'commands-only-from-the-cli',
      severity: 'error',
      comment: 'the yargs commands are the CLI: the library (index.ts) and everything else stay free of them',
      from: { path: '^src/', pathNot: '^src/cli\\.ts$|^src/commands/' },
      to: { path: '^src/commands/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'an import that resolves to nothing would hide a dependency from these rules',
      from: { path: '^src/' },
      to: { couldNotResolve: true, path: '^[.]' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|build|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
