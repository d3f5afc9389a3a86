// The evaluation report as one self-contained HTML page, for any number of classes: figures, per-class table,
// the confusion matrix as a heat map, ROC and precision-recall curves per class as inline SVG, and the
// misclassified images as base64 thumbnails. Nothing is fetched: a
// Content-Security-Policy forbids every network source, so the page renders the same offline, in a mail
// attachment or in a CI artefact.
import path from 'node:path';
import sharp from 'sharp';
import { fixed4, pct, type EvalReport } from '../eval/report.js';
import { checkOutputFile, writeOutputFile } from '../io/output.js';

/** Longest side of a thumbnail, in pixels. */
const THUMB = 112;
/** Misclassified images shown as thumbnails at most (the most confident mistakes): the page stays a few MB. */
export const MAX_THUMBNAILS = 100;
/** Points of a curve closer than this to the last one drawn (in SVG pixels) are left out of its path. */
const CURVE_STEP_PX = 0.5;

/** matplotlib's tab10: ten colours told apart by most eyes; after ten they repeat, dashed. */
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

interface Series {
  name: string;
  points: [number, number][];
  /** index into PALETTE (dashed from the eleventh on) */
  index: number;
  /** draw as the step function AP integrates (precision of the right end over each recall interval) */
  steps?: boolean;
}

const colourOf = (i: number) => PALETTE[i % PALETTE.length];

/** A unit-square plot (both axes 0..1) as an SVG element. */
function unitPlot(opts: { title: string; note?: string; xLabel: string; yLabel: string; series: Series[]; diagonal?: boolean; id: string }): string {
  const size = 320;
  const [left, top, right, bottom] = [48, opts.note ? 44 : 30, 14, 42];
  const w = size - left - right;
  const h = size - top - bottom;
  const X = (x: number) => left + x * w;
  const Y = (y: number) => top + (1 - y) * h;
  const f = (v: number) => v.toFixed(1);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const grid = ticks
    .map(
      (t) =>
        `<line x1="${f(X(t))}" y1="${f(Y(0))}" x2="${f(X(t))}" y2="${f(Y(1))}" class="grid"/><line x1="${f(X(0))}" y1="${f(Y(t))}" x2="${f(X(1))}" y2="${f(Y(t))}" class="grid"/>` +
        `<text x="${f(X(t))}" y="${f(Y(0) + 16)}" text-anchor="middle">${t}</text><text x="${left - 6}" y="${f(Y(t) + 4)}" text-anchor="end">${t}</text>`,
    )
    .join('');
  const paths = opts.series
    .map((s) => {
      const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
      if (pts.length === 0) return '';
      let [lx, ly] = [X(pts[0][0]), Y(pts[0][1])];
      let d = `M${f(lx)},${f(ly)}`;
      pts.slice(1).forEach(([x, y], i) => {
        const [px, py] = [X(x), Y(y)];
        // thousands of images make thousands of points: the ones that would not move the pen are left out
        if (i < pts.length - 2 && Math.abs(px - lx) < CURVE_STEP_PX && Math.abs(py - ly) < CURVE_STEP_PX) return;
        d += s.steps ? `${f(py) === f(ly) ? '' : `V${f(py)}`}H${f(px)}` : `L${f(px)},${f(py)}`;
        [lx, ly] = [px, py];
      });
      const dash = s.index >= PALETTE.length ? ' stroke-dasharray="5 3"' : '';
      return `<path d="${d}" fill="none" stroke="${colourOf(s.index)}"${dash} stroke-width="2" stroke-linejoin="round" data-class="${escapeHtml(s.name)}"/>`;
    })
    .join('');
  const diagonal = opts.diagonal ? `<line x1="${f(X(0))}" y1="${f(Y(0))}" x2="${f(X(1))}" y2="${f(Y(1))}" class="chance"/>` : '';
  return (
    `<svg id="${opts.id}" viewBox="0 0 ${size} ${size}" width="${size}" height="${size}" role="img" aria-label="${escapeHtml(opts.title)}">` +
    `<text x="${left + w / 2}" y="18" text-anchor="middle" class="title">${escapeHtml(opts.title)}</text>` +
    (opts.note ? `<text x="${left + w / 2}" y="33" text-anchor="middle">${escapeHtml(opts.note)}</text>` : '') +
    `<rect x="${left}" y="${top}" width="${w}" height="${h}" class="frame"/>${grid}${diagonal}${paths}` +
    `<text x="${left + w / 2}" y="${size - 6}" text-anchor="middle">${escapeHtml(opts.xLabel)}</text>` +
    `<text transform="translate(13 ${top + h / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(opts.yLabel)}</text></svg>`
  );
}

