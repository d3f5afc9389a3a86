// Tar archives built in tests: ustar header blocks and pax records, as GitHub's archives hold them.

/** One ustar header block (+ data blocks) for `name`; typeflag '0' file, '5' folder, 'x'/'g' pax. */
export function tarEntry(name, data = new Uint8Array(0), typeflag = '0') {
  const header = Buffer.alloc(512);
  header.write(name.slice(0, 100), 0, 'utf8');
  header.write(typeflag === '5' ? '0000755\0' : '0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('14741143000\0', 136);
  header.write('        ', 148);
  header.write(typeflag, 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  Buffer.from(data).copy(padded);
  return Buffer.concat([header, padded]);
}

/** A pax record `LEN key=value\n` (LEN counts itself). */
export function paxRecord(key, value) {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.from(`${len}${body}`);
}
