import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { historyCsv, parseHistoryCsv, savetxt, writeHistory } from '../dist/src/store/history.js';
import { formatE18 } from '../dist/src/store/savetxt.js';
import { InputError } from '../dist/src/errors.js';

const rows = [
  { epoch: 1, loss: 0.6793398602395995, acc: 0.6004273499179090257, val_loss: 0.6196151375770569, val_acc: 0.6875, lr: 0.001, seconds: 2.2004 },
  { epoch: 2, loss: 1e-7, acc: 1 / 3, val_loss: NaN, val_acc: 0.1 + 0.2, lr: 0.1 / 3, seconds: 61.5 },
];

test('historyCsv: header, one line per epoch, seconds to 3 decimals', () => {
  const text = historyCsv(rows);
  assert.equal(
    text,
    'epoch,loss,acc,val_loss,val_acc,lr,seconds\n' +
      '1,0.6793398602395995,0.600427349917909,0.6196151375770569,0.6875,0.001,2.200\n' +
      '2,1e-7,0.3333333333333333,NaN,0.30000000000000004,0.03333333333333333,61.500\n',
  );
});

test('parseHistoryCsv round-trips historyCsv bit for bit (seconds to 3 decimals)', () => {
  const back = parseHistoryCsv(historyCsv(rows));
  assert.deepEqual(back, rows.map((r) => ({ ...r, seconds: Number(r.seconds.toFixed(3)) })));
  assert.deepEqual(parseHistoryCsv('epoch,loss,acc,val_loss,val_acc,lr,seconds\n'), []);
  // a history written before the lr column is still read (its lr NaN)
  const old = parseHistoryCsv('epoch,loss,acc,val_loss,val_acc,seconds\r\n3,1,0.5,1,0.5,1.000\r\n')[0];
  assert.deepEqual([old.epoch, old.lr], [3, NaN]);
});

test('parseHistoryCsv rejects bad input naming the line', () => {
  const header = 'epoch,loss,acc,val_loss,val_acc,seconds';
  const cases = [
    ['', /line 1: expected header/],
    ['epoch,loss,acc\n1,2,3\n', /line 1: expected header/],
    [`${header}\n1,0.5,0.5,0.5,0.5\n`, /line 2: expected 6 fields, got 5/],
    [`${header}\n1,0.5,0.5,0.5,0.5,1.0\n2,0.5,,0.5,0.5,1.0\n`, /line 3: acc '' is not a number/],
    [`${header}\n1,0.5,0.5,0.5,abc,1.0\n`, /line 2: val_acc 'abc' is not a number/],
    [`${header}\n1,0x10,0.5,0.5,0.5,1.0\n`, /line 2: loss '0x10'/],
    [`${header}\n1.5,0.5,0.5,0.5,0.5,1.0\n`, /line 2: epoch '1.5' is not a positive integer/],
    [`${header}\n0,0.5,0.5,0.5,0.5,1.0\n`, /line 2: epoch '0'/],
    [`${header}\n2,0.5,0.5,0.5,0.5,1.0\n2,0.5,0.5,0.5,0.5,1.0\n`, /line 3: epoch 2 does not follow epoch 2/],
    [`${header}\n1,0.5,0.5,0.5,0.5,1.0\n\n`, /line 3: expected 6 fields, got 1/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseHistoryCsv(text), (err) => err instanceof InputError && message.test(err.message), JSON.stringify(text));
  }
});

test("formatE18 matches python3 '%.18e' (C printf) on the fixture", async () => {
  const fixture = JSON.parse(await readFile(new URL('./fixtures/savetxt.json', import.meta.url), 'utf8'));
  assert.ok(fixture.cases.length >= 20);
  for (const { value, printf } of fixture.cases) assert.equal(formatE18(Number(value)), printf, value);
});

test('savetxt: one number a line, newline after each, nothing for no values', () => {
  assert.equal(savetxt([0.6875, 1]), '6.875000000000000000e-01\n1.000000000000000000e+00\n');
  assert.equal(savetxt([]), '');
});

test('writeHistory writes history.csv and the seed-named savetxt files', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'engine-history-'));
  try {
    await writeHistory(dir, rows);
    assert.deepEqual((await readdir(dir)).sort(), ['history', 'history.csv']);
    assert.deepEqual((await readdir(path.join(dir, 'history'))).sort(), [
      'acc_history.txt',
      'loss_history.txt',
      'val_acc_history.txt',
      'val_loss_history.txt',
    ]);
    assert.equal(await readFile(path.join(dir, 'history.csv'), 'utf8'), historyCsv(rows));
    const read = (name) => readFile(path.join(dir, 'history', name), 'utf8');
    assert.equal(await read('loss_history.txt'), '6.793398602395994690e-01\n9.999999999999999547e-08\n');
    assert.equal(await read('acc_history.txt'), '6.004273499179090257e-01\n3.333333333333333148e-01\n');
    assert.equal(await read('val_loss_history.txt'), '6.196151375770568848e-01\nnan\n');
    assert.equal(await read('val_acc_history.txt'), '6.875000000000000000e-01\n3.000000000000000444e-01\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