/** The key of a plot's series: a colour swatch and a label per class. */
function legend(id: string, items: { index: number; label: string }[]): string {
  const li = items.map(
    (it) =>
      `<li><span class="swatch${it.index >= PALETTE.length ? ' dashed' : ''}" style="border-color:${colourOf(it.index)}"></span>${escapeHtml(it.label)}</li>`,
  );
  return `<ul class="legend" id="${id}">${li.join('')}</ul>`;
}

/**
 * The confusion matrix as a heat map: each cell's colour is its share of the true class (its row), the count is
 * written in it, and its title says both in words.
 */
function confusionTable(r: EvalReport): string {
  const { classes, matrix, normalized } = r.confusion;
  const wide = classes.length > 2;
  const head = classes.map((c) => `<th scope="col" class="${wide ? 'col' : ''}"><span>${escapeHtml(c)}</span></th>`).join('');
  const rows = matrix.map((row, t) => {
    const cells = row.map((v, p) => {
      const share = normalized[t][p];
      const alpha = Number.isFinite(share) ? share : 0;
      const style = `background:rgba(21,101,192,${(0.04 + 0.9 * alpha).toFixed(3)});color:${alpha > 0.5 ? '#fff' : '#1d1d1f'}`;
      const title = `true ${classes[t]}, predicted ${classes[p]}: ${v} (${pct(share, 1)} of ${classes[t]})`;
      return `<td style="${style}" class="${t === p ? 'hit' : 'miss'}" title="${escapeHtml(title)}">${v}</td>`;
    });
    return `<tr><th scope="row">${escapeHtml(classes[t])}</th>${cells.join('')}</tr>`;
  });
  return (
    `<table id="confusion" class="confusion${wide ? ' wide' : ''}"><caption>confusion matrix: rows are the true class, columns the predicted one; ` +
    `colour: share of the row</caption><tr><th></th>${head}</tr>${rows.join('')}</table>`
  );
}

function perClassTable(r: EvalReport): string {
  const rows = r.classes.map((c) => {
    const f = r.perClass[c];
    return (
      `<tr><th scope="row">${escapeHtml(c)}</th><td>${pct(r.rankedAveragePrecision[c])}</td><td>${pct(r.averagePrecision[c])}</td>` +
      `<td>${fixed4(r.rocAucPerClass[c])}</td><td>${pct(f.precision)}</td><td>${pct(f.recall)}</td><td>${pct(f.f1)}</td><td>${f.support}</td></tr>`
    );
  });
  return (
    `<table class="plain" id="per-class"><caption>per class, one against the rest</caption><tr><th></th><th>AP</th><th>AP, ties grouped</th>` +
    `<th>ROC AUC</th><th>precision</th><th>recall</th><th>F1</th><th>images</th></tr>${rows.join('')}</table>`
  );
}

function confusedPairsTable(r: EvalReport): string {
  if (r.classes.length === 2 || r.confusedPairs.length === 0) return '';
  const rows = r.confusedPairs
    .slice(0, 10)
    .map((p) => `<tr><th scope="row">${escapeHtml(p.label)} &rarr; ${escapeHtml(p.predicted)}</th><td>${p.count}</td><td>${pct(p.share, 1)}</td></tr>`);
  return (
    `<div class="panel"><table class="plain" id="confused-pairs"><caption>most confused (of ${r.confusedPairs.length} pairs)</caption>` +
    `<tr><th>true &rarr; predicted</th><th>images</th><th>share of the true class</th></tr>${rows.join('')}</table></div>`
  );
}

/** A JPEG data: URL of the image, upright, THUMB pixels on its longest side (small images enlarged with crisp pixels). */
async function thumbnail(file: string): Promise<string | null> {
  try {
    const image = sharp(file).rotate();
    const { width = THUMB, height = THUMB } = await sharp(file).metadata();
    const kernel = Math.max(width, height) < THUMB ? 'nearest' : 'lanczos3';
    const jpeg = await image.resize(THUMB, THUMB, { fit: 'inside', kernel }).jpeg({ quality: 80 }).toBuffer();
    return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
  } catch {
    return null; // an image that cannot be read still gets its card, without a picture
  }
}

