// The browser demo: `engine serve-demo` serves a page that, in headless Chromium, classifies images exactly as
// `engine predict` does for the same model (skipped, with the reason, where Chromium is missing). That
// demo/preprocess.js computes what src/ computes is checked in Node by test/demo-preprocess.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { loadImageResized } from '../../dist/src/data/decode.js';
import { CELEBA, CLI, ROOT, SHARED, runCli, tempDir } from '../helpers.mjs';
import { browserSkipReason, launchChromium, watchPage } from '../browser.mjs';

const cleanups = [];
const suite = { after: (fn) => cleanups.push(fn) };
after(() => Promise.all(cleanups.map((fn) => fn())));

/** `engine serve-demo` in a child process; resolves its URL once it listens. */
function startServer(args) {
  const child = spawn(process.execPath, [CLI, 'serve-demo', ...args], { cwd: ROOT });
  let out = '';
  let err = '';
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /demo at (http:\/\/\S+) /.exec(out);
      if (m) resolve(m[1]);
    });
    child.stderr.on('data', (d) => (err += d));
    exited.then(({ code }) => reject(new Error(`serve-demo exited with ${code}: ${err}`)));
  });
  return { child, url, exited, stderr: () => err };
}

let model, server, base;
before(async () => {
  const dir = await tempDir(suite);
  const weights = path.join(dir, 'w70.safetensors');
  assert.equal((await runCli(['import', 'keras', path.join(SHARED, 'seed/keras/weights70.h5'), '-o', weights])).code, 0);
  model = path.join(dir, 'seed70.onnx');
  assert.equal((await runCli(['export', 'onnx', '--weights', weights, '-o', model, '--no-card'])).code, 0);
  server = startServer(['--model', model, '--port', '0']);
  suite.after(() => server.child.exitCode === null && server.child.signalCode === null && server.child.kill('SIGKILL'));
  base = await server.url;
});

test('engine serve-demo serves the page, the model, its metadata and onnxruntime-web, and nothing else', async () => {
  const page = await fetch(base);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy'), /default-src 'self'/);
  assert.match(await page.text(), /<input id="file" type="file"/);
  const info = await (await fetch(new URL('model-info.json', base))).json();
  assert.deepEqual(info.classes, ['man', 'woman']);
  assert.equal(info.source, path.basename(model), 'the model by name: no path of this machine');
  const bytes = Buffer.from(await (await fetch(new URL('model.onnx', base))).arrayBuffer());
  assert.deepEqual(bytes, await fs.readFile(model));
  const wasm = await fetch(new URL('ort/ort-wasm-simd-threaded.wasm', base));
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  await wasm.arrayBuffer();
  for (const p of ['package.json', 'ort/../../package.json', 'src/cli.ts', 'ort/ort.node.min.mjs']) assert.equal((await fetch(new URL(p, base))).status, 404, p);
  const busy = await runCli(['serve-demo', '--model', model, '--port', new URL(base).port]);
  assert.equal(busy.code, 2);
  assert.match(busy.stderr, /the port is in use/);
});

