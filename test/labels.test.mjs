// `engine labels`: the seed's ground-truth tables, byte for byte, plus csv/json; the same tables for folders of
// any number of classes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { labelColumn, labelTableNpy, labelTableText, writeLabels } from '../dist/src/labels/labels.js';
import { CELEBA, ROOT, SHARED, rejectsInput, runCli, tempDir } from './helpers.mjs';
import { classDataset } from './nclass.mjs';

const ALL = path.join(CELEBA, 'all');
const SEED_TXT = path.join(SHARED, 'seed/label.txt');
const SEED_NPY = path.join(SHARED, 'seed/label.npy');

test("label.txt and label.npy of celeba-575/all equal the seed's files byte for byte", async (t) => {
  const out = await tempDir(t);
  const r = await writeLabels({ dir: ALL, out, formats: ['txt', 'npy'] });
  assert.deepEqual(r.files, [path.join(out, 'label.txt'), path.join(out, 'label.npy')]);
  assert.equal(r.rows.length, 575);
  assert.deepEqual(await fs.readFile(path.join(out, 'label.txt')), await fs.readFile(SEED_TXT));
  assert.deepEqual(await fs.readFile(path.join(out, 'label.npy')), await fs.readFile(SEED_NPY));
});

test('label.txt: centred columns two spaces apart, trailing spaces cut', () => {
  assert.equal(
    labelTableText([
      { file: '000001.jpg', label: 'woman' },
      { file: '000002.jpg', label: 'man' },
    ]),
    '  image     gender\n000001.jpg  woman\n000002.jpg   man\n',
  );
  // A longer name widens the first column; the header and shorter names centre in it.
  assert.equal(labelTableText([{ file: 'abcdefghijkl.png', label: 'man' }, { file: 'a.png', label: 'woman' }]), '     image        gender\nabcdefghijkl.png   man\n     a.png        woman\n');
});

/** Parses a .npy file: {version, header, dataOffset}. */
function parseNpy(buf) {
  assert.deepEqual([...buf.subarray(0, 6)], [0x93, ...Buffer.from('NUMPY')], 'magic');
  const headerLen = buf.readUInt16LE(8);
  return { version: [buf[6], buf[7]], header: buf.subarray(10, 10 + headerLen).toString('latin1'), dataOffset: 10 + headerLen };
}

test('label.npy: format 1.0, numpy header dict, 64-byte aligned data, UTF-32LE cells of the longest name', () => {
  const buf = Buffer.from(labelTableNpy([{ file: 'a.jpg', index: 1 }, { file: 'b.jpg', index: 0 }]));
  const { version, header, dataOffset } = parseNpy(buf);
  assert.deepEqual(version, [1, 0]);
  assert.match(header, /^\{'descr': '<U10', 'fortran_order': False, 'shape': \(2, 2\), \} +\n$/);
  assert.equal(dataOffset % 64, 0);
  assert.equal(buf.length, dataOffset + 2 * 2 * 10 * 4);
  const cell = (i) => buf.subarray(dataOffset + i * 40, dataOffset + (i + 1) * 40);
  assert.equal(cell(0).toString('utf16le').replace(/\0/g, ''), 'a.jpg'); // ASCII in UTF-32LE reads as UTF-16 + NULs
  assert.deepEqual([...cell(1).subarray(0, 8)], [0x31, 0, 0, 0, 0, 0, 0, 0]); // '1', then NUL padding
  assert.deepEqual([...cell(3).subarray(0, 4)], [0x30, 0, 0, 0]);

  // 12 code points (one outside the BMP, two UTF-16 units) widen the dtype to '<U12'.
  const long = Buffer.from(labelTableNpy([{ file: 'élan😀abc.png', index: 0 }]));
  const parsed = parseNpy(long);
  assert.match(parsed.header, /'descr': '<U12'.*'shape': \(1, 2\)/);
  assert.equal(long.readUInt32LE(parsed.dataOffset), 0xe9);
  assert.equal(long.readUInt32LE(parsed.dataOffset + 16), 0x1f600);
  assert.equal(long.length, parsed.dataOffset + 2 * 12 * 4);
});

test('numpy itself loads our label.npy as the seed table (scripts/check/labels_npy.py)', async (t) => {
  const numpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (numpy.status !== 0) return t.skip('python3 with numpy is not installed');
  const out = await tempDir(t);
  await writeLabels({ dir: ALL, out, formats: ['npy'] });
  const r = spawnSync('python3', [path.join(ROOT, 'scripts/check/labels_npy.py'), path.join(out, 'label.npy'), SEED_NPY], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /shape \(575, 2\), dtype <U10/);
  assert.match(r.stdout, /same bytes: yes/);
});

test('CLI: labels DIR --out --csv writes txt, npy and csv; --json prints the table; --data defaults DIR to <data>/all', async (t) => {
  const out = await tempDir(t);
  const r = await runCli(['labels', ALL, '--out', out, '--csv']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote label\.txt, label\.npy, label\.csv to .* \(575 images: 221 man, 354 woman\)/);
  assert.deepEqual((await fs.readdir(out)).sort(), ['label.csv', 'label.npy', 'label.txt']);
  const csv = (await fs.readFile(path.join(out, 'label.csv'), 'utf8')).split('\n');
  assert.deepEqual(csv.slice(0, 3), ['file,class,label', '121194.jpg,woman,1', '121195.jpg,woman,1']);
  assert.equal(csv.length, 577); // header, 575 rows, the final newline
  assert.ok(csv.includes('121969.jpg,man,0'));

  const out2 = await tempDir(t);
  const j = await runCli(['labels', '--data', CELEBA, '--out', out2, '--json']);
  assert.equal(j.code, 0, j.stderr);
  const table = JSON.parse(j.stdout);
  assert.equal(table.length, 575);
  assert.deepEqual(table[0], { file: '121194.jpg', class: 'woman', label: 1 });
  assert.match(j.stderr, /wrote label\.txt, label\.npy to /);
  assert.deepEqual(await fs.readFile(path.join(out2, 'label.txt')), await fs.readFile(SEED_TXT));
});

