// `engine eval --html` and `engine train --html`: a self-contained page (no network, CSP-locked) holding the
// figures, the confusion matrix, both curves and a thumbnail per misclassified image; rendered in headless
// Chromium where it is installed (skipped, with the reason, where it is not), for the seed's 2 classes and for
// Fashion-MNIST's 10 class names (test/html-report-nclass.test.mjs checks that page's structure).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CELEBA, SHARED, runCli, smallDataset, tempDir } from '../helpers.mjs';
import { browserSkipReason, launchChromium, watchPage } from '../browser.mjs';
import { writeHtmlReport } from '../../dist/src/report/html.js';
import { FASHION_CLASSES, syntheticReport } from '../nclass.mjs';

const cleanups = [];
const suite = { after: (fn) => cleanups.push(fn) };
after(() => Promise.all(cleanups.map((fn) => fn())));

// The seed's own weights on val: 72/75, confusion [[21, 2], [1, 51]] (README, "Quickstart").
let dir, page, report;
before(async () => {
  dir = await tempDir(suite);
  const weights = path.join(dir, 'w70.safetensors');
  assert.equal((await runCli(['import', 'keras', path.join(SHARED, 'seed/keras/weights70.h5'), '-o', weights])).code, 0);
  page = path.join(dir, 'reports', 'val.html');
  const r = await runCli(['eval', 'val', '--data', CELEBA, '--weights', weights, '--json', '--html', page]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.trim(), `wrote ${page}`);
  report = JSON.parse(r.stdout);
});

