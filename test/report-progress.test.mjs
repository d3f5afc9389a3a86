import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgress, formatDuration, renderBar } from '../dist/src/report/progress.js';

/** A stream that records writes; `isTTY` decides which reporter createProgress picks. */
function fakeStream(isTTY, columns = 100) {
  const writes = [];
  return { isTTY, columns, writes, write: (s) => (writes.push(s), true) };
}

function fakeClock() {
  const clock = { t: 1_000_000, now: () => clock.t };
  return clock;
}

test('formatDuration', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(5.4), '5s');
  assert.equal(formatDuration(59.6), '1m00s');
  assert.equal(formatDuration(65), '1m05s');
  assert.equal(formatDuration(600), '10m00s');
  assert.equal(formatDuration(3725), '1h02m05s');
  assert.equal(formatDuration(NaN), '--');
  assert.equal(formatDuration(Infinity), '--');
  assert.equal(formatDuration(-1), '--');
});

test('renderBar', () => {
  assert.equal(renderBar(0, 10, 10), '----------');
  assert.equal(renderBar(5, 10, 10), '#####-----');
  assert.equal(renderBar(10, 10, 10), '##########');
  assert.equal(renderBar(15, 10, 4), '####');
  assert.equal(renderBar(1, 3, 10), '###-------');
  assert.equal(renderBar(0, 0, 3), '---');
});

test('TTY: bar redrawn in place with count, rate, ETA and info', () => {
  const s = fakeStream(true);
  const clock = fakeClock();
  const p = createProgress({ stream: s, now: clock.now });
  p.start(100, 'epoch 1/70', 'steps');
  clock.t += 10_000;
  p.update(20, 'loss 0.512');
  const last = s.writes.at(-1);
  assert.ok(last.startsWith('\r\x1b[K'), JSON.stringify(last));
  assert.ok(!last.includes('\n'));
  // the rate has its unit
  assert.equal(last, '\r\x1b[Kepoch 1/70 [####--------------------] 20/100 2.0 steps/s ETA 40s loss 0.512');
  p.end('epoch 1: loss 0.5');
  assert.equal(s.writes.slice(-2).join(''), '\r\x1b[Kepoch 1: loss 0.5\n');
});

test('TTY: at most 10 redraws a second, but the final step always shows', () => {
  const s = fakeStream(true);
  const clock = fakeClock();
  const p = createProgress({ stream: s, now: clock.now });
  p.start(1000, 'train');
  for (let i = 1; i <= 1000; i++) {
    clock.t += 1; // 1000 updates in one second
    p.update(i);
  }
  const draws = s.writes.filter((w) => w.includes('[')).length;
  assert.ok(draws <= 12, `${draws} redraws in 1 s`); // start + 10 + final
  assert.match(s.writes.at(-1), /1000\/1000/);
  p.update(1000);
  assert.equal(s.writes.filter((w) => w.includes('[')).length, draws, 'no repeat draw of the final step');
});

test('TTY: log clears the bar, prints the line, redraws the bar', () => {
  const s = fakeStream(true);
  const p = createProgress({ stream: s, now: fakeClock().now });
  p.log('before any bar');
  assert.deepEqual(s.writes, ['before any bar\n']);
  p.start(10, 'train');
  s.writes.length = 0;
  p.log('checkpoint saved');
  assert.equal(s.writes[0], '\r\x1b[K');
  assert.equal(s.writes[1], 'checkpoint saved\n');
  assert.match(s.writes[2], /^\r\x1b\[Ktrain \[/);
});

test('TTY: the bar line is cut to the terminal width', () => {
  const s = fakeStream(true, 40);
  const p = createProgress({ stream: s, now: fakeClock().now });
  p.start(10, 'train');
  p.update(3, 'x'.repeat(200));
  for (const w of s.writes) assert.ok(w.replace('\r\x1b[K', '').length < 40, JSON.stringify(w));
});

test('not a TTY: log and end lines only, no carriage returns', () => {
  const s = fakeStream(false);
  const p = createProgress({ stream: s });
  p.start(10, 'train');
  for (let i = 1; i <= 10; i++) p.update(i, 'info');
  p.log('epoch 1 done');
  p.end('finished');
  p.end();
  assert.deepEqual(s.writes, ['epoch 1 done\n', 'finished\n']);
  assert.ok(!s.writes.join('').includes('\r'));
});

test('quiet: nothing at all, even on a TTY', () => {
  const s = fakeStream(true);
  const p = createProgress({ stream: s, quiet: true });
  p.start(10, 'train');
  p.update(5, 'info');
  p.log('line');
  p.end('summary');
  assert.deepEqual(s.writes, []);
});