test('errors: a missing folder and an unwritable --out exit 2 with one line', async (t) => {
  const dir = await tempDir(t);
  const missing = path.join(dir, 'missing');
  await rejectsInput(writeLabels({ dir: missing, out: dir, formats: ['txt'] }), missing, 'does not exist');
  const file = path.join(dir, 'a-file');
  await fs.writeFile(file, '');
  // Under a regular file no folder can be made, even for root (who may write into read-only folders).
  await rejectsInput(writeLabels({ dir: ALL, out: path.join(file, 'sub'), formats: ['txt'] }), path.join(file, 'sub'), '--out');

  for (const [args, part] of [
    [['labels', missing, '--out', dir], 'does not exist'],
    [['labels', '--data', dir, '--out', dir], path.join(dir, 'all')],
    [['labels', ALL, '--out', path.join(file, 'sub')], 'choose another folder with --out'],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.includes(part), r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('a folder of 12 classes: label.txt headed "class", label.npy of the class indices (numpy loads it), csv and json; the summary maps indices to names', async (t) => {
  const classes = Array.from({ length: 12 }, (_, i) => `kind${String.fromCharCode(97 + i)}`); // kinda .. kindl: sorted as listed
  const data = await classDataset(t, { classes, counts: { all: 2 }, size: 4, seed: 3 });
  const dir = path.join(data, 'all');
  const out = await tempDir(t);
  const r = await runCli(['labels', dir, '--out', out, '--csv']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `wrote label.txt, label.npy, label.csv to ${out} (24 images: ${classes.map((c) => `2 ${c}`).join(', ')}; labels ${classes.map((c, i) => `${i}=${c}`).join(' ')})\n`);
  // rows sorted by file name, then class: 000.png of every class, then 001.png
  const txt = (await fs.readFile(path.join(out, 'label.txt'), 'utf8')).split('\n');
  assert.equal(txt[0], ' image   class');
  assert.deepEqual(txt.slice(1, 4), ['000.png  kinda', '000.png  kindb', '000.png  kindc']);
  assert.equal(txt[13], '001.png  kinda');
  assert.equal(txt.length, 26);
  const npy = Buffer.from(await fs.readFile(path.join(out, 'label.npy')));
  const { header, dataOffset } = parseNpy(npy);
  assert.match(header, /'descr': '<U10'.*'shape': \(24, 2\)/);
  const cellText = (i) => npy.subarray(dataOffset + i * 40, dataOffset + (i + 1) * 40).toString('utf16le').replace(/\0/g, '');
  assert.deepEqual([cellText(0), cellText(1), cellText(20), cellText(21), cellText(23)], ['000.png', '0', '000.png', '10', '11']);
  assert.deepEqual([cellText(46), cellText(47)], ['001.png', '11']);
  const csv = (await fs.readFile(path.join(out, 'label.csv'), 'utf8')).split('\n');
  assert.deepEqual(csv.slice(0, 2), ['file,class,label', '000.png,kinda,0']);
  assert.equal(csv[12], '000.png,kindl,11');
  const j = await runCli(['labels', dir, '--out', out, '--json']);
  assert.deepEqual(JSON.parse(j.stdout)[11], { file: '000.png', class: 'kindl', label: 11 });

  const numpy = spawnSync('python3', ['-c', `import numpy as np; a = np.load(${JSON.stringify(path.join(out, 'label.npy'))}); print(a.shape, a.dtype, a[11].tolist())`], { encoding: 'utf8' });
  if (numpy.status !== 0) return t.diagnostic('numpy check not run: python3 with numpy is not installed');
  assert.equal(numpy.stdout.trim(), "(24, 2) <U10 ['000.png', '11']");
});

test("labelColumn: 'gender' for the seed's man/woman only", () => {
  assert.equal(labelColumn(['man', 'woman']), 'gender');
  for (const classes of [['woman', 'man'], ['cat', 'dog'], ['man', 'woman', 'child']]) assert.equal(labelColumn(classes), 'class', classes.join());
  assert.equal(labelTableText([{ file: 'a.png', label: 'cat' }], 'class'), 'image  class\na.png   cat\n');
});

test('a file name with a newline (or another control character) is refused: it would break label.txt rows', async (t) => {
  const dir = await tempDir(t);
  for (const cls of ['man', 'woman']) await fs.mkdir(path.join(dir, cls));
  const face = path.join(CELEBA, 'all', 'man', (await fs.readdir(path.join(CELEBA, 'all', 'man')))[0]);
  await fs.copyFile(face, path.join(dir, 'man', 'a.jpg'));
  await fs.copyFile(face, path.join(dir, 'woman', 'b\nc 1.jpg'));
  const r = await runCli(['labels', dir, '--out', path.join(dir, 'out')]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /b\\nc 1\.jpg.*control character/);
  await assert.rejects(fs.stat(path.join(dir, 'out', 'label.txt')), { code: 'ENOENT' });
});
