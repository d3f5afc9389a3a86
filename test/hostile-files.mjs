// Hostile model files made here, in memory (nothing committed): a valid seed7 checkpoint with fresh weights (no
// training), the same with a NaN weight, its ONNX model (and one with a NaN weight, one whose metadata scale
// overflows float32), checkpoints with malformed headers, and FIFOs where files are expected.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { native, trainerConfig } from '../dist/src/native.js';
import { SEED7 } from '../dist/src/model/spec.js';
import { encodeCheckpoint } from '../dist/src/store/checkpoint.js';
import { buildOnnxModel } from '../dist/src/onnx/graph.js';

/** A seed7 checkpoint of freshly initialised weights; with `optimizer`, RMSprop state and an RNG state too. */
export function freshCheckpoint({ seed = 1, optimizer = false, epoch = 1 } = {}) {
  const trainer = new native.Trainer(trainerConfig({ spec: SEED7, seed }));
  try {
    const params = Float32Array.from(trainer.getParams());
    return {
      meta: { spec: SEED7, config: { seed }, classes: ['man', 'woman'], epoch, step: 0, ...(optimizer ? { rngState: [1, 2, 3, 4] } : {}) },
      layout: trainer.paramLayout(),
      params,
      ...(optimizer ? { accumulators: new Float32Array(params.length) } : {}),
    };
  } finally {
    trainer.dispose();
  }
}

/** `ckpt` with params[at] = value (NaN by default). */
export const withWeight = (ckpt, value = NaN, at = 5) => {
  const params = Float32Array.from(ckpt.params);
  params[at] = value;
  return { ...ckpt, params };
};

/** A checkpoint file's bytes with its JSON header changed by `edit(header)` (which may return a replacement). */
export function editHeader(bytes, edit) {
  const len = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + len).toString('utf8'));
  const changed = edit(header);
  const json = Buffer.from(JSON.stringify(changed === undefined ? header : changed), 'utf8');
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([head, json, bytes.subarray(8 + len)]);
}

/** ONNX bytes with metadata `key` set to `value`. */
export function withMetadata(onnxBytes, key, value) {
  const model = onnxProto.onnx.ModelProto.decode(onnxBytes);
  for (const p of model.metadataProps) if (p.key === key) p.value = value;
  return onnxProto.onnx.ModelProto.encode(model).finish();
}

/** A named pipe at `file` (nothing ever writes to it: reading it would wait forever). */
export function fifo(file) {
  execFileSync('mkfifo', [file]);
  return file;
}

/** Writes the usual hostile model files into `dir`; returns their paths by name. */
export async function writeHostileModels(dir) {
  const good = freshCheckpoint();
  const goodBytes = encodeCheckpoint(good);
  const onnx = buildOnnxModel(good);
  const files = {
    'good.safetensors': goodBytes,
    'good.onnx': onnx,
    'nan.safetensors': encodeCheckpoint(withWeight(good)),
    'nan.onnx': buildOnnxModel(withWeight(good)),
    'inf-scale.onnx': withMetadata(onnx, 'scale', '3e38'),
    'null-header.safetensors': editHeader(goodBytes, () => null),
    'null-entry.safetensors': editHeader(goodBytes, (h) => void (h['conv1.kernel'] = null)),
    'huge-shape.safetensors': editHeader(goodBytes, (h) => void (h['conv1.kernel'].shape = [1e9, 1e9, 3, 32])),
    'negative-offsets.safetensors': editHeader(goodBytes, (h) => void (h['conv1.kernel'].data_offsets = [-64, h['conv1.kernel'].data_offsets[1] - 64])),
    'overlapping.safetensors': editHeader(goodBytes, (h) => void (h['conv1.bias'].data_offsets = [0, h['conv1.bias'].data_offsets[1] - h['conv1.bias'].data_offsets[0]])),
    'null-spec.safetensors': editHeader(goodBytes, (h) => void (h.__metadata__.spec = 'null')),
    'empty-spec.safetensors': editHeader(goodBytes, (h) => void (h.__metadata__.spec = '{}')),
    'proto-spec.safetensors': editHeader(goodBytes, (h) => void (h.__metadata__.spec = '{"__proto__": {"name": "seed7", "input": [150, 150, 3], "layers": []}}')),
    'number-classes.safetensors': editHeader(goodBytes, (h) => void (h.__metadata__.classes = '[1, 2]')),
    'huge-step.safetensors': editHeader(goodBytes, (h) => void (h.__metadata__.step = '9007199254740993')),
  };
  const paths = {};
  for (const [name, bytes] of Object.entries(files)) {
    paths[name] = path.join(dir, name);
    await fs.writeFile(paths[name], bytes);
  }
  for (const name of ['fifo.safetensors', 'fifo.onnx', 'fifo.jpg', 'fifo.json', 'fifo.h5', 'fifo.tar.gz']) paths[name] = fifo(path.join(dir, name));
  return paths;
}
