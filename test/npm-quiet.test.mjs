// `npx engine ...` in the project prints nothing of npm's own (no "npm warn Unknown project config"), while
// onnxruntime-node's install script (which downloads the CUDA provider from nuget.org) stays skipped by policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('npx engine --version: the version only, no npm warning; onnxruntime-node\'s install script denied in package.json', async () => {
  const { stdout, stderr } = await promisify(execFile)('npx', ['--no-install', 'engine', '--version'], { cwd: root });
  const { version, allowScripts } = JSON.parse(await fs.readFile(path.join(root, 'package.json'), 'utf8'));
  assert.equal(stdout.trim(), version);
  assert.doesNotMatch(stderr, /npm (warn|WARN)/, stderr);
  assert.equal(stderr, '');
  assert.equal(allowScripts['onnxruntime-node'], false);
  // no .npmrc: npm 11 warns about any key it does not know in a project's config
  await assert.rejects(fs.stat(path.join(root, '.npmrc')), { code: 'ENOENT' });
});
