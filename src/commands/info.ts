// `engine info`: what this installation can run on. The addon's build (compiler, CPU instruction sets, whether
// the CUDA backend was compiled in and for which architectures) and the CUDA devices it sees, or why none.
import type { Argv } from 'yargs';
import { native, trainerConfig, type Plan, type PlanStep } from '../native.js';
import { INFO_OPTIONS } from '../options/info.js';
import { resolveArch, resolveTrainOptions, type TrainOptions } from '../options/train.js';
import { cudaStatus } from '../train/device.js';
import { ENGINE_VERSION } from '../version.js';
import { addOptions, helpEpilog, readFlags } from './flags.js';

export function engineInfo() {
  const build = native.buildInfo();
  const cuda = cudaStatus();
  const list = build.cuda ? native.cudaDevices() : undefined;
  return {
    version: ENGINE_VERSION,
    node: process.versions.node,
    build,
    /** the addon's JPEG decoder (else sharp decodes every image) */
    jpeg: native.jpegDecoder(),
    cuda: {
      built: build.cuda,
      usable: cuda.usable,
      devices: cuda.devices,
      ...(cuda.reason ? { reason: cuda.reason } : {}),
      ...(list?.runtimeVersion !== undefined ? { runtimeVersion: list.runtimeVersion, driverVersion: list.driverVersion } : {}),
    },
  };
}

/** The kernel plan a CPU training run of `options.arch` (its preset's spec, as it is) would get on this machine. */
export function enginePlan(options: TrainOptions): Plan {
  const config = resolveTrainOptions(options);
  const trainer = new native.Trainer(
    trainerConfig({ spec: resolveArch(config.arch).spec, threads: config.threads, isa: config.isa, precision: config.precision, conv: config.conv }),
  );
  try {
    return trainer.plan();
  } finally {
    trainer.dispose();
  }
}

const kib = (bytes: number) => (bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} B`);

/** The plan as lines: options, then one line per step in the order the steps run. */
export function formatPlan(model: string, plan: Plan): string[] {
  const o = plan.options;
  const env = Object.entries(o.env).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`);
  const lines = [
    `plan of ${model}: ${o.backend}, ${o.dtype}, ${o.precision}${o.bf16Kernels ? ` (${o.bf16Kernels})` : `, ${o.conv} conv`}, isa ${o.isa}, ${o.threads} thread${o.threads === 1 ? '' : 's'}, ` +
      `${plan.microBatch === 'share' ? "a thread's whole share of the batch per kernel call (batch norm)" : `${plan.microBatch} image per kernel call`}` +
      (env.length ? `; ${env.join(' ')}` : ''),
  ];
  const width = Math.max(...plan.steps.map((s) => s.ops.join('+').length));
  const line = (s: PlanStep) =>
    (
      `  ${s.ops.join('+').padEnd(width)}  ${s.kind.padEnd(17)} ${(s.kernel + (s.inputGradient !== undefined ? ` / input ${s.inputGradient ?? 'none'}` : '')).padEnd(36)}` +
      `${s.packing ? ` packed ${s.packing} ${kib(s.packedBytes)}` : ''}${s.workspaceBytes ? ` workspace ${kib(s.workspaceBytes)}/image` : ''}`
    ).trimEnd();
  for (const direction of ['forward', 'backward'] as const) {
    lines.push(direction);
    for (const s of plan.steps.filter((x) => x.direction === direction)) lines.push(line(s));
  }
  return lines;
}

const cudaVersion = (v: number | undefined) => (v ? `${Math.floor(v / 1000)}.${(v % 1000) / 10}` : 'none');

export function infoCommand(yargs: Argv) {
  return yargs.command(
    'info',
    "print the addon's build (CPU instruction sets, CUDA) and the CUDA devices it sees; --plan: the kernel of every layer",
    (y) =>
      addOptions(y, INFO_OPTIONS).epilog(
        helpEpilog([
          ['engine info', "the addon's build, the CPU's instruction sets and the GPUs it sees"],
          ['engine info --plan --arch fmnist-cnn', 'which kernel runs every layer of fmnist-cnn, as training would choose them here'],
        ]),
      ),
    (argv) => {
      const { json, plan, ...options } = readFlags<{ json: boolean; plan: boolean } & TrainOptions>(INFO_OPTIONS, argv);
      if (plan) {
        const p = enginePlan(options);
        const name = resolveArch(options.arch ?? 'seed7').name;
        process.stdout.write(json ? JSON.stringify(p, null, 2) + '\n' : formatPlan(name, p).join('\n') + '\n');
        return;
      }
      const info = engineInfo();
      if (json) {
        process.stdout.write(JSON.stringify(info, null, 2) + '\n');
        return;
      }
      const b = info.build;
      const lines = [
        `engine ${info.version} (node ${info.node}, N-API ${b.napiVersion}, g++ ${b.compiler})`,
        `cpu: kernels use ${b.isa} (the CPU supports ${b.cpuIsa}${b.isa !== b.cpuIsa ? '; capped by ENGINE_ISA' : ''})`,
        `cpu bf16 (--precision bf16): ${b.amx ? 'AMX tiles' : b.bf16 ? 'AVX512-BF16 (no AMX)' : 'not available (no AVX512-BF16)'}`,
        `jpeg: ${info.jpeg.available ? 'decoded by libjpeg-turbo (libjpeg.so.62)' : `decoded by sharp (${info.jpeg.reason})`}; other formats by sharp`,
        b.cuda
          ? `cuda: built in (${b.cudaCompiler}, architectures ${b.cudaArchitectures}); runtime ${cudaVersion(info.cuda.runtimeVersion)}, driver ${cudaVersion(info.cuda.driverVersion)}`
          : 'cuda: not built in (no nvcc at build time, or ENGINE_CUDA=OFF)',
      ];
      if (info.cuda.devices.length === 0) lines.push(`cuda devices: none (${info.cuda.reason})`);
      for (const d of info.cuda.devices)
        lines.push(
          `cuda device ${d.index}: ${d.name}, compute ${d.computeCapability}, ${(d.memoryBytes / 2 ** 30).toFixed(1)} GiB, ${d.multiprocessors} SMs`,
        );
      lines.push(`engine train --gpu: ${info.cuda.usable ? 'available' : 'not available here'}`);
      process.stdout.write(lines.join('\n') + '\n');
    },
  );
}
