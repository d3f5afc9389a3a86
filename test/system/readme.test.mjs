// The README as a newcomer uses it: every `npx engine` command it shows is run by some test with the same
// subcommand and flags (checked here against the test files), its quickstart runs (1 epoch instead of 70), and
// the seed's table it prints is what the commands print.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ROOT, SHARED, runCli, tempDir } from '../helpers.mjs';

const README = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
const TWO_WORD = new Set(['export', 'import', 'data']);

/** The fenced blocks of the README, in order: { lang, lines }. */
function blocks() {
  const out = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m; (m = re.exec(README)); ) out.push({ lang: m[1], lines: m[2].split('\n').filter((l) => l !== '') });
  return out;
}

/** `npx engine ...` commands of a shell line: [{ sub, args }] (a trailing `  # comment` dropped). */
function engineCommands(line) {
  return line
    .replace(/\s+#.*$/, '')
    .split('&&')
    .map((part) => part.trim().split(/\s+/))
    .filter((words) => words[0] === 'npx' && words[1] === 'engine')
    .map((words) => {
      const args = words.slice(2);
      return { sub: TWO_WORD.has(args[0]) ? args.slice(0, 2) : args.slice(0, 1), args };
    });
}

const shellBlocks = () => blocks().filter((b) => b.lang === 'sh');

test('every README command is exercised: its subcommand and each of its flags appear in a test that runs it', async () => {
  // both tiers: test/*.test.mjs and test/system/*.test.mjs
  const files = [];
  for (const dir of ['test', 'test/system'])
    for (const f of await fs.readdir(path.join(ROOT, dir))) if (f.endsWith('.test.mjs')) files.push(path.join(dir, f));
  const tests = await Promise.all(files.map(async (f) => [f, await fs.readFile(path.join(ROOT, f), 'utf8')]));
  const ci = await fs.readFile(path.join(ROOT, '.ci', 'run'), 'utf8');
  let count = 0;
  for (const block of shellBlocks()) {
    for (const line of block.lines) {
      if (/^npm ci/.test(line)) assert.match(ci, /^npm ci$/m, '.ci/run runs npm ci');
      if (/npm test/.test(line)) assert.match(ci, /^npm test$/m, '.ci/run runs npm test');
      for (const { sub, args } of engineCommands(line)) {
        count++;
        const literal = sub.map((w) => `'${w}'`).join(', ');
        const runners = tests.filter(([, text]) => text.includes(`[${literal}`) || text.includes(`['${sub[0]}'`));
        assert.ok(runners.length > 0, `no test runs \`engine ${sub.join(' ')}\``);
        for (const flag of args.filter((a) => a.startsWith('-')))
          assert.ok(runners.some(([, text]) => text.includes(`'${flag}'`)), `no test runs \`engine ${sub.join(' ')}\` with ${flag} (README: ${line})`);
      }
    }
  }
  assert.ok(count >= 11, `found only ${count} commands in the README`);
});

/** Runs a README shell line in `cwd`: `npx engine` -> this checkout's CLI, ../shared -> the shared folder. */
async function runLine(line, cwd, substitute = (args) => args) {
  if (line.startsWith('mkdir -p ')) {
    await fs.mkdir(path.join(cwd, line.slice(9).trim()), { recursive: true });
    return '';
  }
  let out = '';
  for (const { args } of engineCommands(line)) {
    const r = await runCli(substitute(args.map((a) => a.replace(/^\.\.\/shared\//, `${SHARED}/`))), { cwd });
    assert.equal(r.code, 0, `${line}\n${r.stderr}`);
    out += r.stdout;
  }
  return out;
}

test("the seed's table: the README's commands print the README's lines", async (t) => {
  const cwd = await tempDir(t);
  const all = blocks();
  const at = all.findIndex((b) => b.lang === 'sh' && b.lines.some((l) => l.includes('import keras')));
  assert.ok(at > 0 && all[at + 1].lang === '', 'the import keras block is followed by its output');
  let out = '';
  for (const line of all[at].lines) out += await runLine(line, cwd);
  const shown = all[at + 1].lines.filter((l) => l.trim() !== '...');
  assert.ok(shown.length > 20);
  // Where the README's run happened: its project folder and its shared folder, read off the import line.
  const imported = shown.map((l) => /^imported (\S+)\/seed\/keras\/weights70\.h5 .* -> (\S+)\/runs\/seed70\/weights70\.safetensors$/.exec(l)).find(Boolean);
  assert.ok(imported, 'the output block starts with the import line');
  const [, readmeShared, readmeRoot] = imported;
  for (const line of shown) {
    const expected = line.replaceAll(readmeRoot, cwd).replaceAll(readmeShared, SHARED);
    assert.ok(out.includes(expected), `README line not printed:\n${expected}\n--- printed:\n${out}`);
  }
});

test('the quickstart runs as written (1 epoch): train, export with its card, eval --html, predict --annotate', async (t) => {
  const cwd = await tempDir(t);
  const block = shellBlocks().find((b) => b.lines.some((l) => l.includes('--epochs 70 --seed 1 --out runs/seed1')));
  let out = '';
  for (const line of block.lines.filter((l) => !l.includes('serve-demo'))) // serve-demo runs until Ctrl-C: test/demo.test.mjs
    out += await runLine(line, cwd, (args) => args.map((a, i) => (args[i - 1] === '--epochs' ? '1' : a)));
  assert.match(out, /data: 500 train and 75 val images, classes 0=man 1=woman/);
  assert.match(out, /Evaluation dataset: val\n\d+ images correctly predicted among 75 evaluation images/);
  assert.match(out, /test1\.jpg: (man|woman) \(p = 0\.\d{4}\)/);
  for (const f of ['model.onnx', 'MODEL_CARD.md', 'val.html', 'test1.annotated.jpg', 'best.safetensors'])
    await fs.access(path.join(cwd, 'runs', 'seed1', f));
});
