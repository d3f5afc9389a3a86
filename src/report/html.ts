// The evaluation report as one self-contained HTML page: figures, confusion matrix, ROC and precision-recall
// curves as inline SVG, and the misclassified images as base64 thumbnails. Nothing is fetched: a
// Content-Security-Policy forbids every network source, so the page renders the same offline, in a mail
// attachment or in a CI artefact.
import path from 'node:path';
import sharp from 'sharp';
import { wilsonInterval } from '../eval/metrics.js';
import type { EvalReport } from '../eval/report.js';
import { checkOutputFile, writeOutputFile } from '../io/output.js';

/** Longest side of a thumbnail, in pixels. */
const THUMB = 112;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const pct = (x: number, d = 2) => (Number.isFinite(x) ? `${(x * 100).toFixed(d)}%` : 'n/a');

interface Series {
  points: [number, number][];
  color: string;
  /** draw as the step function AP integrates (precision of the right end over each recall interval) */
  steps?: boolean;
}

/** A unit-square plot (both axes 0..1) as an SVG element. */
function unitPlot(opts: { title: string; note?: string; xLabel: string; yLabel: string; series: Series[]; diagonal?: boolean; id: string }): string {
  const size = 320;
  const [left, top, right, bottom] = [48, opts.note ? 44 : 30, 14, 42];
  const w = size - left - right;
  const h = size - top - bottom;
  const X = (x: number) => (left + x * w).toFixed(1);
  const Y = (y: number) => (top + (1 - y) * h).toFixed(1);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const grid = ticks
    .map(
      (t) =>
        `<line x1="${X(t)}" y1="${Y(0)}" x2="${X(t)}" y2="${Y(1)}" class="grid"/><line x1="${X(0)}" y1="${Y(t)}" x2="${X(1)}" y2="${Y(t)}" class="grid"/>` +
        `<text x="${X(t)}" y="${Number(Y(0)) + 16}" text-anchor="middle">${t}</text><text x="${left - 6}" y="${Number(Y(t)) + 4}" text-anchor="end">${t}</text>`,
    )
    .join('');
  const paths = opts.series
    .map((s) => {
      if (s.points.length === 0) return '';
      let d = `M${X(s.points[0][0])},${Y(s.points[0][1])}`;
      for (const [x, y] of s.points.slice(1)) d += s.steps ? `V${Y(y)}H${X(x)}` : `L${X(x)},${Y(y)}`;
      return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.2" stroke-linejoin="round"/>`;
    })
    .join('');
  const diagonal = opts.diagonal ? `<line x1="${X(0)}" y1="${Y(0)}" x2="${X(1)}" y2="${Y(1)}" class="chance"/>` : '';
  return (
    `<svg id="${opts.id}" viewBox="0 0 ${size} ${size}" width="${size}" height="${size}" role="img" aria-label="${escapeHtml(opts.title)}">` +
    `<text x="${left + w / 2}" y="18" text-anchor="middle" class="title">${escapeHtml(opts.title)}</text>` +
    (opts.note ? `<text x="${left + w / 2}" y="33" text-anchor="middle">${escapeHtml(opts.note)}</text>` : '') +
    `<rect x="${left}" y="${top}" width="${w}" height="${h}" class="frame"/>${grid}${diagonal}${paths}` +
    `<text x="${left + w / 2}" y="${size - 6}" text-anchor="middle">${escapeHtml(opts.xLabel)}</text>` +
    `<text transform="translate(13 ${top + h / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(opts.yLabel)}</text></svg>`
  );
}

function confusionTable(r: EvalReport): string {
  const [neg, pos] = r.classes;
  const m = r.confusion.matrix;
  const max = Math.max(1, ...m.flat());
  const cellOf = (v: number, correct: boolean) => {
    const alpha = (0.12 + 0.7 * (v / max)).toFixed(2);
    const rgb = correct ? '46,125,50' : '198,40,40';
    return `<td style="background:rgba(${rgb},${alpha})" class="${correct ? 'hit' : 'miss'}">${v}</td>`;
  };
  return (
    `<table id="confusion" class="confusion"><caption>confusion matrix (rows: true class, columns: predicted)</caption>` +
    `<tr><th></th><th>${escapeHtml(neg)}</th><th>${escapeHtml(pos)}</th></tr>` +
    `<tr><th>${escapeHtml(neg)}</th>${cellOf(m[0][0], true)}${cellOf(m[0][1], false)}</tr>` +
    `<tr><th>${escapeHtml(pos)}</th>${cellOf(m[1][0], false)}${cellOf(m[1][1], true)}</tr></table>`
  );
}

/** A JPEG data: URL of the image, upright, at most THUMB pixels on its longest side. */
async function thumbnail(file: string): Promise<string | null> {
  try {
    const jpeg = await sharp(file).rotate().resize(THUMB, THUMB, { fit: 'inside' }).jpeg({ quality: 80 }).toBuffer();
    return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
  } catch {
    return null; // an image that cannot be read still gets its card, without a picture
  }
}

