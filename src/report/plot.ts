import sharp from 'sharp';
import { UsageError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { Monitor } from '../model/spec.js';
import { bestEpoch, type EpochRecord } from '../store/history.js';

export interface PlotOptions {
  title?: string;
  /** the figure whose best epoch is marked (default val_loss, the seed's) */
  monitor?: Monitor;
  width?: number;
  height?: number;
}

// librsvg (inside sharp) resolves fonts through fontconfig; a list of common families plus the generic
// one gives text on any machine that has some sans font installed.
const FONT = "'DejaVu Sans', 'Liberation Sans', Arial, sans-serif";
const TRAIN = '#1f77b4';
const VAL = '#ff7f0e';
const BEST = '#d62728';
const AXIS = '#333333';
const GRID = '#e4e4e4';

interface Box { x: number; y: number; w: number; h: number }
interface Series { name: string; color: string; values: number[] }
interface Scale { lo: number; hi: number; ticks: number[]; decimals: number }
interface Panel { name: string; box: Box; series: Series[]; markBest: boolean }
interface LegendEntry { label: string; color: string; kind: 'line' | 'dashed' | 'dot' }
interface LegendItem { entry: LegendEntry; x: number; row: number }

const PAD_LEFT = 64; // y tick labels and axis label
const PAD_RIGHT = 18;
const PAD_BOTTOM = 46; // x tick labels and axis label
const LEGEND_ROW = 18;

/** The seed's "Figure 2": loss and accuracy, train and val, against epoch, with the best epoch (by `monitor`) marked. */
export function historySvg(rows: EpochRecord[], opts: PlotOptions = {}): string {
  // below 600 x 300 a side-by-side panel has no room for its legend and ticks
  const width = checkSize('width', opts.width ?? 1000, 600);
  const height = checkSize('height', opts.height ?? 420, 300);
  const title = opts.title ?? 'Training history';
  const epochs = rows.map((r) => r.epoch);
  const monitor = opts.monitor ?? 'val_loss';
  const found = bestEpoch(rows, monitor);
  const best = found && Number.isFinite(found[monitor]) ? { epoch: found.epoch, value: found[monitor], label: monitor === 'val_loss' ? 'val loss' : 'val acc' } : undefined;

  const top = title ? 34 : 0;
  // side by side in landscape, stacked in portrait
  const stacked = height > width;
  const [a, b]: Box[] = stacked
    ? [{ x: 0, y: top, w: width, h: (height - top) / 2 }, { x: 0, y: top + (height - top) / 2, w: width, h: (height - top) / 2 }]
    : [{ x: 0, y: top, w: width / 2, h: height - top }, { x: width / 2, y: top, w: width / 2, h: height - top }];
  const panels: Panel[] = [
    {
      name: 'loss',
      box: a,
      markBest: monitor === 'val_loss',
      series: [
        { name: 'train loss', color: TRAIN, values: rows.map((r) => r.loss) },
        { name: 'val loss', color: VAL, values: rows.map((r) => r.val_loss) },
      ],
    },
    {
      name: 'accuracy',
      box: b,
      markBest: monitor === 'val_acc',
      series: [
        { name: 'train acc', color: TRAIN, values: rows.map((r) => r.acc) },
        { name: 'val acc', color: VAL, values: rows.map((r) => r.val_acc) },
      ],
    },
  ];
  const legends = panels.map((p) => layoutLegend(legendEntries(p, best), p.box.x + PAD_LEFT, p.box.x + p.box.w - PAD_RIGHT));
  // the same legend height in both panels keeps their plot areas aligned
  const legendRows = Math.max(...legends.map((l) => l.rows));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    title ? text(width / 2, 23, title, { size: 16, anchor: 'middle', weight: 'bold' }) : '',
    ...panels.map((p, i) => panelSvg(p, epochs, best, legends[i].items, legendRows)),
    '</svg>',
  ].join('\n') + '\n';
}