test('the page holds the figures, the confusion matrix, both curves and one inline thumbnail per misclassified image', async () => {
  const html = await fs.readFile(page, 'utf8');
  assert.deepEqual(report.confusion.matrix, [[21, 2], [1, 51]]);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'; img-src data:/);
  assert.doesNotMatch(html, /(src|href)\s*=\s*["'](?!data:)/, 'every resource is inline');
  assert.doesNotMatch(html, /https?:\/\//);
  for (const s of ['96.00%', '72/75; 95% CI 88.9% to 98.6%', 'AUC 0.9603', '94.44%', 'Misclassified: 3 of 75'])
    assert.ok(html.includes(s), s);
  assert.equal(html.match(/<img src="data:image\/jpeg;base64,/g)?.length, 3);
  for (const m of report.misclassified) assert.ok(html.includes(`${m.file}</div>`) && html.includes(`= ${m.score.toFixed(4)}</div>`), m.file);
  assert.equal(html.match(/<svg id="(roc|pr)"/g)?.length, 2);
  // 2 classes: the ROC of P(woman); a precision-recall curve for each class
  assert.equal(html.match(/<path [^>]*data-class="/g)?.length, 3);
});

test('engine train --html writes the page for its best checkpoint on val; a folder as --html is refused before training', async (t) => {
  const data = await smallDataset(t);
  const out = path.join(await tempDir(t), 'run');
  const target = path.join(out, 'report.html');
  const r = await runCli(['train', '--data', data, '--epochs', '1', '--seed', '4', '--save-every', '0', '--out', out, '--html', target]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.trim().endsWith(`wrote ${target}`), r.stdout);
  const ev = await runCli(['eval', 'val', '--data', data, '--weights', path.join(out, 'best.safetensors'), '--json']);
  const expected = JSON.parse(ev.stdout);
  const html = await fs.readFile(target, 'utf8');
  assert.ok(html.includes(`Misclassified: ${expected.misclassified.length} of 8`));
  assert.ok(html.includes('best.safetensors (epoch 1, the lowest validation loss)'));

  const refused = await runCli(['train', '--data', data, '--epochs', '1', '--out', path.join(out, 'x'), '--html', out]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--html .* is a folder/);
  await assert.rejects(fs.access(path.join(out, 'x')));
});

/**
 * The page in headless Chromium (1100 x 900), once it has loaded nothing but itself and its data: URLs and
 * logged no error, and its confusion matrix shows the report's counts.
 */
async function openPage(t, file, report) {
  const context = await launchChromium(t, { viewport: { width: 1100, height: 900 } });
  const tab = await context.newPage();
  const { requests, problems } = watchPage(tab);
  const url = pathToFileURL(file).href;
  await tab.goto(url);
  assert.deepEqual(requests.filter((u) => !u.startsWith('data:')), [url]);
  assert.deepEqual(problems, []);
  const cells = await tab.locator('#confusion td').allTextContents();
  assert.deepEqual(cells.map(Number), report.confusion.matrix.flat());
  return tab;
}

test('the page renders in headless Chromium without a request or an error; screenshot', async (t) => {
  const reason = await browserSkipReason();
  if (reason) return t.skip(reason);
  const tab = await openPage(t, page, report);
  const thumbs = await tab.locator('figure.miss img').evaluateAll((imgs) => imgs.map((i) => [i.complete, i.naturalWidth, i.naturalHeight]));
  assert.equal(thumbs.length, 3);
  for (const [complete, w, h] of thumbs) assert.ok(complete && w > 50 && h > 50 && Math.max(w, h) === 112, `${w}x${h}`);
  for (const id of ['roc', 'pr']) {
    const box = await tab.locator(`svg#${id}`).boundingBox();
    assert.ok(box && box.width >= 300 && box.height >= 300, id);
    assert.ok((await tab.locator(`svg#${id} path`).first().getAttribute('d')).length > 50, id);
  }
  const png = path.join(dir, 'report.png');
  await tab.screenshot({ path: png, fullPage: true });
  assert.ok((await fs.stat(png)).size > 50_000);
});

test('10 classes (Fashion-MNIST names) render in headless Chromium: the heat map, every curve and key, the thumbnails, no sideways scrolling', async (t) => {
  const reason = await browserSkipReason();
  if (reason) return t.skip(reason);
  const out = await tempDir(t);
  const report = await syntheticReport(path.join(out, 'images'), FASHION_CLASSES, { n: 200, seed: 5 });
  const file = await writeHtmlReport(path.join(out, 'fashion.html'), report);
  const tab = await openPage(t, file, report);
  // readable: the page does not scroll sideways, each rotated column name fits its header, each cell its count
  const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than the window`);
  const heads = await tab.locator('#confusion th.col').evaluateAll((ths) => ths.map((th) => [th.textContent, th.getBoundingClientRect().height, th.querySelector('span').getBoundingClientRect().height]));
  assert.deepEqual(heads.map((h) => h[0]), FASHION_CLASSES);
  for (const [name, th, span] of heads) assert.ok(span <= th && span > 20, `${name}: ${span} px in a ${th} px header`);
  const tight = await tab.locator('#confusion td').evaluateAll((tds) => tds.filter((td) => td.scrollWidth > td.clientWidth).length);
  assert.equal(tight, 0, 'a count overflows its cell');
  for (const id of ['roc', 'pr']) {
    assert.equal(await tab.locator(`svg#${id} path[data-class]`).count(), 10, id);
    const key = await tab.locator(`#${id}-legend li`).evaluateAll((lis) => lis.map((li) => [li.textContent, li.scrollWidth <= li.clientWidth]));
    assert.equal(key.length, 10, `${id} key`);
    for (const [text, fits] of key) assert.ok(fits, `${id} key entry cut: ${text}`);
  }
  const thumbs = await tab.locator('figure.miss img').evaluateAll((imgs) => imgs.map((i) => [i.complete, i.naturalWidth, i.naturalHeight]));
  assert.equal(thumbs.length, report.misclassified.length);
  for (const [complete, w, h] of thumbs) assert.ok(complete && w === 112 && h === 112, `${w}x${h}`);
  const png = path.join(out, 'fashion.png');
  await tab.screenshot({ path: png, fullPage: true });
  assert.ok((await fs.stat(png)).size > 50_000);
  if (process.env.ENGINE_KEEP_SCREENSHOTS) await fs.copyFile(png, path.join(process.env.ENGINE_KEEP_SCREENSHOTS, 'fashion.png'));
});
