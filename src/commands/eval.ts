// `engine eval <split|dir>`: the report's text (after the seed's "mAP report" lines with --seed-report), or JSON.
import type { Argv } from 'yargs';
import { evaluate, formatReport, type EvalOptions } from '../eval/evaluate.js';
import { EVAL_OPTIONS } from '../options/eval.js';
import { checkHtmlTarget, writeHtmlReport } from '../report/html.js';
import { addOptions, readFlags } from './flags.js';

type EvalFlags = Omit<EvalOptions, 'outputs' | 'onProgress'> & { json: boolean; curves: boolean; seedReport: boolean; html?: string };

export function evalCommand(yargs: Argv) {
  return yargs.command(
    'eval <target>',
    'evaluate a model on a split (DATA/<target>) or a folder of class subfolders',
    (y) =>
      addOptions(y, EVAL_OPTIONS).epilog(
        'Without --model or --weights: the newest run under ./runs, its model.onnx (unless best.safetensors is newer) else best.safetensors.',
      ),
    async (argv) => {
      const { json, curves, seedReport, html, ...options } = readFlags<EvalFlags>(EVAL_OPTIONS, argv);
      // An --html page that cannot be written is refused before the evaluation, not after it.
      if (html !== undefined) await checkHtmlTarget(html);
      const report = await evaluate({ ...options, outputs: html !== undefined ? [{ name: '--html', file: html }] : undefined });
      const page = html !== undefined ? await writeHtmlReport(html, report) : undefined;
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
