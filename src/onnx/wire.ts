// The protocol-buffer wire format, read only: enough to walk an ONNX model's few interface fields without loading a
// generated decoder for all of ONNX (onnx-proto and protobufjs cost `eval` and `predict` tens of milliseconds of
// start-up, and a full decode copies every weight). Building models stays with onnx-proto (graph.ts).

/** One field of a message: its number, and its value (a varint's number, or a length-delimited field's bytes). */
export type WireField = { field: number; varint: number; bytes?: undefined } | { field: number; varint?: undefined; bytes: Uint8Array };

const utf8 = new TextDecoder();

/** A length-delimited field's bytes as text (UTF-8, as protobufjs reads strings). */
export const wireString = (bytes: Uint8Array): string => utf8.decode(bytes);

/**
 * The fields of the message in `buf`, in order (a repeated field once per element; fixed-width fields skipped).
 * Throws an Error saying where when the bytes are not a well-formed message.
 */
export function* wireFields(buf: Uint8Array): Generator<WireField> {
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 1; ; shift *= 128) {
      if (pos >= buf.length) throw new Error(`truncated varint at offset ${pos}`);
      if (shift > 2 ** 63) throw new Error(`varint longer than 10 bytes at offset ${pos}`);
      const b = buf[pos++];
      value += (b & 0x7f) * shift; // exact below 2^53: sizes, counts and enums are far below
      if (b < 0x80) return value;
    }
  };
  while (pos < buf.length) {
    const at = pos;
    const key = varint();
    const field = Math.floor(key / 8);
    const type = key % 8;
    if (field === 0) throw new Error(`field number 0 at offset ${at}`);
    if (type === 0) yield { field, varint: varint() };
    else if (type === 2) {
      const length = varint();
      if (length > buf.length - pos) throw new Error(`field ${field} at offset ${at} runs past the end (${length} bytes)`);
      yield { field, bytes: buf.subarray(pos, pos + length) };
      pos += length;
    } else if (type === 1 || type === 5) {
      pos += type === 1 ? 8 : 4;
      if (pos > buf.length) throw new Error(`field ${field} at offset ${at} runs past the end`);
    } else throw new Error(`invalid wire type ${type} at offset ${at}`);
  }
}
