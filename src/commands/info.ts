// `engine info`: what this installation can run on. The addon's build (compiler, CPU instruction sets, whether
// the CUDA backend was compiled in and for which architectures) and the CUDA devices it sees, or why none.
import type { Argv } from 'yargs';
import { native } from '../native.js';
import { INFO_OPTIONS } from '../options/info.js';
import { cudaStatus } from '../train/device.js';
import { ENGINE_VERSION } from '../version.js';
import { addOptions, readFlags } from './flags.js';

export function engineInfo() {
  const build = native.buildInfo();
  const cuda = cudaStatus();
  const list = build.cuda ? native.cudaDevices() : undefined;
  return {
    version: ENGINE_VERSION,
    node: process.versions.node,
    build,
    cuda: {
      built: build.cuda,
      usable: cuda.usable,
      devices: cuda.devices,
      ...(cuda.reason ? { reason: cuda.reason } : {}),
      ...(list?.runtimeVersion !== undefined ? { runtimeVersion: list.runtimeVersion, driverVersion: list.driverVersion } : {}),
    },
  };
}

const cudaVersion = (v: number | undefined) => (v ? `${Math.floor(v / 1000)}.${(v % 1000) / 10}` : 'none');

export function infoCommand(yargs: Argv) {
  return yargs.command(
    'info',
    "print the addon's build (CPU instruction sets, CUDA) and the CUDA devices it sees",
    (y) => addOptions(y, INFO_OPTIONS),
    (argv) => {
      const { json } = readFlags<{ json: boolean }>(INFO_OPTIONS, argv);
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
