// Hostile inputs, generated here (nothing large is committed): each gives a clear message and exit 2, or with
// --skip-bad-images a warning, a skip and a count; odd-but-valid images decode as PIL's convert('RGB') would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { decodeRGB, loadImage150, cmykToRgbPIL } from '../dist/src/data/decode.js';
import { CELEBA, ROOT, rejectsInput, runCli, runNode, smallDataset, tempDir } from './helpers.mjs';

const FACE = path.join(CELEBA, 'train', 'man', '121211.jpg');

/** A PNG chunk: length, type, data, CRC. */
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** An all-black 8-bit greyscale PNG of w x h, written row by row without sharp (cheap even at 10,000^2). */
function blackPng(w, h, rows = h) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // depth 8, greyscale, deflate, no filter, no interlace
  const idat = zlib.deflateSync(Buffer.alloc(rows * (w + 1)), { level: 1 });
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

/** A 16-bit greyscale PNG whose samples are grey[i] * 256 + noise: the high byte is `grey`. */
function grey16Png(grey, w, h) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([16, 0, 0, 0, 0], 8);
  const raw = Buffer.alloc(h * (1 + 2 * w));
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) raw.writeUInt16BE(grey[y * w + x] * 256 + ((x * 37 + y * 11) & 255), y * (1 + 2 * w) + 1 + 2 * x);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Writes every hostile image into `dir`; returns {name: path}. */
async function makeFixtures(dir) {
  const face = await fs.readFile(FACE);
  const f = (name) => path.join(dir, name);
  await fs.writeFile(f('empty.jpg'), Buffer.alloc(0));
  await fs.writeFile(f('truncated.jpg'), face.subarray(0, face.length >> 1));
  await fs.writeFile(f('text.jpg'), 'this is a text file, not a JPEG\n');
  await sharp(face).ensureAlpha(0.25).png().toFile(f('alpha.png'));
  await sharp(face).toColourspace('rgb16').png().toFile(f('rgb16.png'));
  await sharp(face).toColourspace('b-w').png().toFile(f('grey.png'));
  const grey = await sharp(f('grey.png')).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  await fs.writeFile(f('grey16.png'), grey16Png(grey.data, grey.info.width, grey.info.height));
  await sharp(face).toColourspace('cmyk').jpeg({ quality: 95 }).toFile(f('cmyk.jpg'));
  await sharp({ create: { width: 1, height: 1, channels: 3, background: { r: 10, g: 200, b: 30 } } }).png().toFile(f('one.png'));
  await fs.writeFile(f('huge.png'), blackPng(10000, 10000));
  // claims 20,000 x 20,000 pixels (above the 16383^2 limit) in its header; the pixel data is never read
  await fs.writeFile(f('too-big.png'), blackPng(20000, 20000, 1));
  await fs.copyFile(FACE, f('a name with spaces é ü 漢字.jpg'));
  await fs.symlink('loop-b.jpg', f('loop-a.jpg'));
  await fs.symlink('loop-a.jpg', f('loop-b.jpg'));
  await fs.symlink('missing-target.jpg', f('dangling.jpg'));
  return Object.fromEntries((await fs.readdir(dir)).map((n) => [n, f(n)]));
}

test('odd but valid images decode as PIL convert("RGB") would: alpha dropped, grey expanded, 16-bit reduced, CMYK by formula', async (t) => {
  const fx = await makeFixtures(await tempDir(t));
  const rgb = await decodeRGB(FACE);
  const same = async (name) => {
    const img = await decodeRGB(fx[name]);
    assert.deepEqual([img.width, img.height], [rgb.width, rgb.height], name);
    return img;
  };
  assert.deepEqual((await same('alpha.png')).data, rgb.data, 'alpha is dropped, not composited');
  assert.deepEqual((await same('rgb16.png')).data, rgb.data, '16-bit RGB keeps the high byte (8-bit values * 257 >> 8)');
  const grey = await same('grey.png');
  const grey16 = await same('grey16.png');
  assert.deepEqual(grey16.data, grey.data, '16-bit grey reduces to 8-bit grey');
  for (let i = 0; i < grey.data.length; i += 3) assert.ok(grey.data[i] === grey.data[i + 1] && grey.data[i] === grey.data[i + 2]);

  const cmyk = await same('cmyk.jpg');
  const ink = await sharp(fx['cmyk.jpg']).pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer();
  const expected = new Uint8Array(cmyk.data.length);
  cmykToRgbPIL(expected, ink, rgb.width * rgb.height);
  assert.deepEqual(cmyk.data, expected);
  // Pillow's formula on hand-picked inks: white, pure cyan, 50% black
  const out = new Uint8Array(9);
  cmykToRgbPIL(out, Uint8Array.from([0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 128]), 3);
  assert.deepEqual([...out], [255, 255, 255, 0, 255, 255, 127, 127, 127]);

  const one = await loadImage150(fx['one.png']);
  assert.equal(one.length, 150 * 150 * 3);
  for (let i = 0; i < one.length; i += 3) assert.deepEqual([one[i], one[i + 1], one[i + 2]], [10, 200, 30]);
  assert.deepEqual(await loadImage150(fx['a name with spaces é ü 漢字.jpg']), await loadImage150(FACE));
});