/** Rasterises historySvg with sharp (librsvg); the PNG has the SVG's pixel size. */
export async function renderHistoryPng(rows: EpochRecord[], opts: PlotOptions = {}): Promise<Buffer> {
  return sharp(Buffer.from(historySvg(rows, opts))).png().toBuffer();
}

export async function writeHistoryPlot(file: string, rows: EpochRecord[], opts: PlotOptions = {}): Promise<void> {
  await writeFileAtomic(file, await renderHistoryPng(rows, opts));
}

function checkSize(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min || v > 8000) throw new UsageError(`plot ${name} must be an integer in ${min}..8000, got ${v}`);
  return v;
}

interface Best {
  epoch: number;
  value: number;
  /** the figure's name in the legend */
  label: string;
}

function legendEntries(p: Panel, best: Best | undefined): LegendEntry[] {
  const entries: LegendEntry[] = p.series.map((s) => ({ label: s.name, color: s.color, kind: 'line' }));
  if (best) {
    const label = `best ${best.label} ${best.value.toFixed(3)} (epoch ${best.epoch})`;
    entries.push({ label, color: BEST, kind: p.markBest ? 'dot' : 'dashed' });
  }
  return entries;
}

/** One panel: heading and legend above, then the plot with ticks, grid, series and best-epoch marks. */
function panelSvg(
  { name, box, series, markBest }: Panel,
  epochs: number[],
  best: Best | undefined,
  legend: LegendItem[],
  legendRows: number,
): string {
  const left = box.x + PAD_LEFT;
  const top = box.y + 26 + legendRows * LEGEND_ROW;
  const plot: Box = { x: left, y: top, w: box.x + box.w - PAD_RIGHT - left, h: box.y + box.h - PAD_BOTTOM - top };
  const xs = epochScale(epochs);
  const ys = valueScale(series.flatMap((s) => s.values));
  const px = (e: number) => plot.x + ((e - xs.lo) / (xs.hi - xs.lo)) * plot.w;
  const py = (v: number) => plot.y + plot.h - ((v - ys.lo) / (ys.hi - ys.lo)) * plot.h;
  const out: string[] = [];
  for (const { entry: e, x, row } of legend) {
    const y = box.y + 36 + row * LEGEND_ROW;
    out.push(
      e.kind === 'dot'
        ? `<circle cx="${x + 9}" cy="${y - 4}" r="4.5" fill="${e.color}"/>`
        : `<line x1="${x}" y1="${y - 4}" x2="${x + 18}" y2="${y - 4}" stroke="${e.color}" ` +
            (e.kind === 'dashed' ? 'stroke-dasharray="4 3"/>' : 'stroke-width="2"/>'),
    );
    out.push(text(x + 23, y, e.label, {}));
  }

  for (const t of ys.ticks) {
    const y = round(py(t));
    out.push(line(plot.x, y, plot.x + plot.w, y, GRID));
    out.push(line(plot.x - 5, y, plot.x, y, AXIS));
    out.push(text(plot.x - 8, y + 4, t.toFixed(ys.decimals), { anchor: 'end' }));
  }
  for (const t of xs.ticks) {
    const x = round(px(t));
    out.push(line(x, plot.y, x, plot.y + plot.h, GRID));
    out.push(line(x, plot.y + plot.h, x, plot.y + plot.h + 5, AXIS));
    out.push(text(x, plot.y + plot.h + 19, t.toFixed(0), { anchor: 'middle' }));
  }
  out.push(`<rect x="${round(plot.x)}" y="${round(plot.y)}" width="${round(plot.w)}" height="${round(plot.h)}" fill="none" stroke="${AXIS}"/>`);
  out.push(text(plot.x + plot.w / 2, box.y + box.h - 8, 'epoch', { anchor: 'middle' }));
  const cy = plot.y + plot.h / 2;
  out.push(text(box.x + 16, cy, name, { anchor: 'middle', rotate: true }));
  out.push(text(plot.x, box.y + 18, name[0].toUpperCase() + name.slice(1), { size: 14, weight: 'bold' }));

  if (best) {
    const x = round(px(best.epoch));
    out.push(`<line x1="${x}" y1="${plot.y}" x2="${x}" y2="${plot.y + plot.h}" stroke="${BEST}" stroke-dasharray="4 3"/>`);
  }
  for (const s of series) out.push(seriesSvg(s, epochs, px, py));
  if (best && markBest) {
    out.push(`<circle cx="${round(px(best.epoch))}" cy="${round(py(best.value))}" r="5" fill="${BEST}" stroke="#ffffff" stroke-width="1.5"/>`);
  }

  return `<g class="panel-${name}">\n${out.join('\n')}\n</g>`;
}

