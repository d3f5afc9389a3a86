// `engine train`: flags -> TrainOptions, progress on the terminal, a summary at the end.
import path from 'node:path';
import type { Argv } from 'yargs';
import { createProgress } from '../report/progress.js';
import type { TrainEvents } from '../workflows/train.js';
import { UsageError } from '../errors.js';
import { resolveTrainOptions, TRAIN_OPTIONS, type DeviceChoice, type TrainOptions } from '../options/train.js';
import { RUN_FILES, weightsName } from '../store/run-dir.js';
import { addOptions, helpEpilog, readFlags } from './flags.js';
import { onInterrupt } from './signals.js';

type TrainFlags = Omit<TrainOptions, 'device'> & { device?: string; gpu?: boolean; fetch: boolean; quiet: boolean; html?: string; json: boolean };

/** --gpu is --device cuda: for a resumed run too, where it is then a typed --device (and a CPU run refuses it). */
function deviceFlag(gpu: boolean | undefined, device: string | undefined): DeviceChoice | undefined {
  if (gpu && device !== undefined && device !== 'cuda') throw new UsageError(`--gpu means --device cuda, but --device ${device} was also given`);
  return gpu ? 'cuda' : (device as DeviceChoice | undefined);
}

export function trainCommand(yargs: Argv) {
  return yargs.command(
    'train',
    'train the model on DIR/train, validating on DIR/val after every epoch',
    (y) =>
      addOptions(y, TRAIN_OPTIONS).epilog(
        helpEpilog(
          [
            ['engine train --data ../shared/data/celeba-575 --seed 1 --out runs/seed1', "the seed's model and recipe (70 epochs) on the seed's 575 faces"],
            ['engine train --data /usr/share/datasets/fashion-mnist --arch fmnist-cnn --seed 1', 'Fashion-MNIST, validating on 5,000 images held out of train'],
            ['engine train --resume runs/seed1', 'continue an interrupted run from its newest checkpoint'],
          ],
          `A run folder holds ${RUN_FILES.best} (the epoch of the best validation figure, --monitor), ${RUN_FILES.last} (the newest), ` +
            `${weightsName(10)}, ${weightsName(20)}, ... (every --save-every epochs), history.csv and ${RUN_FILES.plot} (loss and accuracy ` +
            `per epoch), history/*_history.txt (the seed's four files), and ${RUN_FILES.record} (config, seed, data, status, results). ` +
            `engine export onnx --weights <run>/${RUN_FILES.best} writes ${RUN_FILES.model} and MODEL_CARD.md beside it.`,
        ),
      ),
    async (argv) => {
      const { gpu, device, fetch, quiet, html, json, ...rest } = readFlags<TrainFlags>(TRAIN_OPTIONS, argv);
      // loaded when run: --help and the other commands start without them
      const { epochLine, runTraining, train } = await import('../workflows/train.js');
      const htmlPage = html !== undefined ? await import('../report/html.js') : undefined;
      // Flags not typed are undefined: a fresh run takes the defaults, a resumed run its recorded config.
      const options: TrainOptions = { ...rest, device: deviceFlag(gpu, device) };
      // With --json, stdout carries only the summary; human lines go to stderr.
      const human = json ? process.stderr : process.stdout;
      const progress = createProgress({ stream: human, quiet });
      let totalSteps = 0;
      let stepsDone = 0;
      let decoding: string | undefined;
      if (html !== undefined) await htmlPage!.checkHtmlTarget(html);
      const events: TrainEvents = {
        onLog: (line) => progress.log(line),
        onDecodeProgress: (split, done, total) => {
          // a split's first report starts its bar: 1 when decoding into memory, a whole chunk (up to 64) when building the cache
          if (split !== decoding) {
            decoding = split;
            progress.start(total, `decoding ${split}`, 'images');
          }
          progress.update(done);
          if (done === total) progress.end();
        },
        onEpochStart: (epoch, epochs, batches) => {
          if (totalSteps === 0) {
            totalSteps = (epochs - epoch + 1) * batches;
            progress.start(totalSteps, 'train', 'steps');
          }
        },
        onBatch: (epoch, batch, batches, loss) => {
          stepsDone++;
          progress.update(stepsDone, `epoch ${epoch} step ${batch}/${batches} loss ${loss.toFixed(4)}`);
        },
        onEpoch: (r, mark) => progress.log(epochLine(r, mark)),
      };
      let summary;
      // The first Ctrl-C (or SIGTERM) stops the run at the next batch, marked interrupted; a second one exits at once.
      const stop = new AbortController();
      const release = onInterrupt((signal) => {
        progress.log(`${signal}: stopping after this batch (again to quit at once)`);
        stop.abort(signal);
      });
      events.signal = stop.signal;
      try {
        if (options.resume !== undefined) summary = await train(options, events);
        else {
          // Checked before ./data is fetched, so a typo in a flag never downloads anything.
          const config = resolveTrainOptions(options);
          if (options.data === undefined) await (await import('../data/fetch.js')).ensureDefaultData({ dest: config.data, fetch, onLog: events.onLog });
          summary = await runTraining(config, events);
        }
      } finally {
        release();
      }
      const { best, config } = summary;
      const epochs = summary.history.length;
      const bestFigure = config.monitor === 'val_acc' ? `val_acc ${best.valAcc.toFixed(4)}` : `val_loss ${best.valLoss.toFixed(4)}`;
      const other = config.monitor === 'val_acc' ? `val_loss ${best.valLoss.toFixed(4)}` : `val_acc ${best.valAcc.toFixed(4)}`;
      progress.end(
        `done: ${epochs} epoch${epochs === 1 ? '' : 's'} in ${summary.runDir}; last val_acc ${summary.final.valAcc.toFixed(4)}, ` +
          `best ${bestFigure} at epoch ${best.epoch} (${other}), ` +
          `${summary.medianTrainSeconds.toFixed(2)} s/epoch` +
          (summary.stoppedEarly ? `; stopped early (--patience ${summary.stoppedEarly.patience})` : '') +
          (summary.skippedImages.length ? `; ${summary.skippedImages.length} unreadable images skipped` : ''),
      );
      let files = summary.files;
      if (html !== undefined) {
        const { writeRunHtmlReport } = await import('../workflows/run-report.js');
        const page = await writeRunHtmlReport(html, { runDir: summary.runDir, data: summary.config.data, bestEpoch: summary.best.epoch });
        human.write(`wrote ${page}\n`);
        // files are named relative to the run folder; a page outside it by its own path
        const inRun = path.relative(summary.runDir, path.resolve(page));
        files = [...files, inRun.startsWith('..') || path.isAbsolute(inRun) ? path.resolve(page) : inRun.split(path.sep).join('/')].sort();
      }
      if (json) {
        const { history: _h, ...summaryRest } = summary;
        process.stdout.write(JSON.stringify({ ...summaryRest, files }) + '\n');
      }
    },
  );
}
