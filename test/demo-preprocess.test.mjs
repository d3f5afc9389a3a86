// demo/preprocess.js, the browser demo's preprocessing, mirrors the CLI's: checked in Node against src/ (the
// page itself runs in Chromium in test/system/demo.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as demo from '../demo/preprocess.js';
import { nearestIndicesPIL, resizeNearestPIL } from '../dist/src/data/decode.js';
import { inputTensor } from '../dist/src/eval/feed.js';
import { sigmoidFloat32 } from '../dist/src/eval/session.js';
import { rng } from './helpers.mjs';

test('demo/preprocess.js computes what the CLI computes: PIL-nearest indices, resize, input tensor, sigmoid', () => {
  for (let src = 1; src <= 260; src++) for (const dst of [1, 7, 150, 151, 299]) assert.deepEqual(demo.nearestIndicesPIL(src, dst), nearestIndicesPIL(src, dst), `${src} -> ${dst}`);
  const next = rng(3);
  const [w, h] = [178, 218];
  const rgba = Uint8Array.from({ length: w * h * 4 }, () => Math.floor(next() * 256));
  const rgb = new Uint8Array(w * h * 3);
  for (let p = 0; p < w * h; p++) rgb.set(rgba.subarray(p * 4, p * 4 + 3), p * 3);
  const expected = new Uint8Array(150 * 150 * 3);
  resizeNearestPIL(expected, rgb, w, h, 150, 150);
  const resized = demo.resizeRgbaNearestPIL(rgba, w, h, 150, 150);
  assert.deepEqual(resized, expected);
  for (const info of [
    { height: 150, width: 150, channels: 3, layout: 'NCHW', dtype: 'float32', scale: 1 / 255 },
    { height: 150, width: 150, channels: 3, layout: 'NHWC', dtype: 'float32', scale: 1 / 255 },
    { height: 150, width: 150, channels: 3, layout: 'NHWC', dtype: 'uint8', scale: 1 },
    { height: 150, width: 150, channels: 3, layout: 'NCHW', dtype: 'uint8', scale: 1 },
  ]) {
    const mine = demo.inputData(info, resized);
    const cli = inputTensor(info, resized, 1);
    assert.deepEqual(mine.dims, cli.dims);
    assert.equal(mine.type, cli.type);
    assert.deepEqual(Array.from(mine.data), Array.from(cli.data), `${info.layout} ${info.dtype}`);
  }
  for (const z of [-30, -3.2, -1e-3, 0, 0.7, 5.5, 17, 40]) assert.equal(demo.sigmoidFloat32(z), sigmoidFloat32(z));
  assert.deepEqual(demo.predictionOf(['man', 'woman'], 0.5).class, 'man'); // Keras' round: 0.5 is not positive
});
