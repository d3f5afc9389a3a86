// `engine train`: flags -> TrainOptions, progress on the terminal, a summary at the end.
import type { Argv } from 'yargs';
import { createProgress } from '../report/progress.js';
import { runTraining, train, type TrainEvents } from '../workflows/train.js';
import { writeRunHtmlReport } from '../workflows/run-report.js';
import { ensureDefaultData } from '../data/fetch.js';
import { checkHtmlTarget } from '../report/html.js';
import { UsageError } from '../errors.js';
import { resolveTrainOptions, TRAIN_OPTIONS, type DeviceChoice, type TrainOptions } from '../options/train.js';
import { addOptions, readFlags } from './flags.js';
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
    (y) => addOptions(y, TRAIN_OPTIONS),
    async (argv) => {
      const { gpu, device, fetch, quiet, html, json, ...rest } = readFlags<TrainFlags>(TRAIN_OPTIONS, argv);
      // Flags not typed are undefined: a fresh run takes the defaults, a resumed run its recorded config.
      const options: TrainOptions = { ...rest, device: deviceFlag(gpu, device) };
      // With --json, stdout carries only the summary; human lines go to stderr.
      const human = json ? process.stderr : process.stdout;
      const progress = createProgress({ stream: human, quiet });
      let totalSteps = 0;
      let stepsDone = 0;
      let decoding: string | undefined;
      if (html !== undefined) await checkHtmlTarget(html);
      const events: TrainEvents = {
        onLog: (line) => progress.log(line),
        onDecodeProgress: (split, done, total) => {
          // a split's first report starts its bar: 1 when decoding into memory, a whole chunk (up to 64) when building the cache
          if (split !== decoding) {
            decoding = split;
            progress.start(total, `decoding ${split}`);
          }
          progress.update(done);
          if (done === total) progress.end();
        },
        onEpochStart: (epoch, epochs, batches) => {
          if (totalSteps === 0) {
            totalSteps = (epochs - epoch + 1) * batches;
            progress.start(totalSteps, 'train');
          }
        },
        onBatch: (epoch, batch, batches, loss) => {
          stepsDone++;
          progress.update(stepsDone, `epoch ${epoch} step ${batch}/${batches} loss ${loss.toFixed(4)}`);
        },
        onEpoch: (r) =>
          progress.log(
            `epoch ${r.epoch}: loss ${r.loss.toFixed(4)} acc ${r.acc.toFixed(4)} val_loss ${r.valLoss.toFixed(4)} val_acc ${r.valAcc.toFixed(4)} ${r.seconds.toFixed(2)}s`,
          ),
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
          if (options.data === undefined) await ensureDefaultData({ dest: config.data, fetch, onLog: events.onLog });
          summary = await runTraining(config, events);
        }
      } finally {
        release();
      }
      progress.end(
        `done: ${summary.history.length} epochs in ${summary.runDir}; last val_acc ${summary.final.valAcc.toFixed(4)}, ` +
          `best val_loss ${summary.best.valLoss.toFixed(4)} at epoch ${summary.best.epoch} (val_acc ${summary.best.valAcc.toFixed(4)}), ` +
          `${summary.medianTrainSeconds.toFixed(2)} s/epoch` +
          (summary.skippedImages.length ? `; ${summary.skippedImages.length} unreadable images skipped` : ''),
      );
      if (html !== undefined)
        human.write(`wrote ${await writeRunHtmlReport(html, { runDir: summary.runDir, data: summary.config.data, bestEpoch: summary.best.epoch })}\n`);
      if (json) {
        const { history: _h, ...summaryRest } = summary;
        process.stdout.write(JSON.stringify(summaryRest) + '\n');
      }
    },
  );
}