/** The cards of the misclassified images: all of them, or the MAX_THUMBNAILS most confident mistakes. */
async function missCards(r: EvalReport): Promise<{ cards: string[]; note: string }> {
  const pos = r.classes[1];
  const misses = r.misclassified.length > MAX_THUMBNAILS ? [...r.misclassified].sort((a, b) => b.probability - a.probability).slice(0, MAX_THUMBNAILS) : r.misclassified;
  const cards = await Promise.all(
    misses.map(async (m) => {
      const src = await thumbnail(path.join(r.dir, m.file));
      const img = src ? `<img src="${src}" alt="${escapeHtml(m.file)}">` : `<div class="noimg">cannot read</div>`;
      const p = m.score !== undefined ? `P(${escapeHtml(pos)}) = ${m.score.toFixed(4)}` : `P(${escapeHtml(m.predicted)}) = ${m.probability.toFixed(4)}`;
      return (
        `<figure class="miss">${img}<figcaption><div class="file">${escapeHtml(m.file)}</div>` +
        `<div>${escapeHtml(m.label)} &rarr; <b>${escapeHtml(m.predicted)}</b></div><div>${p}</div></figcaption></figure>`
      );
    }),
  );
  const note = misses.length < r.misclassified.length ? `<p>The ${misses.length} most confident mistakes (--json lists all).</p>` : '';
  return { cards, note };
}

export interface HtmlReportOptions {
  /** page title; default 'engine eval: <dataset>' */
  title?: string;
  /** a line under the title (e.g. which run and checkpoint) */
  subtitle?: string;
}

