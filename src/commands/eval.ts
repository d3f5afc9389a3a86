// `engine eval <split|dir>`: the report's text (after the seed's "mAP report" lines with --seed-report), or JSON.
import type { Argv } from 'yargs';
import type { EvalOptions } from '../eval/evaluate.js';
import { EVAL_OPTIONS } from '../options/eval.js';
import { addOptions, helpEpilog, readFlags } from './flags.js';

type EvalFlags = Omit<EvalOptions, 'outputs' | 'onProgress' | 'model'> & { model?: string; json: boolean; curves: boolean; seedReport: boolean; html?: string };

export function evalCommand(yargs: Argv) {
  return yargs.command(
    'eval <target>',
    'evaluate a model on a split (DATA/<target>) or a folder of class subfolders',
    (y) =>
      addOptions(y, EVAL_OPTIONS).epilog(
        helpEpilog(
          [
            ['engine eval val --data ../shared/data/celeba-575 --model runs/seed1/model.onnx', "the report on the val split (the figures first; --json: all of them)"],
            ['engine eval test --data /usr/share/datasets/fashion-mnist --model runs/fmnist/model.onnx --html test.html', "Fashion-MNIST's test split, with an HTML page"],
            ['engine eval ./photos --model model.onnx --seed-report', "a folder of class subfolders, after the seed's own report lines"],
          ],
          "Split names are read as training reads them (class folders, CelebA's layout, IDX files); for data without a val split, " +
            "val is the model's recorded validation (the images its run held out of train, or test). " +
            'Without --model or --weights: the newest run under ./runs, its model.onnx (unless best.safetensors is newer) else best.safetensors.',
        ),
      ),
    async (argv) => {
      const { json, curves, seedReport, html, ...options } = readFlags<EvalFlags>(EVAL_OPTIONS, argv);
      // loaded when run: --help and the other commands start without onnxruntime and libvips
      const { evaluate, formatReport } = await import('../eval/evaluate.js');
      const htmlPage = html !== undefined ? await import('../report/html.js') : undefined;
      // An --html page that cannot be written is refused before the evaluation, not after it.
      if (html !== undefined) await htmlPage!.checkHtmlTarget(html);
      // the curves only where they are shown (--curves, the page): for 10,000 images they are most of the figures' cost
      const report = await evaluate({
        ...options,
        curves: curves || html !== undefined,
        outputs: html !== undefined ? [{ name: '--html', file: html }] : undefined,
      });
      const page = html !== undefined ? await htmlPage!.writeHtmlReport(html, report) : undefined;
      if (json) {
        const { curves: _c, ...rest } = report;
        process.stdout.write(JSON.stringify(curves ? report : rest) + '\n');
      } else {
        process.stdout.write(formatReport(report, { seedReport }));
      }
      if (page) (json ? process.stderr : process.stdout).write(`wrote ${page}\n`);
    },
  );
}
