// Models and datasets of more than two classes for the tests: folders of class subfolders of small PNG files
// drawn from a seeded generator (each class a colour and a stripe direction under heavy noise, so a small
// model learns them well but not perfectly), and a small softmax CNN trained on them with native.Trainer,
// exported to ONNX (and saved as a checkpoint, for --weights).
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { native, trainerConfig } from '../dist/src/native.js';
import { buildOnnxModel } from '../dist/src/onnx/graph.js';
import { saveCheckpoint } from '../dist/src/store/checkpoint.js';
import { listSplit } from '../dist/src/data/discover.js';
import { loadImageResized } from '../dist/src/data/decode.js';
import { rng, tempDir } from './helpers.mjs';

/** Fashion-MNIST's ten class names, in its label order (which is not their sorted order). */
export const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** A folder name for a class name: '/' cannot be in one ('T-shirt/top' -> 'T-shirt-top'). */
export const folderName = (c) => c.replaceAll('/', '-');

/**
 * The pixels of an image of class `c` of `k`: a base colour around the colour wheel plus stripes whose direction
 * and period depend on the class, under uniform noise of +-`noise`.
 */
function classImage(c, k, size, next, noise, contrast) {
  const hue = (2 * Math.PI * c) / k;
  const base = [0, 1, 2].map((i) => 128 + contrast * Math.cos(hue + (2 * Math.PI * i) / 3));
  const period = 3 + (c % 4);
  const px = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const stripe = ((c % 2 ? x : y) % period) < period / 2 ? contrast : -contrast;
      for (let i = 0; i < 3; i++) {
        const v = base[i] + stripe + (next() * 2 - 1) * noise;
        px[(y * size + x) * 3 + i] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  return px;
}

/**
 * DIR/<split>/<class>/<n>.png for each split of `counts` ({ train: 12, test: 6 }: images per class), `classes`
 * named as given (folders: folderName). Returns DIR.
 */
export async function classDataset(t, { classes, counts, size = 24, seed = 1, noise = 110, contrast = 16 }) {
  const dir = await tempDir(t, 'engine-nclass-');
  const next = rng(seed);
  for (const [split, n] of Object.entries(counts))
    for (const [c, name] of classes.entries()) {
      const folder = path.join(dir, split, folderName(name));
      await fs.mkdir(folder, { recursive: true });
      for (let i = 0; i < n; i++) {
        const file = path.join(folder, `${String(i).padStart(3, '0')}.png`);
        await sharp(classImage(c, classes.length, size, next, noise, contrast), { raw: { width: size, height: size, channels: 3 } }).png().toFile(file);
      }
    }
  return dir;
}

/** A small softmax CNN for `k` classes on `input` [h, w, 3]. */
export const tinySpec = (k, input = [20, 20, 3]) => ({
  name: `tiny${k}`,
  input,
  head: 'softmax',
  layers: [
    { type: 'conv3x3', filters: 8 },
    { type: 'relu' },
    { type: 'maxpool2x2' },
    { type: 'conv3x3', filters: 12 },
    { type: 'relu' },
    { type: 'globalavgpool' },
    { type: 'dense', units: k },
  ],
});

/**
 * Trains tinySpec on `data`/train (`steps` full-batch RMSprop steps, 1 thread, seeded) and writes OUT/model.onnx
 * and OUT/tiny.safetensors. The classes are the folders' (sorted). Returns { model, weights, classes, trainer }:
 * the trainer stays open for the caller to compare with (dispose it).
 */
export async function trainClassModel(data, out, { seed = 3, steps = 40, lr = 0.01 } = {}) {
  const listing = await listSplit(path.join(data, 'train'));
  const spec = tinySpec(listing.classes.length);
  const [h, w, ch] = spec.input;
  const images = new Uint8Array(listing.files.length * h * w * ch);
  for (const [i, f] of listing.files.entries()) await loadImageResized(f, w, h, images.subarray(i * h * w * ch, (i + 1) * h * w * ch));
  const trainer = new native.Trainer(trainerConfig({ spec, seed, threads: 1 }));
  for (let s = 0; s < steps; s++) await trainer.trainStep(images, listing.labels, null, { lr, rho: 0.9, epsilon: 1e-7 });
  const ckpt = {
    meta: { spec, config: { seed, steps, lr, data }, classes: listing.classes, epoch: 1, step: steps },
    layout: trainer.paramLayout(),
    params: trainer.getParams(),
  };
  await fs.mkdir(out, { recursive: true });
  const model = path.join(out, 'model.onnx');
  const weights = path.join(out, 'tiny.safetensors');
  await fs.writeFile(model, buildOnnxModel(ckpt));
  await saveCheckpoint(weights, ckpt);
  return { model, weights, classes: listing.classes, trainer, spec };
}

/**
 * An EvalReport of `n` images of `classes` without a model: scores drawn from a seeded generator (right about
 * two times in three), the figures from classificationMetrics, and a 28x28 grey PNG in DIR/<class folder>/ for
 * each misclassified image (what the HTML page makes thumbnails of). Returns the report.
 */
export async function syntheticReport(dir, classes, { n = 200, seed = 5 } = {}) {
  const { classificationMetrics, predictClasses } = await import('../dist/src/eval/class-metrics.js');
  const next = rng(seed);
  const k = classes.length;
  const labels = Uint8Array.from({ length: n }, (_, i) => i % k);
  const data = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const logits = Array.from({ length: k }, (_, c) => next() * 3 + (c === labels[i] ? 2.2 : 0));
    const sum = logits.reduce((a, z) => a + Math.exp(z), 0);
    logits.forEach((z, c) => (data[i * k + c] = Math.exp(z) / sum));
  }
  const scores = { data, columns: k };
  const predicted = predictClasses(scores, k);
  const misclassified = [];
  for (let i = 0; i < n; i++) {
    if (predicted[i] === labels[i]) continue;
    const file = `${folderName(classes[labels[i]])}/${String(i).padStart(4, '0')}.png`;
    await fs.mkdir(path.join(dir, path.dirname(file)), { recursive: true });
    const px = Buffer.from(Array.from({ length: 28 * 28 }, (_, p) => ((p % 28) * 9 + Math.floor(p / 28) * (labels[i] + 1)) & 255));
    await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(dir, file));
    misclassified.push({ file, label: classes[labels[i]], predicted: classes[predicted[i]], probability: data[i * k + predicted[i]] });
  }
  return {
    dataset: 'test',
    dir,
    ...classificationMetrics(scores, labels, classes),
    misclassified,
    model: { source: 'synthetic.onnx', head: 'softmax', inputShape: ['N', 1, 28, 28], layout: 'NCHW', dtype: 'float32', provider: 'cpu', threads: 1, metadata: {} },
    seconds: 1,
    decodeAndInferSeconds: 1,
  };
}