test('in headless Chromium the page classifies val images exactly as engine predict does', async (t) => {
  const reason = await browserSkipReason();
  if (reason) return t.skip(reason);
  const images = [];
  for (const cls of ['man', 'woman']) {
    const files = (await fs.readdir(path.join(CELEBA, 'val', cls))).sort();
    images.push(...[files[0], files[5], files[11]].map((f) => path.join(CELEBA, 'val', cls, f)));
  }
  images.push(path.join(SHARED, 'data', 'test1.jpg')); // 600x600 with an EXIF orientation
  const cli = await runCli(['predict', ...images, '--model', model, '--json']);
  assert.equal(cli.code, 0, cli.stderr);
  const expected = JSON.parse(cli.stdout);

  const context = await launchChromium(t);
  const tab = await context.newPage();
  const { requests, problems } = watchPage(tab);
  await tab.goto(base);
  await tab.waitForSelector('#status[data-state=ready]', { timeout: 60_000 });
  let worstPixel = 0;
  for (const [i, image] of images.entries()) {
    await tab.setInputFiles('#file', image);
    await tab.waitForFunction((name) => document.getElementById('result').dataset.file === name && document.getElementById('result').dataset.state === 'done', path.basename(image), { timeout: 30_000 });
    const shown = await tab.evaluate(() => ({ ...document.getElementById('result').dataset, input: Array.from(window.engineDemoLastInput) }));
    assert.equal(shown.class, expected[i].class, image);
    assert.ok(Math.abs(Number(shown.probability) - expected[i].probability) <= 1e-5, `${image}: browser ${shown.probability}, CLI ${expected[i].probability}`);
    const sharpPixels = await loadImageResized(image, 150, 150, new Uint8Array(150 * 150 * 3), { autoOrient: true });
    worstPixel = Math.max(worstPixel, shown.input.reduce((m, v, k) => Math.max(m, Math.abs(v - sharpPixels[k])), 0));
  }
  t.diagnostic(`largest difference between Chromium's and sharp's decoded, resized pixels: ${worstPixel} (of 255)`);
  assert.equal(worstPixel, 0, "Chromium's JPEG decode differs from sharp's");
  assert.deepEqual(problems, []);
  const origin = new URL(base).origin;
  assert.deepEqual(requests.filter((u) => !u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:')), []);
  await tab.screenshot({ path: path.join(await tempDir(t), 'demo.png') });
});

test('the page links the model card beside the model (served as MODEL_CARD.md); without one it says so, no dead link', async (t) => {
  const { serveDemo } = await import('../../dist/src/demo/serve.js');
  const dir = await tempDir(t);
  const weights = path.join(dir, 'w70.safetensors');
  assert.equal((await runCli(['import', 'keras', path.join(SHARED, 'seed/keras/weights70.h5'), '-o', weights])).code, 0);
  const exported = await runCli(['export', 'onnx', '--weights', weights, '--data', CELEBA]);
  assert.equal(exported.code, 0, exported.stderr);
  const card = await fs.readFile(path.join(dir, 'MODEL_CARD.md'), 'utf8');
  const withCard = await serveDemo({ model: path.join(dir, 'model.onnx'), port: 0 });
  t.after(() => withCard.close());
  const served = await fetch(new URL('MODEL_CARD.md', withCard.url));
  assert.equal(served.status, 200);
  assert.equal(served.headers.get('content-type'), 'text/markdown; charset=utf-8');
  assert.equal(await served.text(), card);
  assert.equal((await (await fetch(new URL('model-info.json', withCard.url))).json()).modelCard, 'MODEL_CARD.md');
  // the suite's server has a model exported with --no-card
  assert.equal((await fetch(new URL('MODEL_CARD.md', base))).status, 404);
  assert.equal((await (await fetch(new URL('model-info.json', base))).json()).modelCard, null);

  const reason = await browserSkipReason();
  if (reason) return t.skip(reason);
  const context = await launchChromium(t);
  const tab = await context.newPage();
  await tab.goto(withCard.url);
  await tab.waitForSelector('#status[data-state=ready]', { timeout: 60_000 });
  const [response] = await Promise.all([tab.waitForNavigation(), tab.click('#card')]);
  assert.equal(response.status(), 200);
  assert.ok((await tab.content()).includes('# Model card: seed7'));
  const bare = await context.newPage();
  await bare.goto(base);
  await bare.waitForSelector('#status[data-state=ready]', { timeout: 60_000 });
  assert.equal(await bare.$('#card'), null);
  assert.match(await bare.textContent('p.sub'), /none beside this model/);
});

test('serve-demo stops cleanly on SIGTERM', async () => {
  server.child.kill('SIGTERM');
  assert.deepEqual(await server.exited, { code: 0, signal: null }, server.stderr());
});

test('a --host that is not this machine or does not resolve: exit 2 with one line naming --host, no stack trace', async () => {
  for (const [host, reason] of [
    ['10.255.255.1', /not an address of this machine \(EADDRNOTAVAIL\)/],
    ['no.such.host.invalid', /no such host \((ENOTFOUND|EAI_AGAIN|EAI_FAIL|EAI_NONAME)\)/],
  ]) {
    const r = await runCli(['serve-demo', '--model', model, '--port', '0', '--host', host]);
    assert.equal(r.code, 2, `${host}: exit ${r.code}\n${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^engine: --host ${host.replace(/\./g, '\\.')}: `));
    assert.match(r.stderr, reason);
  }
  const { serveDemo } = await import('../../dist/src/demo/serve.js');
  const { UsageError } = await import('../../dist/src/errors.js');
  await assert.rejects(serveDemo({ model, port: 0, host: '10.255.255.1' }), (e) => e instanceof UsageError && /--host 10\.255\.255\.1/.test(e.message));
});