export async function renderHtmlReport(r: EvalReport, opts: HtmlReportOptions = {}): Promise<string> {
  const curves = r.curves;
  if (!curves) throw new TypeError('the report has no curves to draw: evaluate it with curves (the default)');
  const binary = r.classes.length === 2;
  const pos = r.classes[1];
  const [lo, hi] = r.accuracyInterval;
  const title = opts.title ?? `engine eval: ${r.dataset}`;
  const figure = (label: string, value: string, note = '') =>
    `<div class="figure"><div class="label">${escapeHtml(label)}</div><div class="value">${value}</div><div class="note">${note}</div></div>`;
  const figures = [
    figure('accuracy', pct(r.accuracy), `${r.correct}/${r.images}; 95% CI ${pct(lo, 1)} to ${pct(hi, 1)}`),
    ...r.topK.map((t) => figure(`top-${t.k} accuracy`, pct(t.accuracy), `${t.correct}/${r.images}`)),
    figure('mean AP', pct(r.rankedMAP), `ties grouped: ${pct(r.mAP)}`),
    ...(binary ? r.classes.map((c) => figure(`AP ${c}`, pct(r.rankedAveragePrecision[c]), `ties grouped: ${pct(r.averagePrecision[c])}`)) : []),
    figure('ROC AUC', fixed4(r.rocAuc), binary ? `${r.images} images` : 'macro mean, one class against the rest'),
  ].join('');
  // a 2-class model's ROC is its P(class 1)'s (the other class's is the same curve turned over)
  const rocClasses = binary ? [1] : r.classes.map((_, i) => i);
  const roc = unitPlot({
    id: 'roc',
    title: `ROC, AUC ${fixed4(r.rocAuc)}${binary ? '' : ' (macro)'}`,
    xLabel: 'false positive rate',
    yLabel: 'true positive rate',
    series: rocClasses.map((i) => ({ name: r.classes[i], index: i, points: curves[r.classes[i]].roc.map((p) => [p.fpr, p.tpr]) })),
    diagonal: true,
  });
  const pr = unitPlot({
    id: 'pr',
    title: 'precision-recall per class',
    note: `area under the steps: AP, ties grouped`,
    xLabel: 'recall',
    yLabel: 'precision',
    series: r.classes.map((c, i) => ({ name: c, index: i, points: curves[c].pr.map((p) => [p.recall, p.precision]), steps: true })),
  });
  const rocKey = legend('roc-legend', rocClasses.map((i) => ({ index: i, label: `${r.classes[i]}: AUC ${fixed4(r.rocAucPerClass[r.classes[i]])}` })));
  const prKey = legend('pr-legend', r.classes.map((c, i) => ({ index: i, label: `${c}: AP ${pct(r.averagePrecision[c])}` })));
  const { cards, note } = await missCards(r);
  const misses = cards.length ? `${note}<div class="misses">${cards.join('')}</div>` : '<p>none: every image was classified correctly.</p>';
  const decision = binary
    ? `Predicted ${escapeHtml(pos)} iff P(${escapeHtml(pos)}) &gt; ${r.threshold}.`
    : 'Predicted: the most probable class (the first of equal ones).';
  const model = r.model;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d1d1f;margin:0;background:#f5f6f8}
main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 10px}
.sub{color:#555;margin:0 0 18px;word-break:break-all}
.figures{display:flex;flex-wrap:wrap;gap:12px}
.figure{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:10px 14px;min-width:150px}
.figure .label{color:#555;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.figure .value{font-size:24px;font-weight:600}.figure .note{color:#666;font-size:12px}
.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.panel{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:12px;max-width:100%;overflow-x:auto;box-sizing:border-box}
table{border-collapse:collapse}th,td{padding:6px 12px;text-align:right}th{font-weight:600}
caption{caption-side:top;color:#555;font-size:12px;padding-bottom:6px;text-align:left}
table.confusion td{font-size:18px;font-weight:600;min-width:44px;text-align:center;border:2px solid #fff;font-variant-numeric:tabular-nums}
table.confusion.wide td{font-size:13px;min-width:34px;padding:6px 4px}
table.confusion th.col{vertical-align:bottom;padding:4px 2px}
table.confusion th.col span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;display:inline-block}
table.confusion td.hit{outline:2px solid #1d1d1f;outline-offset:-3px}
table.plain td,table.plain th{border-bottom:1px solid #eceff3}
table.plain td{font-variant-numeric:tabular-nums}
svg text{font-size:11px;fill:#444}svg .title{font-size:13px;font-weight:600;fill:#1d1d1f}
svg .frame{fill:#fff;stroke:#9aa3ad}svg .grid{stroke:#eceff3}svg .chance{stroke:#9aa3ad;stroke-dasharray:4 4}
ul.legend{list-style:none;margin:6px 0 0;padding:0;font-size:12px;max-width:320px}
ul.legend li{break-inside:avoid;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.swatch{display:inline-block;width:18px;border-top:3px solid;vertical-align:middle;margin-right:6px}.swatch.dashed{border-top-style:dashed}
.misses{display:flex;flex-wrap:wrap;gap:12px}
figure.miss{margin:0;background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:8px;width:136px;text-align:center}
figure.miss img{max-width:${THUMB}px;max-height:${THUMB}px;border-radius:4px;display:block;margin:0 auto 6px}
figcaption{font-size:12px}figcaption .file{color:#555;word-break:break-all}
.noimg{height:${THUMB}px;display:flex;align-items:center;justify-content:center;color:#999}
footer{color:#666;font-size:12px;margin-top:28px;word-break:break-all}
</style></head>
<body><main>
<h1>${escapeHtml(title)}</h1>
<p class="sub">${escapeHtml(opts.subtitle ?? `${r.images} images of ${r.dir}`)}</p>
<section class="figures" id="figures">${figures}</section>
<p class="note">${decision} AP ranks each class's images by score, one class against the rest, with equal scores in file order; "ties grouped" is sklearn's average_precision_score, which counts equal scores as one step. The interval is Wilson's 95% score interval for the accuracy.</p>
<h2>Per class</h2>
<div class="row"><div class="panel">${perClassTable(r)}</div></div>
<h2>Confusion matrix</h2>
<div class="row"><div class="panel">${confusionTable(r)}</div>${confusedPairsTable(r)}</div>
<h2>Curves</h2>
<div class="row"><div class="panel">${roc}${rocKey}</div><div class="panel">${pr}${prKey}</div></div>
<h2 id="misclassified-title">Misclassified: ${r.misclassified.length} of ${r.images}</h2>
${misses}
<footer>model: ${escapeHtml(model.source)} (input [${model.inputShape.join(',')}] ${escapeHtml(model.dtype)} ${escapeHtml(model.layout)}; ${escapeHtml(model.head)} head; ${escapeHtml(model.provider)}) &middot; classes ${r.classes.map(escapeHtml).join(', ')} &middot; written ${new Date().toISOString()}</footer>
</main></body></html>
`;
}

/** Writes the page atomically (creating its folder); returns its path. A failure is an InputError naming --html. */
export async function writeHtmlReport(file: string, r: EvalReport, opts: HtmlReportOptions = {}): Promise<string> {
  const out = path.resolve(file);
  await checkHtmlTarget(file);
  await writeOutputFile('--html', out, await renderHtmlReport(r, opts));
  return out;
}

/** Refuses an --html target that cannot be written (a folder, a parent that cannot be created), before any long work. */
export async function checkHtmlTarget(file: string): Promise<void> {
  await checkOutputFile('--html', file, { folderHint: 'name the .html file to write' });
}
