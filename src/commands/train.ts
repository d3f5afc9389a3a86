// `engine train`: flags -> TrainOptions, progress on the terminal, a summary at the end.
import type { Argv } from 'yargs';
import { createProgress } from '../report/progress.js';
import { train } from '../train/train.js';
import type { Isa } from '../native.js';
import { parseIntFlag, parseNumberFlag } from './args.js';
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
        .option('data', { type: 'string', default: './data', describe: 'dataset folder with train/ and val/, one subfolder per class' })
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
        .option('device', { type: 'string', choices: ['cpu', 'cuda', 'auto'], describe: 'where to train (default cpu; auto: cuda when usable)' })
        .option('gpu', { type: 'boolean', default: false, describe: 'train on the CUDA device (= --device cuda)' })
        .option('skip-bad-images', { type: 'boolean', default: false, describe: 'skip images that fail to decode (with a warning) instead of stopping' })
        .option('quiet', { type: 'boolean', default: false, describe: 'print nothing but errors (and the --json summary)' })
        .option('json', { type: 'boolean', default: false, describe: 'print a machine-readable summary on stdout' }),
    async (argv) => {
      // With --json, stdout carries only the summary; human lines go to stderr.
      const human = argv.json ? process.stderr : process.stdout;
      const progress = createProgress({ stream: human, quiet: argv.quiet });
      let totalSteps = 0;
      let stepsDone = 0;
      const summary = await train(
        {
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
          device: deviceFlag(argv.gpu, argv.device),
        },
        {
          onLog: (line) => progress.log(line),
          onDecodeProgress: (split, done, total) => {
            if (done === 1) progress.start(total, `decoding ${split}`);
            progress.update(done);
            if (done === total) progress.end();
          },
          onEpochStart: (epoch, epochs, batches) => {
            if (epoch === 1) {
              totalSteps = epochs * batches;
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
          `${summary.medianTrainSeconds.toFixed(2)} s/epoch`,
      );
      if (argv.json) {
        const { history: _h, ...rest } = summary;
        process.stdout.write(JSON.stringify(rest) + '\n');
      }
    },
  );
}
