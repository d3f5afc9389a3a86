// The README as a newcomer uses it: every `npx engine` command it shows is run by some test with the same
// subcommand and flags (checked here against the test files), its quickstart runs (1 epoch instead of 70), the
// seed's table it prints is what the commands print, its library example is examples/library.mjs (which
// test/library.test.mjs runs), and its Python snippet feeds an exported model as the model says it must be fed
// (and, where a Python with onnxruntime and PIL is found, gives engine predict's answer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { loadModelInfo } from '../../dist/src/eval/model-source.js';
import { CELEBA, ROOT, SHARED, runCli, runProgram, tempDir } from '../helpers.mjs';

const README = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
const TWO_WORD = new Set(['export', 'import', 'data']);

/** The fenced blocks of a page (the README), in order: { lang, lines }. */
function blocks(page = README) {
  const out = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m; (m = re.exec(page)); ) out.push({ lang: m[1], lines: m[2].split('\n').filter((l) => l !== '') });
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
  assert.ok(shown.length >= 12, `only ${shown.length} output lines shown`);
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
  assert.match(out, /evaluation of val: 75 images, 2 classes \(man, woman\)\naccuracy: +\d+\.\d\d% +\(\d+\/75; 95% interval /);
  assert.match(out, /test1\.jpg: (man|woman) \(p = 0\.\d{4}\)/);
  for (const f of ['model.onnx', 'MODEL_CARD.md', 'val.html', 'test1.annotated.jpg', 'best.safetensors'])
    await fs.access(path.join(cwd, 'runs', 'seed1', f));
});

test("docs/library.md's example is examples/library.mjs, line for line (less the file's comments)", async () => {
  const js = blocks(await fs.readFile(path.join(ROOT, 'docs', 'library.md'), 'utf8')).filter((b) => b.lang === 'js');
  assert.equal(js.length, 1, 'one js block in docs/library.md');
  const file = await fs.readFile(path.join(ROOT, 'examples', 'library.mjs'), 'utf8');
  const code = file.split('\n').filter((l) => l !== '' && !l.startsWith('//'));
  assert.deepEqual(js[0].lines, code);
});

const runPython = runProgram;

test("the Python snippet feeds the exported model as its interface and metadata say, and gives engine predict's answer", async (t) => {
  const cwd = await tempDir(t);
  const weights = path.join(cwd, 'w.safetensors');
  const model = path.join(cwd, 'model.onnx');
  for (const args of [['import', 'keras', path.join(SHARED, 'seed/keras/weights70.h5'), '-o', weights], ['export', 'onnx', '--weights', weights, '-o', model, '--no-card']]) {
    const r = await runCli(args, { cwd });
    assert.equal(r.code, 0, r.stderr);
  }
  const info = await loadModelInfo(model);
  const [py] = blocks().filter((b) => b.lang === 'python');
  assert.ok(py, 'a python block in the README');
  const snippet = py.lines.join('\n');
  // what the model asks for, as the snippet does it
  assert.deepEqual([info.layout, info.dtype, info.channels, info.metadata.channel_order, info.resize], ['NCHW', 'float32', 3, 'RGB', 'pil-nearest']);
  assert.ok(snippet.includes(`{"${info.inputName}": x}`), `the snippet feeds input '${info.inputName}'`);
  assert.ok(snippet.includes(`.resize((${info.width}, ${info.height}), Image.NEAREST)`), 'PIL NEAREST to the model size');
  assert.ok(snippet.includes('.convert("RGB")') && snippet.includes('.transpose(2, 0, 1)[np.newaxis]'), 'RGB, HWC -> NCHW');
  assert.ok(snippet.includes('dtype=np.float32) * np.float32(1 / 255)'), 'float32 pixels times float32(1/255)');
  assert.equal(info.scale, 1 / 255);
  assert.ok(snippet.includes('prob, logit = session.run(None,'), 'two outputs: the probability, then the logit');
  assert.deepEqual([info.outputName, info.logitName], [`prob_${info.classes[1]}`, 'dense2']);
  assert.ok(snippet.includes(`"${info.classes[1]}" if prob[0, 0] > 0.5 else "${info.classes[0]}"`), 'class 1 iff P > 0.5');
  // the prose above it
  const prose = README.split('\n## Using the ONNX model elsewhere\n')[1].split('\n```python\n')[0].replace(/\s+/g, ' ');
  for (const phrase of [
    `one input, \`${info.inputName}\`: float32 \`[${info.inputShape}]\`, NCHW, RGB`,
    `\`prob_<class 1>\` (\`${info.outputName}\` for the seed) float32 \`[${info.outputShape}]\``,
    `\`${info.logitName}\` for \`${info.metadata.model}\``,
    `ONNX IR ${info.irVersion}, opset ${info.opset}`,
  ])
    assert.ok(prose.includes(phrase), `README: '${phrase}'`);

  // Run it where a Python with onnxruntime, PIL and numpy is found ($ENGINE_TEST_PYTHON, else python3).
  const python = process.env.ENGINE_TEST_PYTHON || 'python3';
  const probe = await runPython(python, ['-c', 'import onnxruntime, PIL, numpy'], cwd);
  if (probe.code !== 0) return t.skip(`${python} lacks onnxruntime, PIL or numpy (set ENGINE_TEST_PYTHON to one that has them)`);
  const image = path.join(CELEBA, 'val', 'woman', '121883.jpg'); // misclassified by the seed's weights: P(woman) = 0.0920
  await fs.writeFile(path.join(cwd, 'snippet.py'), snippet.replace('"runs/seed1/model.onnx"', JSON.stringify(model)).replace('"face.jpg"', JSON.stringify(image)));
  const r = await runPython(python, ['snippet.py'], cwd);
  assert.equal(r.code, 0, r.stderr);
  const [cls, p] = r.stdout.trim().split(' ');
  const cli = await runCli(['predict', image, '--model', model]);
  assert.equal(cli.code, 0, cli.stderr);
  // predict prints the predicted class and that class's probability
  const [, cliClass, cliP] = /: (\w+) \(p = ([\d.]+)\)/.exec(cli.stdout);
  assert.equal(cls, cliClass);
  const pClass1 = Number(p);
  assert.equal((cliClass === info.classes[1] ? pClass1 : 1 - pClass1).toFixed(4), cliP);
});
