// A small reader of tar archives (POSIX ustar with pax extended headers, and GNU long names), enough for the
// archives GitHub serves. It yields regular files and folders with their full paths; every malformation
// (a bad header checksum, an entry that runs past the end, a missing end-of-archive marker) is an error,
// so a truncated download can never pass for a shorter archive.

const BLOCK = 512;

export interface TarEntry {
  /** the path as stored ('/'-separated), after pax/GNU long-name overrides */
  path: string;
  type: 'file' | 'directory' | 'other';
  /** the file's bytes (a view into the archive); empty for non-files */
  data: Uint8Array;
}

export class TarError extends Error {}

const decoder = new TextDecoder();

/** A NUL-terminated string field. */
function field(block: Uint8Array, offset: number, length: number): string {
  const bytes = block.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** An octal number field (space/NUL padded), or GNU's base-256 form for large sizes. */
function numberField(block: Uint8Array, offset: number, length: number, what: string, at: number): number {
  const bytes = block.subarray(offset, offset + length);
  if (bytes[0] & 0x80) {
    let n = 0;
    for (let i = 1; i < bytes.length; i++) n = n * 256 + bytes[i];
    return n;
  }
  const text = field(block, offset, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError(`tar header at byte ${at}: ${what} field '${text}' is not octal`);
  return parseInt(text, 8);
}

function checksumOk(block: Uint8Array, at: number): boolean {
  const stored = numberField(block, 148, 8, 'checksum', at);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum === stored;
}

/** pax records: "<length> <key>=<value>\n" repeated. */
function parsePax(data: Uint8Array, at: number): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    let space = pos;
    while (space < data.length && data[space] !== 0x20) space++;
    const length = Number(decoder.decode(data.subarray(pos, space)));
    if (!Number.isInteger(length) || length <= 0 || pos + length > data.length)
      throw new TarError(`pax header at byte ${at}: malformed record`);
    const record = decoder.decode(data.subarray(space + 1, pos + length - 1));
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += length;
  }
  return out;
}

const isZeroBlock = (b: Uint8Array) => b.every((x) => x === 0);

export function* readTar(archive: Uint8Array): Generator<TarEntry> {
  let pos = 0;
  let paxPath: string | undefined;
  let globalPath: string | undefined;
  let longName: string | undefined;
  for (;;) {
    if (pos + BLOCK > archive.length)
      throw new TarError(`archive is truncated: it ends at byte ${archive.length} without the end-of-archive marker`);
    const header = archive.subarray(pos, pos + BLOCK);
    if (isZeroBlock(header)) return; // end of archive (a second zero block may follow; nothing after it matters)
    if (!checksumOk(header, pos)) throw new TarError(`archive is corrupt: bad header checksum at byte ${pos}`);
    const size = numberField(header, 124, 12, 'size', pos);
    const typeflag = String.fromCharCode(header[156] || 0x30);
    const dataStart = pos + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > archive.length)
      throw new TarError(`archive is truncated: an entry at byte ${pos} needs ${size} bytes, the archive ends at ${archive.length}`);
    const data = archive.subarray(dataStart, dataEnd);
    pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    switch (typeflag) {
      case 'x':
        paxPath = parsePax(data, dataStart).path ?? paxPath;
        continue;
      case 'g':
        globalPath = parsePax(data, dataStart).path ?? globalPath;
        continue;
      case 'L':
        longName = field(data, 0, data.length);
        continue;
    }
    const magic = field(header, 257, 6);
    const prefix = magic.startsWith('ustar') ? field(header, 345, 155) : '';
    const name = field(header, 0, 100);
    const path = paxPath ?? longName ?? globalPath ?? (prefix ? `${prefix}/${name}` : name);
    paxPath = longName = undefined;
    const type = typeflag === '0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'directory' : 'other';
    yield { path, type, data: type === 'file' ? data : new Uint8Array(0) };
  }
}
