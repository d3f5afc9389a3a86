/** Training progress on a terminal: a bar redrawn in place on a TTY, plain lines elsewhere (logs, CI). */
export interface ProgressSink {
  /** a bar of `total` things counted in `unit` ('steps', 'images'), its rate shown as '<n> <unit>/s' */
  start(total: number, label: string, unit?: string): void;
  update(done: number, info?: string): void;
  end(summaryLine?: string): void;
  log(line: string): void;
}

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  quiet?: boolean;
  /** Milliseconds clock; tests pass a fake one. */
  now?: () => number;
}

const REDRAW_MS = 100; // at most 10 redraws a second: faster is flicker and wasted writes
const BAR_WIDTH = 24;
const CLEAR_LINE = '\r\x1b[K';

/** 5 -> '5s', 65 -> '1m05s', 3725 -> '1h02m05s'; '--' when unknown (NaN, Infinity, negative). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h${pad(m)}m${pad(s)}s`;
  if (m > 0) return `${m}m${pad(s)}s`;
  return `${s}s`;
}

/** `width` cells, '#' for the done fraction (clamped to 0..1) and '-' for the rest. */
export function renderBar(done: number, total: number, width: number): string {
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.floor(fraction * width);
  return '#'.repeat(filled) + '-'.repeat(width - filled);
}

export function createProgress(opts: ProgressOptions = {}): ProgressSink {
  if (opts.quiet) return { start() {}, update() {}, end() {}, log() {} };
  const stream = opts.stream ?? process.stderr;
  const now = opts.now ?? Date.now;
  if (!stream.isTTY) {
    return {
      start() {},
      update() {},
      end(summary) {
        if (summary !== undefined) stream.write(summary + '\n');
      },
      log(line) {
        stream.write(line + '\n');
      },
    };
  }

  let total = 0;
  let label = '';
  let unit = '';
  let done = 0;
  let info = '';
  let startedAt = 0;
  let lastDraw = -Infinity;
  let drawnDone = -1;
  let shown = false; // a bar is on screen (so the cursor is on its line)

  const draw = () => {
    const secs = (now() - startedAt) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 ? (total - done) / rate : NaN;
    const parts = [label, `[${renderBar(done, total, BAR_WIDTH)}]`, `${done}/${total}`, `${rate.toFixed(1)} ${unit || 'items'}/s`, `ETA ${formatDuration(eta)}`];
    if (info) parts.push(info);
    // a line that wraps cannot be redrawn with '\r', so cut it to the terminal width
    const text = parts.filter(Boolean).join(' ').slice(0, Math.max(1, (stream.columns || 80) - 1));
    stream.write(CLEAR_LINE + text);
    shown = true;
    lastDraw = now();
    drawnDone = done;
  };
  const clear = () => {
    if (shown) stream.write(CLEAR_LINE);
    shown = false;
  };

  return {
    start(t, l, u = '') {
      total = t;
      label = l;
      unit = u;
      done = 0;
      info = '';
      startedAt = now();
      draw();
    },
    update(d, i) {
      done = d;
      if (i !== undefined) info = i;
      // the last step always shows, so the bar never stops short of total
      const finished = done >= total && drawnDone !== done;
      if (finished || now() - lastDraw >= REDRAW_MS) draw();
    },
    log(line) {
      const redraw = shown;
      clear();
      stream.write(line + '\n');
      if (redraw) draw();
    },
    end(summary) {
      clear();
      if (summary !== undefined) stream.write(summary + '\n');
    },
  };
}