test('broken files are InputErrors naming the file and the reason', async (t) => {
  const fx = await makeFixtures(await tempDir(t));
  await rejectsInput(decodeRGB(fx['empty.jpg']), 'empty.jpg', 'empty (0 bytes)');
  await rejectsInput(decodeRGB(fx['truncated.jpg']), 'truncated.jpg', 'premature end');
  await rejectsInput(decodeRGB(fx['text.jpg']), 'text.jpg', 'unsupported image format');
  await rejectsInput(decodeRGB(fx['too-big.png']), 'too-big.png', '20000x20000', 'above the limit');
  await rejectsInput(decodeRGB(fx['loop-a.jpg']), 'loop-a.jpg', 'symbolic link loop');
  await rejectsInput(decodeRGB(fx['dangling.jpg']), 'dangling.jpg', 'does not exist');
  await rejectsInput(decodeRGB(path.dirname(fx['one.png'])), 'is a folder, not a regular file');

  const locked = fx['one.png'];
  await fs.chmod(locked, 0o000);
  const readable = await fs.readFile(locked).then(() => true, () => false);
  if (readable) t.diagnostic('chmod 000 does not stop this user (root) from reading: the permission case is not testable here');
  else await rejectsInput(decodeRGB(locked), 'one.png', 'permission denied');
  await fs.chmod(locked, 0o644);
});

test('a 10,000 x 10,000 image decodes in bounded memory, one large image at a time', async (t) => {
  const dir = await tempDir(t);
  const huge = path.join(dir, 'huge.png');
  await fs.writeFile(huge, blackPng(10000, 10000));
  // three copies decoded "in parallel": without the one-at-a-time rule that is 3 x 300 MB of RGB at once
  const script = `
    import { loadSplit } from ${JSON.stringify(path.join(ROOT, 'dist/src/data/decode.js'))};
    const files = [1, 2, 3].map(() => ${JSON.stringify(huge)});
    const set = await loadSplit({ dir: '.', classes: ['a', 'b'], files, labels: Uint8Array.from([0, 1, 0]) }, { concurrency: 3 });
    let sum = 0; for (const v of set.images) sum += v;
    console.log(JSON.stringify({ size: set.size, sum, maxRssMB: process.resourceUsage().maxRSS / 1024 }));`;
  const r = await runNode(['--input-type=module', '-e', script]);
  assert.equal(r.code, 0, r.stderr);
  const { size, sum, maxRssMB } = JSON.parse(r.stdout);
  t.diagnostic(`peak RSS decoding three 10,000^2 images: ${maxRssMB.toFixed(0)} MB`);
  assert.equal(size, 3);
  assert.equal(sum, 0, 'black in, black out');
  assert.ok(maxRssMB < 850, `peak RSS ${maxRssMB.toFixed(0)} MB`);
});

