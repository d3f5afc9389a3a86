// The HTML report of a model of more than two classes, its structure (test/system/html-report.test.mjs renders
// it in headless Chromium): Fashion-MNIST's ten class names, the confusion matrix as a heat map coloured by the
// row's share with the counts in its cells, a ROC and a PR curve per class with their keys, the most confused
// pairs, and thumbnails of the most confident mistakes when there are too many for one page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderHtmlReport, MAX_THUMBNAILS } from '../dist/src/report/html.js';
import { tempDir } from './helpers.mjs';
import { FASHION_CLASSES, syntheticReport } from './nclass.mjs';

const escapeHtml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const count = (html, re) => html.match(re)?.length ?? 0;

test('10 classes: the heat map holds every count, coloured by its share of the row; a curve and a key entry per class', async (t) => {
  const report = await syntheticReport(await tempDir(t), FASHION_CLASSES, { n: 200, seed: 5 });
  assert.ok(report.misclassified.length > 20 && report.misclassified.length < MAX_THUMBNAILS, `${report.misclassified.length} mistakes`);
  const html = await renderHtmlReport(report);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'; img-src data:/);
  assert.doesNotMatch(html, /(src|href)\s*=\s*["'](?!data:)/, 'every resource is inline');
  assert.doesNotMatch(html, /https?:\/\//);

  const table = html.slice(html.indexOf('<table id="confusion"'), html.indexOf('</table>', html.indexOf('<table id="confusion"')));
  const cells = [...table.matchAll(/<td style="background:rgba\(21,101,192,([\d.]+)\);[^"]*" class="(hit|miss)" title="([^"]*)">(\d+)<\/td>/g)];
  assert.equal(cells.length, 100);
  cells.forEach((m, i) => {
    const [t_, p] = [Math.floor(i / 10), i % 10];
    assert.equal(Number(m[4]), report.confusion.matrix[t_][p], `cell ${t_},${p}`);
    assert.equal(m[2], t_ === p ? 'hit' : 'miss');
    assert.equal(Number(m[1]), +(0.04 + 0.9 * report.confusion.normalized[t_][p]).toFixed(3), `colour of ${t_},${p}`);
    assert.equal(m[3], escapeHtml(`true ${FASHION_CLASSES[t_]}, predicted ${FASHION_CLASSES[p]}: ${m[4]} (${(report.confusion.normalized[t_][p] * 100).toFixed(1)}% of ${FASHION_CLASSES[t_]})`));
  });
  // every name as a column and a row header, rotated columns for more than 2 classes
  for (const c of FASHION_CLASSES) {
    assert.ok(table.includes(`<th scope="col" class="col"><span>${escapeHtml(c)}</span></th>`), c);
    assert.ok(table.includes(`<th scope="row">${escapeHtml(c)}</th>`), c);
  }
  for (const id of ['roc', 'pr']) {
    const svg = html.slice(html.indexOf(`<svg id="${id}"`), html.indexOf('</svg>', html.indexOf(`<svg id="${id}"`)));
    assert.deepEqual([...svg.matchAll(/data-class="([^"]*)"/g)].map((m) => m[1]), FASHION_CLASSES.map(escapeHtml), id);
    const key = html.slice(html.indexOf(`<ul class="legend" id="${id}-legend">`), html.indexOf('</ul>', html.indexOf(`id="${id}-legend"`)));
    assert.equal(count(key, /<li>/g), 10, `${id} key`);
  }
  assert.ok(html.includes(`T-shirt/top: AP ${(report.averagePrecision['T-shirt/top'] * 100).toFixed(2)}%`));
  assert.equal(count(html.slice(html.indexOf('id="per-class"'), html.indexOf('</table>', html.indexOf('id="per-class"'))), /<tr><th scope="row">/g), 10);
  // the figures: accuracy with its interval, top-2 to top-5, the mean AP, the macro AUC
  for (const k of [2, 3, 4, 5]) assert.ok(html.includes(`top-${k} accuracy`), `top-${k}`);
  assert.ok(html.includes('macro mean, one class against the rest'));
  const [top] = report.confusedPairs;
  assert.ok(html.includes(`<tr><th scope="row">${escapeHtml(top.label)} &rarr; ${escapeHtml(top.predicted)}</th><td>${top.count}</td>`), 'most confused pair');
  // one thumbnail per mistake, its caption the predicted class's probability
  assert.equal(count(html, /<img src="data:image\/jpeg;base64,/g), report.misclassified.length);
  for (const m of report.misclassified) assert.ok(html.includes(`<div>P(${escapeHtml(m.predicted)}) = ${m.probability.toFixed(4)}</div>`), m.file);
  assert.ok(html.includes(`Misclassified: ${report.misclassified.length} of 200`));
});

test(`more mistakes than ${MAX_THUMBNAILS}: thumbnails of the most confident ones, and the page says so`, async (t) => {
  const report = await syntheticReport(await tempDir(t), FASHION_CLASSES, { n: 900, seed: 8 });
  assert.ok(report.misclassified.length > MAX_THUMBNAILS, `${report.misclassified.length} mistakes`);
  const html = await renderHtmlReport(report);
  assert.equal(count(html, /<figure class="miss">/g), MAX_THUMBNAILS);
  assert.ok(html.includes(`The ${MAX_THUMBNAILS} most confident mistakes (--json lists all).`));
  const shown = [...html.matchAll(/<div>P\([^)]*\) = (0\.\d{4})<\/div>/g)].map((m) => Number(m[1]));
  assert.deepEqual(shown, [...shown].sort((a, b) => b - a), 'most confident first');
  const least = Math.min(...report.misclassified.map((m) => m.probability));
  assert.ok(shown.at(-1) > least, 'the least confident mistakes are left out');
  assert.ok(html.length < 1.5e6, `${html.length} bytes`);
});

test('class names are escaped everywhere', async (t) => {
  const classes = ['<b>bold</b>', 'a & b', '"quoted"'];
  const html = await renderHtmlReport(await syntheticReport(await tempDir(t), classes, { n: 30, seed: 2 }));
  assert.doesNotMatch(html, /<b>bold<\/b>|a & b|"quoted"/);
  assert.ok(html.includes('&lt;b&gt;bold&lt;/b&gt;') && html.includes('a &amp; b') && html.includes('&quot;quoted&quot;'));
});
