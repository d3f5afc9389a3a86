import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { historySvg, renderHistoryPng, writeHistoryPlot } from '../dist/src/report/plot.js';
import { UsageError } from '../dist/src/errors.js';

// 30 epochs of made-up curves; val loss is lowest at epoch 12
const rows = Array.from({ length: 30 }, (_, i) => {
  const e = i + 1;
  return {
    epoch: e,
    loss: 0.7 * Math.exp(-e / 15),
    acc: 0.6 + 0.35 * (1 - Math.exp(-e / 10)),
    val_loss: 0.3 + 0.002 * (e - 12) ** 2,
    val_acc: 0.7 + 0.2 * (1 - Math.exp(-e / 8)),
    seconds: 2,
  };
});

test('historySvg draws train and val for loss and accuracy, a legend and the best epoch', () => {
  const svg = historySvg(rows);
  assert.match(svg, /^<svg [^>]*width="1000" height="420"/);
  for (const name of ['train loss', 'val loss', 'train acc', 'val acc']) {
    assert.match(svg, new RegExp(`<g class="series" data-name="${name}"><polyline points="([\\d.]+,[\\d.]+ ){29}[\\d.]+,[\\d.]+"`), name);
    assert.match(svg, new RegExp(`<text [^>]*>${name}</text>`), `legend ${name}`);
  }
  assert.match(svg, />best val loss 0\.300 \(epoch 12\)</);
  // the marker sits on the val loss curve's 12th point
  const points = svg.match(/data-name="val loss"><polyline points="([^"]+)"/)[1].split(' ');
  const [cx, cy] = points[11].split(',');
  assert.ok(svg.includes(`<circle cx="${cx}" cy="${cy}" r="5" fill="#d62728"`), `no marker at ${cx},${cy}`);
  assert.match(svg, />epoch</);
});

test('historySvg escapes text and rejects sizes it cannot lay out', () => {
  const svg = historySvg(rows, { title: `a<b> & "c" 'd'` });
  assert.ok(svg.includes('>a&lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;</text>'));
  assert.throws(() => historySvg(rows, { width: 100 }), UsageError);
  assert.throws(() => historySvg(rows, { height: 400.5 }), UsageError);
});

test('historySvg breaks a series at non-finite values and copes with no epochs', () => {
  const gap = rows.map((r, i) => (i === 10 ? { ...r, val_loss: NaN } : r));
  const svg = historySvg(gap);
  const valLoss = svg.match(/data-name="val loss">(.*?)<\/g>/)[1];
  assert.equal(valLoss.match(/<polyline/g).length, 2);
  assert.doesNotMatch(svg, /NaN|Infinity/);
  assert.doesNotMatch(historySvg([]), /NaN|Infinity|polyline/);
});

test('renderHistoryPng gives a PNG of the stated size with both curves', async () => {
  const png = await renderHistoryPng(rows, { width: 800, height: 400 });
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.width, 800);
  assert.equal(info.height, 400);
  const at = (x, y) => {
    const o = (y * info.width + x) * info.channels;
    return [data[o], data[o + 1], data[o + 2]];
  };
  const colours = new Set();
  let blue = 0;
  let orange = 0;
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      const [r, g, b] = at(x, y);
      colours.add((r << 16) | (g << 8) | b);
      if (b > 150 && r < 80) blue++;
      if (r > 220 && g > 100 && g < 160 && b < 60) orange++;
    }
  }
  assert.ok(colours.size > 20, `only ${colours.size} colours`);
  assert.ok(blue > 300, `train curves: ${blue} blue pixels`);
  assert.ok(orange > 300, `val curves: ${orange} orange pixels`);
});

/** Horizontal extent, in pixels, of the dark ink in the title band. */
async function titleInkWidth(title) {
  const png = await renderHistoryPng(rows, { width: 600, height: 300, title });
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  let min = Infinity;
  let max = -Infinity;
  for (let y = 0; y < 34; y++) {
    for (let x = 0; x < info.width; x++) {
      const o = (y * info.width + x) * info.channels;
      if (data[o] < 100 && data[o + 1] < 100 && data[o + 2] < 100) (min = Math.min(min, x)), (max = Math.max(max, x));
    }
  }
  return max - min;
}

test('text is drawn with a real font', async () => {
  // With no usable font librsvg draws same-size "tofu" boxes, so a narrow and a wide glyph would match.
  const narrow = await titleInkWidth('iiiiiiiiii');
  const wide = await titleInkWidth('WWWWWWWWWW');
  assert.ok(narrow > 10 && wide > 2.5 * narrow, `title ink widths: iiii ${narrow}px, WWWW ${wide}px`);
});

test('writeHistoryPlot writes only the PNG file', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'engine-plot-'));
  try {
    const file = path.join(dir, 'history.png');
    await writeHistoryPlot(file, rows);
    assert.deepEqual(await readdir(dir), ['history.png']);
    const meta = await sharp(await readFile(file)).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 1000);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
