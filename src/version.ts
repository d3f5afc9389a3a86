// Versions recorded in run.json and model metadata, so a result can be traced to the code that made it.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from './native.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const ENGINE_VERSION: string = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;

export function versions(): Record<string, string> {
  const b = native.buildInfo();
  // required here, not imported above: every command reads ENGINE_VERSION, and most never load libvips
  const sharp = createRequire(import.meta.url)('sharp') as typeof import('sharp');
  return {
    engine: ENGINE_VERSION,
    node: process.versions.node,
    napi: String(b.napiVersion),
    compiler: `g++ ${b.compiler}`,
    isa: b.isa,
    sharp: sharp.versions.sharp ?? 'unknown',
    vips: sharp.versions.vips,
  };
}