/** Places legend entries left to right, wrapping to a new row where one would pass `right`. */
function layoutLegend(entries: LegendEntry[], left: number, right: number): { items: LegendItem[]; rows: number } {
  const items: LegendItem[] = [];
  let x = left;
  let row = 0;
  for (const entry of entries) {
    const w = 23 + entry.label.length * 6.8; // swatch + text at ~DejaVu Sans 12px average advance
    if (x > left && x + w > right) (row++, (x = left));
    items.push({ entry, x, row });
    x += w + 14;
  }
  return { items, rows: row + 1 };
}

/** A polyline that breaks at NaN/Infinity (a diverged epoch) instead of drawing to nowhere. */
function seriesSvg(s: Series, epochs: number[], px: (e: number) => number, py: (v: number) => number): string {
  const runs: [number, number][][] = [];
  let run: [number, number][] = [];
  s.values.forEach((v, i) => {
    if (Number.isFinite(v)) run.push([round(px(epochs[i])), round(py(v))]);
    else if (run.length) (runs.push(run), (run = []));
  });
  if (run.length) runs.push(run);
  const parts = runs.map((r) =>
    r.length === 1
      ? `<circle cx="${r[0][0]}" cy="${r[0][1]}" r="2.5" fill="${s.color}"/>`
      : `<polyline points="${r.map((p) => p.join(',')).join(' ')}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"/>`,
  );
  return `<g class="series" data-name="${escapeXml(s.name)}">${parts.join('')}</g>`;
}

/** x spans the epochs exactly; ticks at a 1/2/5 step, whole epochs only. */
function epochScale(epochs: number[]): Scale {
  let lo = epochs.length ? Math.min(...epochs) : 0;
  let hi = epochs.length ? Math.max(...epochs) : 1;
  if (hi === lo) (lo -= 1, (hi += 1));
  const step = Math.max(1, niceStep((hi - lo) / 7));
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) ticks.push(t);
  return { lo, hi, ticks, decimals: 0 };
}

/** y spans the finite values, widened to whole tick steps. */
function valueScale(values: number[]): Scale {
  const finite = values.filter(Number.isFinite);
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (hi === lo) (lo -= Math.abs(lo) * 0.1 || 0.5, (hi += Math.abs(hi) * 0.1 || 0.5));
  const step = niceStep((hi - lo) / 5);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(decimals)));
  return { lo: ticks[0], hi: ticks[ticks.length - 1], ticks, decimals };
}

/** The 1, 2 or 5 times a power of ten nearest above `raw`. */
function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function line(x1: number, y1: number, x2: number, y2: number, color: string): string {
  return `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="${color}"/>`;
}

function text(
  x: number,
  y: number,
  s: string,
  o: { size?: number; anchor?: 'start' | 'middle' | 'end'; weight?: string; rotate?: boolean },
): string {
  const attrs = [`x="${round(x)}"`, `y="${round(y)}"`, `fill="${AXIS}"`];
  if (o.size) attrs.push(`font-size="${o.size}"`);
  if (o.anchor && o.anchor !== 'start') attrs.push(`text-anchor="${o.anchor}"`);
  if (o.weight) attrs.push(`font-weight="${o.weight}"`);
  if (o.rotate) attrs.push(`transform="rotate(-90 ${round(x)} ${round(y)})"`);
  return `<text ${attrs.join(' ')}>${escapeXml(s)}</text>`;
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}