export interface HtmlReportOptions {
  /** page title; default 'engine eval: <dataset>' */
  title?: string;
  /** a line under the title (e.g. which run and checkpoint) */
  subtitle?: string;
}

export async function renderHtmlReport(r: EvalReport, opts: HtmlReportOptions = {}): Promise<string> {
  const [neg, pos] = r.classes;
  const [lo, hi] = wilsonInterval(r.correct, r.images);
  const title = opts.title ?? `engine eval: ${r.dataset}`;
  const figure = (label: string, value: string, note = '') =>
    `<div class="figure"><div class="label">${escapeHtml(label)}</div><div class="value">${value}</div><div class="note">${note}</div></div>`;
  const figures = [
    figure('accuracy', pct(r.accuracy), `${r.correct}/${r.images}; 95% CI ${pct(lo, 1)} to ${pct(hi, 1)}`),
    figure('mean AP', pct(r.rankedMAP), `ties grouped: ${pct(r.mAP)}`),
    ...r.classes.map((c) => figure(`AP ${c}`, pct(r.rankedAveragePrecision[c]), `ties grouped: ${pct(r.averagePrecision[c])}`)),
    figure('ROC AUC', Number.isFinite(r.rocAuc) ? r.rocAuc.toFixed(4) : 'n/a', `${r.images} images`),
  ].join('');
  const perClass = r.classes
    .map((c) => `<tr><th>${escapeHtml(c)}</th><td>${pct(r.perClass[c].precision)}</td><td>${pct(r.perClass[c].recall)}</td><td>${r.perClass[c].support}</td></tr>`)
    .join('');
  const roc = unitPlot({
    id: 'roc',
    title: `ROC, AUC ${Number.isFinite(r.rocAuc) ? r.rocAuc.toFixed(4) : 'n/a'}`,
    xLabel: 'false positive rate',
    yLabel: 'true positive rate',
    series: [{ points: r.curves.roc.map((p) => [p.fpr, p.tpr]), color: '#1565c0' }],
    diagonal: true,
  });
  const pr = unitPlot({
    id: 'pr',
    title: `precision-recall, class ${pos}`,
    note: `area under the steps: AP (ties grouped) ${pct(r.averagePrecision[pos])}`,
    xLabel: `recall (${pos})`,
    yLabel: `precision (${pos})`,
    series: [{ points: r.curves.pr.map((p) => [p.recall, p.precision]), color: '#6a1b9a', steps: true }],
  });
  const cards = await Promise.all(
    r.misclassified.map(async (m) => {
      const src = await thumbnail(path.join(r.dir, m.file));
      const img = src ? `<img src="${src}" alt="${escapeHtml(m.file)}">` : `<div class="noimg">cannot read</div>`;
      return (
        `<figure class="miss">${img}<figcaption><div class="file">${escapeHtml(m.file)}</div>` +
        `<div>${escapeHtml(m.label)} &rarr; <b>${escapeHtml(m.predicted)}</b></div><div>P(${escapeHtml(pos)}) = ${m.score.toFixed(4)}</div></figcaption></figure>`
      );
    }),
  );
  const misses = cards.length
    ? `<div class="misses">${cards.join('')}</div>`
    : '<p>none: every image was classified correctly.</p>';
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
.panel{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:12px}
table{border-collapse:collapse}th,td{padding:6px 12px;text-align:right}th{font-weight:600}
caption{caption-side:top;color:#555;font-size:12px;padding-bottom:6px;text-align:left}
table.confusion td{font-size:20px;font-weight:600;min-width:56px;text-align:center;border:2px solid #fff}
table.plain td,table.plain th{border-bottom:1px solid #eceff3}
svg text{font-size:11px;fill:#444}svg .title{font-size:13px;font-weight:600;fill:#1d1d1f}
svg .frame{fill:#fff;stroke:#9aa3ad}svg .grid{stroke:#eceff3}svg .chance{stroke:#9aa3ad;stroke-dasharray:4 4}
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
<p class="note">Predicted ${escapeHtml(pos)} iff P(${escapeHtml(pos)}) &gt; ${r.threshold}. AP ranks images by score with equal scores in file order; "ties grouped" is sklearn's average_precision_score. The interval is Wilson's 95% score interval for the accuracy.</p>
<h2>Confusion matrix and per-class figures</h2>
<div class="row"><div class="panel">${confusionTable(r)}</div>
<div class="panel"><table class="plain" id="per-class"><caption>per class</caption><tr><th></th><th>precision</th><th>recall</th><th>images</th></tr>${perClass}</table></div></div>
<h2>Curves</h2>
<div class="row"><div class="panel">${roc}</div><div class="panel">${pr}</div></div>
<h2 id="misclassified-title">Misclassified: ${r.misclassified.length} of ${r.images}</h2>
${misses}
<footer>model: ${escapeHtml(model.source)} (input [${model.inputShape.join(',')}] ${escapeHtml(model.dtype)} ${escapeHtml(model.layout)}; ${escapeHtml(model.provider)}) &middot; classes ${escapeHtml(neg)}, ${escapeHtml(pos)} &middot; written ${new Date().toISOString()}</footer>
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
