// `engine train --html`: the HTML report of a finished run, its best checkpoint evaluated on <data>/val.
import path from 'node:path';
import { evaluate } from '../eval/evaluate.js';
import { writeHtmlReport } from '../report/html.js';
import { RUN_FILES } from '../store/run-dir.js';

/** The page for a finished training run: its best.safetensors (the lowest validation loss) on <data>/val. */
export async function writeRunHtmlReport(file: string, run: { runDir: string; data: string; bestEpoch: number }): Promise<string> {
  const weights = path.join(run.runDir, RUN_FILES.best);
  const report = await evaluate({ target: 'val', data: run.data, weights });
  return writeHtmlReport(file, report, {
    title: `engine train: ${path.basename(run.runDir)}, val`,
    subtitle: `${weights} (epoch ${run.bestEpoch}, the lowest validation loss) on ${report.images} images of ${report.dir}`,
  });
}
