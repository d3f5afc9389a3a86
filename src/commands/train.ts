// `engine train`: flags -> TrainOptions, progress on the terminal, a summary at the end.
import type { Argv } from 'yargs';
import { createProgress } from '../report/progress.js';
import { train } from '../train/train.js';
import { withDefaultData } from '../data/fetch.js';
import { checkHtmlTarget, writeRunHtmlReport } from '../report/html.js';
import type { Isa } from '../native.js';
import { parseIntFlag, parseNumberFlag } from './args.js';
import { givenFlags, onlyGiven } from './given-flags.js';
import { UsageError } from '../errors.js';
import type { DeviceChoice } from '../train/options.js';

function deviceFlag(gpu: boolean, device: string | undefined): DeviceChoice | undefined {
  if (gpu && device !== undefined && device !== 'cuda') throw new UsageError(`--gpu means --device cuda, but --device ${device} was also given`);
  return gpu ? 'cuda' : (device as DeviceChoice | undefined);
}

export function trainCommand(yargs: Argv) {
  return yargs.command(
    'train',
    'train the model on DIR/train, validating on DIR/val after every epoch',
    (y) =>
      y
        .option('data', { type: 'string', describe: 'dataset folder with train/ and val/, one subfolder per class (default ./data, fetched when missing)' })
        .option('fetch', { type: 'boolean', default: true, describe: 'without --data: download ./data when it is missing (--no-fetch: refuse)' })
        .option('epochs', { type: 'string', default: '100', describe: 'epochs (full passes over train)' })
        .option('batch-size', { type: 'string', default: '32', describe: 'images per step; the last batch may be smaller' })
        .option('lr', { type: 'string', default: '0.001', describe: 'RMSprop learning rate' })
        .option('seed', { type: 'string', describe: 'seed for init, data order, augmentation and dropout (default: random, recorded)' })
        .option('save-every', { type: 'string', default: '10', describe: 'write weights<epoch>.safetensors every N epochs (0: never)' })
        .option('out', { type: 'string', describe: 'run directory (default: runs/run-<date>-<time>)' })
        .option('threads', { type: 'string', describe: 'CPU threads (default: all cores)' })
        .option('model', { type: 'string', default: 'seed7', describe: 'model spec: seed7 or seed5' })
        .option('augment', { type: 'boolean', default: true, describe: "the seed's shear/zoom/flip augmentation (--no-augment to turn off)" })
        .option('isa', { type: 'string', choices: ['scalar', 'avx2', 'avx512'], describe: 'cap the instruction set of the native kernels' })
        .option('precision', { type: 'string', choices: ['fp32', 'bf16'], default: 'fp32', describe: 'convolution operands: fp32, or bf16 with fp32 sums (CPUs with AVX512-BF16)' })
        .option('conv', { type: 'string', describe: 'CPU fp32 convolutions: winograd (default; the first conv stays direct) or direct' })
        .option('device', { type: 'string', choices: ['cpu', 'cuda', 'auto'], describe: 'where to train (default cpu; auto: cuda when usable)' })
        .option('gpu', { type: 'boolean', default: false, describe: 'train on the CUDA device (= --device cuda)' })
        .option('skip-bad-images', { type: 'boolean', default: false, describe: 'skip images that fail to decode (with a warning) instead of stopping' })
        .option('cache', { type: 'boolean', describe: 'on-disk image cache: --cache always, --no-cache never (default: for splits over 512 MiB)' })
        .option('cache-dir', { type: 'string', describe: 'image cache folder (implies --cache; default $XDG_CACHE_HOME/engine or ~/.cache/engine)' })
        .option('resume', { type: 'string', describe: 'continue the interrupted run in this folder from its newest checkpoint (its recorded config)' })
        .option('quiet', { type: 'boolean', default: false, describe: 'print nothing but errors (and the --json summary)' })
        .option('html', { type: 'string', describe: 'at the end, write an HTML report of best.safetensors on val (as engine eval --html)' })
        .option('json', { type: 'boolean', default: false, describe: 'print a machine-readable summary on stdout' }),
    async (argv) => {
      // With --json, stdout carries only the summary; human lines go to stderr.
      const human = argv.json ? process.stderr : process.stdout;
      const progress = createProgress({ stream: human, quiet: argv.quiet });
      let totalSteps = 0;
      let stepsDone = 0;
      let decoding: string | undefined;
      if (argv.html !== undefined) await checkHtmlTarget(argv.html);
      const options = {
          data: argv.data,
          epochs: parseIntFlag('epochs', argv.epochs),
          batchSize: parseIntFlag('batch-size', argv['batch-size']),
          lr: parseNumberFlag('lr', argv.lr),
          seed: parseIntFlag('seed', argv.seed),
          saveEvery: parseIntFlag('save-every', argv['save-every']),
          out: argv.out,
          threads: parseIntFlag('threads', argv.threads),
          model: argv.model,
          augment: argv.augment,
          isa: argv.isa as Isa | undefined,
          skipBadImages: argv['skip-bad-images'],
          precision: argv.precision as 'fp32' | 'bf16',
          conv: argv.conv as 'winograd' | 'direct' | undefined,
          cache: argv.cache,
          cacheDir: argv['cache-dir'],
          device: deviceFlag(argv.gpu, argv.device),
      };
      // Resuming: only the flags typed count (yargs' defaults would look like conflicts with the recorded config).
      // --gpu is typed as `gpu` but is the option `device`: it counts as giving --device cuda, so a resumed CPU run
      // refuses it as a conflict instead of dropping it and training on the CPU.
      const typed = givenFlags(undefined, ['augment', 'skip-bad-images', 'cache', 'gpu']);
      if (argv.gpu) typed.add('device');
      const resume = argv.resume === undefined ? {} : { ...onlyGiven(options, typed), resume: argv.resume };
      const summary = await train(
        argv.resume === undefined ? await withDefaultData(options, { fetch: argv.fetch, onLog: (line) => progress.log(line) }) : resume,
        {
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
              `epoch ${r.epoch}: loss ${r.loss.toFixed(4)} acc ${r.acc.toFixed(4)} val_loss ${r.val_loss.toFixed(4)} val_acc ${r.val_acc.toFixed(4)} ${r.seconds.toFixed(2)}s`,
            ),
        },
      );
      progress.end(
        `done: ${summary.history.length} epochs in ${summary.runDir}; last val_acc ${summary.final.val_acc.toFixed(4)}, ` +
          `best val_loss ${summary.best.val_loss.toFixed(4)} at epoch ${summary.best.epoch} (val_acc ${summary.best.val_acc.toFixed(4)}), ` +
          `${summary.medianTrainSeconds.toFixed(2)} s/epoch` +
          (summary.skippedImages.length ? `; ${summary.skippedImages.length} unreadable images skipped` : ''),
      );
      if (argv.html !== undefined)
        human.write(`wrote ${await writeRunHtmlReport(argv.html, { runDir: summary.runDir, data: summary.config.data, bestEpoch: summary.best.epoch })}\n`);
      if (argv.json) {
        const { history: _h, ...rest } = summary;
        process.stdout.write(JSON.stringify(rest) + '\n');
      }
    },
  );
}
