// A small slice of Fashion-MNIST (the Debian package's IDX files) as an IDX folder of its own, for tests that
// train the 28x28 presets for an epoch or two.
import fs from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { tempDir } from './helpers.mjs';

export const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

/** The first `train` training and `test` test images (and labels) of Fashion-MNIST, written uncompressed to a temp folder. */
export async function fashionSlice(t, { train = 600, test = 200 } = {}) {
  const dir = await tempDir(t, 'engine-fmnist-');
  const names = { train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'], t10k: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'] };
  for (const [split, n] of [['train', train], ['t10k', test]]) {
    const [imagesName, labelsName] = names[split];
    const images = gunzipSync(await fs.readFile(path.join(FASHION_MNIST, `${imagesName}.gz`)));
    const labels = gunzipSync(await fs.readFile(path.join(FASHION_MNIST, `${labelsName}.gz`)));
    const head = Buffer.from(images.subarray(0, 16));
    head.writeUInt32BE(n, 4);
    await fs.writeFile(path.join(dir, imagesName), Buffer.concat([head, images.subarray(16, 16 + n * 784)]));
    const lhead = Buffer.from(labels.subarray(0, 8));
    lhead.writeUInt32BE(n, 4);
    await fs.writeFile(path.join(dir, labelsName), Buffer.concat([lhead, labels.subarray(8, 8 + n)]));
  }
  return dir;
}
