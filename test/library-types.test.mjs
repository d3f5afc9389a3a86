// The package ships type declarations: examples/library.ts compiles against them with --strict (as a
// dependent project would import it), and a call of the wrong shape does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ROOT, runNode, tempDir } from './helpers.mjs';

const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const FLAGS = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--skipLibCheck'];

test('examples/library.ts compiles with --strict against the shipped declarations; a wrong call does not', async (t) => {
  const pkg = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.types, 'dist/src/index.d.ts');
  const ok = await runNode([TSC, ...FLAGS, 'examples/library.ts']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  // the same import with an image that is neither a path nor bytes, and an event of the wrong type
  const dir = await tempDir(t);
  const bad = path.join(ROOT, 'examples', `.types-check-${path.basename(dir)}.ts`);
  t.after(() => fs.rm(bad, { force: true }));
  await fs.writeFile(
    bad,
    `import { predict, train } from '${pkg.name}';\n` +
      `await predict({ images: [42] });\n` +
      `await train({}, { onEpoch: (e) => e.val_acc.toFixed(2) });\n`,
  );
  const wrong = await runNode([TSC, ...FLAGS, bad]);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stdout, /Type 'number' is not assignable to type 'ImageInput'/);
  assert.match(wrong.stdout, /Property 'val_acc' does not exist on type 'EpochFigures'/);
});
