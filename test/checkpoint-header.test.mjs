// decodeCheckpoint validates the whole safetensors header against the model spec before it reads a byte of data:
// each malformation (null header or entry, huge shapes, negative, overlapping or out-of-file data_offsets, a spec
// of null, {} or __proto__, class names that are not strings, a step past 2^53, a NaN weight) is an InputError
// naming the file and the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCheckpoint, encodeCheckpoint } from '../dist/src/store/checkpoint.js';
import { rejectsInput } from './helpers.mjs';
import { editHeader, freshCheckpoint, withWeight } from './hostile-files.mjs';

test('decodeCheckpoint checks the whole header before a byte of data: each malformation names the file and the field', async () => {
  const good = encodeCheckpoint(freshCheckpoint({ optimizer: true }));
  const refused = (name, bytes, ...parts) => rejectsInput(Promise.resolve().then(() => decodeCheckpoint(name, bytes)), name, ...parts);
  const len = Number(good.readBigUInt64LE(0));
  const edit = (fn) => editHeader(good, fn);
  await refused('null.st', edit(() => null), 'header is null');
  await refused('array.st', edit(() => []), 'expected an object');
  await refused('no-meta.st', edit((h) => void delete h.__metadata__), '__metadata__');
  await refused('null-entry.st', edit((h) => void (h['dense1.bias'] = null)), 'dense1.bias', 'must be an object');
  await refused('dtype.st', edit((h) => void (h['dense1.bias'].dtype = 'F64')), 'dense1.bias', 'F64');
  await refused('shape.st', edit((h) => void (h['dense1.bias'].shape = [-1])), 'dense1.bias', 'shape');
  await refused('huge.st', edit((h) => void (h['dense1.bias'].shape = [2 ** 52, 2 ** 52])), 'dense1.bias', 'data_offsets');
  await refused('negative.st', edit((h) => void (h['conv1.kernel'].data_offsets = [-8, 3448])), 'conv1.kernel', 'data_offsets [-8,3448]');
  // the header's own bytes as weights: offsets pointing back before the data section
  await refused('header-as-weights.st', edit((h) => void (h['conv1.kernel'].data_offsets = [-len, -len + 3456])), 'conv1.kernel', 'data_offsets');
  await refused('beyond.st', edit((h) => void (h['conv1.kernel'].data_offsets = [good.length, good.length + 3456])), 'conv1.kernel', 'outside the file');
  await refused('overlap.st', edit((h) => void (h['conv1.bias'].data_offsets = [0, 128])), 'conv1.bias', 'overlaps');
  await refused('extra.st', edit((h) => void (h['evil'] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] })), 'evil', 'not one of the model');
  await refused('spec-null.st', edit((h) => void (h.__metadata__.spec = 'null')), "metadata 'spec'");
  await refused('spec-empty.st', edit((h) => void (h.__metadata__.spec = '{}')), "metadata 'spec'", 'name');
  await refused('spec-proto.st', edit((h) => void (h.__metadata__.spec = '{"__proto__": {"name": "seed7"}}')), "metadata 'spec'");
  await refused('spec-layers.st', edit((h) => void (h.__metadata__.spec = JSON.stringify({ name: 'x', input: [150, 150, 3], layers: [{ type: 'nope' }] }))), "metadata 'spec'");
  await refused('classes.st', edit((h) => void (h.__metadata__.classes = '["man", 7]')), "metadata 'classes'");
  await refused('classes-nl.st', edit((h) => void (h.__metadata__.classes = '["man", "wo\\nman"]')), "metadata 'classes'", 'control');
  await refused('classes-count.st', edit((h) => void (h.__metadata__.classes = '["a", "b", "c"]')), "metadata 'classes'", '3 class names');
  await refused('meta-number.st', edit((h) => void (h.__metadata__.step = 3)), "metadata 'step'");
  await refused('step.st', edit((h) => void (h.__metadata__.step = '9007199254740993')), "metadata 'step'", '2^53');
  await refused('epoch.st', edit((h) => void (h.__metadata__.epoch = '-1')), "metadata 'epoch'");
  await refused('rng.st', edit((h) => void (h.__metadata__.rng_state = '{"a": 1}')), "metadata 'rng_state'");
  await refused('config.st', edit((h) => void (h.__metadata__.config = '[1]')), "metadata 'config'");
  await refused('nan.st', encodeCheckpoint(withWeight(freshCheckpoint({ optimizer: true }))), 'conv1.kernel', 'NaN');
  const nanState = freshCheckpoint({ optimizer: true });
  nanState.accumulators[10] = Infinity;
  await refused('inf-optimizer.st', encodeCheckpoint(nanState), 'optimizer.conv1.kernel', 'Infinity');
  const headerLen = Buffer.from(good);
  headerLen.writeBigUInt64LE(2n ** 62n);
  await refused('length.st', headerLen, 'header length');
  // and the good one still decodes, bit for bit
  const back = decodeCheckpoint('good.st', good);
  assert.deepEqual(back.params, freshCheckpoint({ optimizer: true }).params);
});
