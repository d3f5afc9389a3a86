// `engine cv`: K-fold cross-validation of a recipe; a line per fold, then mean ± std of accuracy, macro AP and
// ROC AUC (or, with --json, the summary as JSON on stdout).
import type { Argv } from 'yargs';
import { createProgress } from '../report/progress.js';
import { CV_OPTIONS, resolveCvOptions, type CvOptions } from '../options/cv.js';
import type { CvSummary, FoldResult, MeanStd } from '../workflows/cv.js';
import { addOptions, readFlags } from './flags.js';

const pct = (x: number) => (x * 100).toFixed(2);
const figure = (m: MeanStd, scale: (x: number) => string) => `${scale(m.mean)} ± ${scale(m.std)}`;
const four = (x: number) => x.toFixed(4);

export const foldLine = (r: FoldResult) =>
  `fold ${r.fold} (seed ${r.seed}): accuracy ${pct(r.accuracy)}% (${Math.round(r.accuracy * r.images)}/${r.images}) macro AP ${four(r.macroAP)} ROC AUC ${four(r.rocAuc)} ` +
  `(${r.epochs} epochs, ${r.seconds.toFixed(1)} s)`;

export function cvTable(s: CvSummary): string {
  const lines = [
    `${s.config.folds}-fold cross-validation of ${typeof s.config.train.arch === 'string' ? s.config.train.arch : s.config.train.arch.name} on ${s.images} images` +
      `${s.config.seeds.length > 1 ? `, seeds ${s.config.seeds.join(', ')}` : `, seed ${s.config.seeds[0]}`}${s.config.tta === 'flip' ? ', TTA flip' : ''} (mean ± std over ${s.results.length} models):`,
    `  accuracy  ${figure(s.accuracy, pct)} %`,
    `  macro AP  ${figure(s.macroAP, four)}`,
    `  ROC AUC   ${figure(s.rocAuc, four)}`,
  ];
  if (s.perSeed.length > 1) for (const p of s.perSeed) lines.push(`  seed ${p.seed}: accuracy ${pct(p.accuracy)}% macro AP ${four(p.macroAP)} ROC AUC ${four(p.rocAuc)}`);
  lines.push(`wrote ${s.dir}/cv.json (${s.seconds.toFixed(1)} s)`);
  return lines.join('\n') + '\n';
}

export function cvCommand(yargs: Argv) {
  return yargs.command(
    'cv',
    "K-fold cross-validation of a recipe on the data's train and val images: mean and std of accuracy, macro AP, ROC AUC",
    (y) => addOptions(y, CV_OPTIONS),
    async (argv) => {
      const { quiet, json, fetch, gpu, ...rest } = readFlags<CvOptions & { quiet: boolean; json: boolean; fetch: boolean; gpu?: boolean }>(CV_OPTIONS, argv);
      const options: CvOptions = { ...rest, ...(gpu ? { device: 'cuda' } : {}) };
      const human = json ? process.stderr : process.stdout;
      const progress = createProgress({ stream: human, quiet });
      const onLog = (line: string) => progress.log(line);
      // (checked before ./data is fetched, so a typo in a flag never downloads anything)
      const config = resolveCvOptions(options);
      // loaded when run: --help and the other commands start without the addon, onnxruntime and libvips
      const [{ crossValidate }, { epochLine }] = await Promise.all([import('../workflows/cv.js'), import('../workflows/train.js')]);
      if (options.data === undefined) await (await import('../data/fetch.js')).ensureDefaultData({ dest: config.train.data, fetch, onLog });
      const summary = await crossValidate(options, {
        onLog,
        onFoldStart: (seed, fold, folds, train, images) => progress.log(`fold ${fold}/${folds} (seed ${seed}): training on ${train} images, scoring ${images}`),
        onEpoch: (r, mark) => progress.log(`  ${epochLine(r, mark)}`),
        onFold: (r) => progress.log(foldLine(r)),
      });
      if (!quiet && !json) human.write(cvTable(summary));
      if (json) process.stdout.write(JSON.stringify(summary) + '\n');
    },
  );
}
