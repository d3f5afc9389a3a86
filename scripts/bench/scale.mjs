#!/usr/bin/env node
// Bounded memory at scale: makes a synthetic dataset of --images images (symlinks cycling over the seed's 575,
// in a temp folder under /tmp), then trains twice, each run in its own process with the on-disk image cache:
//   run 1 builds the cache (decode + resize of every image, with progress) and times --steps training steps;
//   run 2 finds the cache unchanged and starts training without decoding (its log says "reusing").
// Reports the cache build time, seconds per 1,000 steps (measured over --steps steps after the first, not a full
// epoch), the time to the first step, and the peak RSS (VmHWM) of each process.
//
//   node scripts/bench/scale.mjs [--images 100000] [--val 5000] [--steps 1000] [--steps2 50] [--threads 2] [--keep] [--json]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '100000' },
    val: { type: 'string', default: '5000' },
    steps: { type: 'string', default: '1000' },
    steps2: { type: 'string', default: '50' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    source: { type: 'string', default: path.resolve(here, '../../../shared/data/celeba-575') },
    child: { type: 'string' }, // internal: run one training process (JSON config)
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

/** Peak resident set of this process: VmHWM from /proc, else Node's maxRSS. */
function vmHwmMiB() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSafe('/proc/self/status'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}
function readFileSafe(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Child: one `train()` run; stops itself after `steps` steps and prints its figures as JSON. */
async function child(cfg) {
  const { train } = await import('../../dist/src/workflows/train.js');
  const t0 = performance.now();
  const log = [];
  let buildStart;
  let buildEnd;
  let firstStep;
  let timedFrom;
  let steps = 0;
  const finish = () => {
    const now = performance.now();
    const timed = steps - 1;
    process.stdout.write(
      JSON.stringify({
        log,
        buildSeconds: buildStart !== undefined ? (buildEnd - buildStart) / 1000 : null,
        secondsToFirstStep: (firstStep - t0) / 1000,
        timedSteps: timed,
        secondsPer1000Steps: timed > 0 ? (now - timedFrom) / timed : null, // ms per step = s per 1,000 steps
        peakRssMiB: vmHwmMiB(),
      }) + '\n',
    );
    process.exit(0);
  };
  await train(
    { data: cfg.data, epochs: 1, batchSize: 32, seed: 1, threads: cfg.threads, saveEvery: 0, cacheDir: cfg.cacheDir, out: cfg.out },
    {
      onLog: (l) => {
        if (l.startsWith('image cache: building') && l.includes(`${path.sep}train`)) buildStart ??= performance.now();
        log.push(l);
        process.stderr.write(l + '\n');
      },
      onDecodeProgress: (split, done, total) => {
        if (done === total) buildEnd = performance.now();
        if (done % 10000 < 64 || done === total) process.stderr.write(`  decoding ${split}: ${done}/${total}\n`);
      },
      onBatch: () => {
        steps++;
        const now = performance.now();
        if (steps === 1) firstStep = timedFrom = now;
        if (steps % 100 === 0) process.stderr.write(`  step ${steps}\n`);
        if (steps === cfg.steps + 1) finish();
      },
    },
  );
  finish();
}

function runChild(cfg) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`child exited ${code}`))));
  });
}

/** DIR/{train,val}/{man,woman}/NNNNNN.jpg: symlinks to the source images, cycling, class kept. */
async function makeDataset(dir, total, val, source) {
  const pool = [];
  for (const split of ['train', 'val'])
    for (const cls of ['man', 'woman'])
      for (const f of (await fs.readdir(path.join(source, split, cls))).sort()) pool.push({ file: path.join(source, split, cls, f), cls });
  for (const split of ['train', 'val']) for (const cls of ['man', 'woman']) await fs.mkdir(path.join(dir, split, cls), { recursive: true });
  const jobs = [];
  for (let i = 0; i < total; i++) {
    const { file, cls } = pool[i % pool.length];
    const split = i < total - val ? 'train' : 'val';
    jobs.push(fs.symlink(file, path.join(dir, split, cls, `${String(i).padStart(6, '0')}.jpg`)));
    if (jobs.length === 512) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
}

async function main() {
  const total = Number(args.images);
  const val = Number(args.val);
  const threads = Number(args.threads);
  const root = await fs.mkdtemp(path.join('/tmp', 'engine-scale-'));
  const data = path.join(root, 'data');
  const cacheDir = path.join(root, 'cache');
  try {
    let t = performance.now();
    await makeDataset(data, total, val, args.source);
    const makeSeconds = (performance.now() - t) / 1000;
    process.stderr.write(`dataset: ${total} images (${total - val} train, ${val} val) as symlinks in ${data}, ${makeSeconds.toFixed(1)} s\n`);

    const run1 = await runChild({ data, cacheDir, threads, steps: Number(args.steps), out: path.join(root, 'run1') });
    const run2 = await runChild({ data, cacheDir, threads, steps: Number(args.steps2), out: path.join(root, 'run2') });
    const cacheBytes = (await fs.readdir(cacheDir)).reduce(async (s, n) => (await s) + (await fs.stat(path.join(cacheDir, n))).size, Promise.resolve(0));
    const result = {
      images: total,
      train: total - val,
      val,
      threads,
      cpu: os.cpus()[0]?.model,
      cacheGiB: (await cacheBytes) / 2 ** 30,
      run1: { ...run1, log: undefined, cacheLines: run1.log.filter((l) => l.startsWith('image cache')) },
      run2: { ...run2, log: undefined, cacheLines: run2.log.filter((l) => l.startsWith('image cache')) },
      secondRunDecoded: run2.log.some((l) => /image cache: building/.test(l)),
    };
    if (args.json) process.stdout.write(JSON.stringify(result) + '\n');
    else {
      const f = (x, d = 1) => (x === null ? '-' : x.toFixed(d));
      console.log(`synthetic set: ${total} images (${total - val} train, ${val} val), ${threads} threads, ${result.cpu}`);
      console.log(`run 1: cache build ${f(run1.buildSeconds)} s for ${total} images (${f(total / run1.buildSeconds, 0)} images/s), ${f(result.cacheGiB, 2)} GiB on disk`);
      console.log(`run 1: ${f(run1.secondsPer1000Steps)} s per 1,000 steps of 32 (measured over ${run1.timedSteps} steps), peak RSS ${f(run1.peakRssMiB, 0)} MiB`);
      console.log(`run 2: first step after ${f(run2.secondsToFirstStep)} s, decoded again: ${result.secondRunDecoded ? 'YES' : 'no'}; ${f(run2.secondsPer1000Steps)} s per 1,000 steps (over ${run2.timedSteps}), peak RSS ${f(run2.peakRssMiB, 0)} MiB`);
      for (const l of [...result.run1.cacheLines, ...result.run2.cacheLines]) console.log(`  ${l}`);
    }
  } finally {
    if (!args.keep) await fs.rm(root, { recursive: true, force: true });
    else process.stderr.write(`kept ${root}\n`);
  }
}

if (args.child) await child(JSON.parse(args.child));
else await main();
