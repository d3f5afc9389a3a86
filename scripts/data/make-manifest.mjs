#!/usr/bin/env node
// Writes the SHA-256 manifest that `engine data fetch` checks a download against: one `<sha256>  <path>` line
// per file (sha256sum's format, so `cd data && sha256sum -c ../manifests/celeba-575.sha256` works too), paths
// relative to the dataset folder, sorted. Hashes only: the images themselves are never committed.
//   node scripts/data/make-manifest.mjs [SRC=../shared/data/celeba-575] [OUT=manifests/celeba-575.sha256]
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const src = path.resolve(process.argv[2] ?? path.join(root, '..', 'shared', 'data', 'celeba-575'));
const out = path.resolve(process.argv[3] ?? path.join(root, 'manifests', 'celeba-575.sha256'));

async function walk(dir, rel = '') {
  const files = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) files.push(...(await walk(path.join(dir, e.name), r)));
    else if (e.isFile()) files.push(r);
  }
  return files;
}

const files = (await walk(src)).sort();
if (files.length === 0) throw new Error(`no files under ${src}`);
const lines = [];
for (const f of files) lines.push(`${createHash('sha256').update(await fs.readFile(path.join(src, f))).digest('hex')}  ${f}`);
await fs.mkdir(path.dirname(out), { recursive: true });
await fs.writeFile(out, lines.join('\n') + '\n');
console.log(`wrote ${out}: ${files.length} files of ${src}`);
