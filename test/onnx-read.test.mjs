// Reading a model's interface with the wire reader (onnx/wire.ts, onnx/model-info.ts) against onnx-proto's full
// decode of the same bytes, and the wire format's edge cases: every malformed message is refused with the place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import onnxProto from 'onnx-proto';
import { buildOnnxModel } from '../dist/src/onnx/graph.js';
import { readModelMetadata } from '../dist/src/onnx/model-info.js';
import { wireFields } from '../dist/src/onnx/wire.js';
import { freshCheckpoint } from './hostile-files.mjs';

const { onnx } = onnxProto;
const num = (v) => (v == null ? 0 : typeof v === 'number' ? v : v.toNumber());
const dims = (v) => v.type.tensorType.shape.dim.map((d) => (d.dimParam ? d.dimParam : num(d.dimValue)));

test("readModelMetadata reads what onnx-proto decodes: names, element types, shapes, opset, IR version, every metadata key", () => {
  const ckpt = freshCheckpoint();
  const variants = { plain: {}, 'embedded preprocessing': { embedPreprocessing: true }, 'flip TTA': { tta: 'flip' } };
  for (const [name, opts] of Object.entries(variants)) {
    const bytes = buildOnnxModel(ckpt, opts);
    const model = onnx.ModelProto.decode(bytes);
    const info = readModelMetadata(bytes, name);
    const input = model.graph.input.find((v) => !model.graph.initializer.some((t) => t.name === v.name));
    const output = model.graph.output.find((o) => o.name === info.outputName);
    assert.deepEqual(info.metadata, Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value])), name);
    assert.deepEqual([info.inputName, info.inputShape], [input.name, dims(input)], name);
    assert.equal(info.dtype, input.type.tensorType.elemType === onnx.TensorProto.DataType.UINT8 ? 'uint8' : 'float32', name);
    assert.deepEqual(info.outputShape, dims(output), name);
    assert.equal(info.logitName, model.graph.output.find((o) => o.name === info.metadata.logit_output)?.name, name);
    assert.deepEqual([info.opset, info.irVersion], [num(model.opsetImport[0].version), num(model.irVersion)], name);
  }
});

test('a model cut short anywhere, or with a byte changed in its header, is an InputError naming the file', () => {
  const bytes = buildOnnxModel(freshCheckpoint());
  for (let k = 0; k < 40; k++) {
    const cut = bytes.subarray(0, Math.floor((k / 40) * bytes.length));
    assert.throws(() => readModelMetadata(cut, 'cut.onnx'), (e) => e.exitCode === 2 && e.message.startsWith('cut.onnx: '), `cut at ${cut.length}`);
  }
  const changed = Uint8Array.from(bytes);
  changed[0] = 0x0f; // field 1 with wire type 7
  assert.throws(() => readModelMetadata(changed, 'x.onnx'), /^InputError: x\.onnx: not an ONNX model \(invalid wire type 7 at offset 0\)$/);
});

test('wireFields: varints of several bytes, lengths, skipped fixed-width fields, and the malformed refused', () => {
  // field 1 varint 300; field 2 fixed64; field 3 bytes "hi"; field 4 fixed32; field 5 varint 2^40
  const msg = Uint8Array.from([0x08, 0xac, 0x02, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x1a, 2, 0x68, 0x69, 0x25, 9, 9, 9, 9, 0x28, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
  const got = [...wireFields(msg)].map((f) => [f.field, f.varint ?? Buffer.from(f.bytes).toString()]);
  assert.deepEqual(got, [[1, 300], [3, 'hi'], [5, 2 ** 40]]);
  const refuse = (bytes, pattern) => assert.throws(() => [...wireFields(Uint8Array.from(bytes))], pattern);
  refuse([0x08], /truncated varint at offset 1/);
  refuse([0x1a, 5, 1], /field 3 at offset 0 runs past the end \(5 bytes\)/);
  refuse([0x11, 1, 2], /field 2 at offset 0 runs past the end/);
  refuse([0x00, 1], /field number 0 at offset 0/);
  refuse([0x0b], /invalid wire type 3 at offset 0/);
  refuse([0x08, ...Array(11).fill(0x80), 1], /varint longer than 10 bytes/);
});