test('train stops with exit 2 on the first bad image; --skip-bad-images warns, skips and counts each', async (t) => {
  const data = await smallDataset(t, { train: { man: 3, woman: 3 }, val: { man: 1, woman: 1 } });
  const fixtures = await tempDir(t);
  const fx = await makeFixtures(fixtures);
  const bad = ['empty.jpg', 'truncated.jpg', 'text.jpg', 'too-big.png', 'loop-a.jpg', 'loop-b.jpg', 'dangling.jpg'];
  const good = ['alpha.png', 'rgb16.png', 'grey16.png', 'cmyk.jpg', 'one.png', 'a name with spaces é ü 漢字.jpg'];
  const man = path.join(data, 'train', 'man');
  for (const n of good) await fs.copyFile(fx[n], path.join(man, n));
  for (const n of bad) {
    const target = path.join(man, n);
    const link = await fs.readlink(fx[n]).catch(() => null);
    if (link) await fs.symlink(link, target);
    else await fs.copyFile(fx[n], target);
  }
  const out = path.join(await tempDir(t), 'run');
  const failed = await runCli(['train', '--data', data, '--epochs', '1', '--out', out]);
  assert.equal(failed.code, 2, failed.stderr);
  assert.equal(failed.stderr.trim().split('\n').length, 1);
  assert.match(failed.stderr, /^engine: (cannot (read|decode) image|image not found:) .*(empty|truncated|text|too-big|loop-a|loop-b|dangling)/);
  await assert.rejects(fs.access(out), 'no run directory');

  const r = await runCli(['train', '--data', data, '--epochs', '1', '--batch-size', '4', '--out', out, '--skip-bad-images', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.deepEqual(summary.skippedImages.map((f) => path.basename(f)).sort(), [...bad].sort());
  assert.equal(summary.trainImages, 6 + good.length);
  for (const n of bad) assert.match(r.stderr, new RegExp(`warning: skipped .*${n.replace('.', '\\.')}: \\S`));
  assert.match(r.stderr, new RegExp(`${bad.length} unreadable images skipped`));
});

test('truncated and wrong-model checkpoints and ONNX files, out-of-range flags: exit 2 with a message', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const dir = await tempDir(t);
  const run = path.join(dir, 'run');
  assert.equal((await runCli(['train', '--data', data, '--epochs', '1', '--seed', '1', '--out', run])).code, 0);
  const ckpt = await fs.readFile(path.join(run, 'best.safetensors'));
  await fs.writeFile(path.join(dir, 'cut.safetensors'), ckpt.subarray(0, ckpt.length - 1000));
  const onnxFile = path.join(dir, 'model.onnx');
  assert.equal((await runCli(['export', 'onnx', '--weights', path.join(run, 'best.safetensors'), '-o', onnxFile])).code, 0);
  const model = await fs.readFile(onnxFile);
  await fs.writeFile(path.join(dir, 'cut.onnx'), model.subarray(0, model.length >> 1));
  await fs.writeFile(path.join(dir, 'text.onnx'), 'not a model');
  // a checkpoint whose spec says seed5 while its tensors are seed7's
  const { loadCheckpoint, saveCheckpoint } = await import('../dist/src/store/checkpoint.js');
  const { SEED5 } = await import('../dist/src/model/spec.js');
  const c = await loadCheckpoint(path.join(run, 'best.safetensors'));
  await saveCheckpoint(path.join(dir, 'wrong.safetensors'), { ...c, meta: { ...c.meta, spec: SEED5 } });

  const expect2 = async (args, ...patterns) => {
    const r = await runCli(args, { cwd: dir });
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    for (const p of patterns) assert.match(r.stderr, p);
  };
  await expect2(['export', 'onnx', '--weights', 'cut.safetensors', '-o', 'x.onnx'], /cut\.safetensors/, /truncated/);
  await expect2(['export', 'onnx', '--weights', 'wrong.safetensors', '-o', 'x.onnx'], /seed5/, /shape/);
  await assert.rejects(fs.access(path.join(dir, 'x.onnx')), 'no partial ONNX file');
  await expect2(['eval', 'val', '--data', data, '--model', 'cut.onnx'], /cut\.onnx/, /not an ONNX model/);
  await expect2(['eval', 'val', '--data', data, '--model', 'text.onnx'], /text\.onnx/, /not an ONNX model/);

  await expect2(['train', '--data', data, '--epochs', '0'], /--epochs/, /\b0\b/);
  await expect2(['train', '--data', data, '--lr', '1e7'], /--lr/);
  await expect2(['train', '--data', data, '--save-every', '-1'], /--save-every/);
  await expect2(['eval', 'val', '--data', data, '--model', onnxFile, '--threshold', '2'], /--threshold/);
  await expect2(['eval', 'val', '--data', data, '--model', onnxFile, '--batch-size', '0'], /--batch-size/);
});

test('--skip-bad-images that leaves a class without a usable image stops with exit 2 naming the class and the count', async (t) => {
  for (const [split, cls, n] of [['train', 'woman', 3], ['val', 'man', 1]]) {
    const data = await smallDataset(t, { train: { man: 3, woman: 3 }, val: { man: 1, woman: 1 } });
    const folder = path.join(data, split, cls);
    for (const f of await fs.readdir(folder)) await fs.writeFile(path.join(folder, f), 'not an image');
    const out = path.join(await tempDir(t), 'run');
    const r = await runCli(['train', '--data', data, '--epochs', '1', '--out', out, '--skip-bad-images']);
    assert.equal(r.code, 2, `${split}/${cls}: exit ${r.code}\n${r.stderr}`);
    const which = split === 'train' ? 'training' : 'validation';
    assert.match(r.stderr, new RegExp(`^engine: no usable ${which} image of class '${cls}': all ${n} of its images in the ${split} split are unreadable`, 'm'));
    assert.equal(r.stderr.match(/^engine: /gm).length, 1);
    await assert.rejects(fs.access(out), 'no run directory');
  }
});
