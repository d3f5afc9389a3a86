// A small reader of tar archives (POSIX ustar with pax extended headers, and GNU long names), enough for the
// archives GitHub serves. It yields regular files and folders with their full paths; every malformation
// (a bad header checksum, an entry that runs past the end, a missing end-of-archive marker) is an error,
// so a truncated download can never pass for a shorter archive.

const BLOCK = 512;

export interface TarEntry {
  /** the path as stored ('/'-separated), after pax/GNU long-name overrides */
  path: string;
  type: 'file' | 'directory' | 'other';
  /** the file's bytes; empty for non-files and for files the reader was told to skip */
  data: Uint8Array;
  /** a file whose bytes were not kept (see TarParser's `want`) */
  skipped?: boolean;
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

/** Limits on what an archive may make the reader hold or walk: a path, a pax or long-name record, a kept file. */
export interface TarLimits {
  /** bytes of an entry's path (Linux's PATH_MAX) */
  maxPathBytes: number;
  /** '/'-separated components of an entry's path */
  maxPathDepth: number;
  /** bytes of a pax header or GNU long name */
  maxMetaBytes: number;
  /** bytes of a file entry that is kept (skipped entries are never held) */
  maxFileBytes: number;
}

export const DEFAULT_TAR_LIMITS: TarLimits = { maxPathBytes: 4096, maxPathDepth: 256, maxMetaBytes: 1 << 20, maxFileBytes: 1 << 30 };

/** An entry's header, before its data: what `want` decides on. */
export interface TarEntryHead {
  path: string;
  type: TarEntry['type'];
  size: number;
}

/**
 * A streaming tar reader: push() the archive's bytes in chunks of any size and get the complete entries each
 * chunk finishes; end() when the bytes end. Only the file entries `want` accepts are held (up to maxFileBytes);
 * others are skipped as they stream past, so memory stays bounded whatever the archive holds.
 */
export class TarParser {
  private pos = 0;
  private header = new Uint8Array(BLOCK);
  private headerFill = 0;
  /** what the current entry's data becomes: held (a wanted file, a pax record), or skipped */
  private data: Uint8Array | null = null;
  private dataFill = 0;
  private remaining = 0;
  private padding = 0;
  private pending: { head: TarEntryHead; kind: 'file' | 'x' | 'g' | 'L' } | null = null;
  private done = false;
  private paxPath: string | undefined;
  private globalPath: string | undefined;
  private longName: string | undefined;
  private readonly limits: TarLimits;

  constructor(
    private readonly want: (head: TarEntryHead) => boolean = () => true,
    limits: Partial<TarLimits> = {},
  ) {
    this.limits = { ...DEFAULT_TAR_LIMITS, ...limits };
  }

  /** The entries that `chunk` completes, in archive order. */
  push(chunk: Uint8Array): TarEntry[] {
    const out: TarEntry[] = [];
    let at = 0;
    while (at < chunk.length && !this.done) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - at);
        if (this.data) this.data.set(chunk.subarray(at, at + n), this.dataFill);
        this.dataFill += n;
        this.remaining -= n;
        at += n;
        this.pos += n;
        if (this.remaining === 0) this.finishData(out);
        continue;
      }
      if (this.padding > 0) {
        const n = Math.min(this.padding, chunk.length - at);
        this.padding -= n;
        at += n;
        this.pos += n;
        continue;
      }
      const n = Math.min(BLOCK - this.headerFill, chunk.length - at);
      this.header.set(chunk.subarray(at, at + n), this.headerFill);
      this.headerFill += n;
      at += n;
      if (this.headerFill === BLOCK) {
        this.headerFill = 0;
        this.readHeader(out);
        this.pos += BLOCK;
      }
    }
    return out;
  }

  /** The archive ended: an error unless its end-of-archive marker was seen. */
  end(): void {
    if (!this.done) throw new TarError(`archive is truncated: it ends at byte ${this.pos + this.headerFill} without the end-of-archive marker`);
  }

  private readHeader(out: TarEntry[]): void {
    const header = this.header;
    const at = this.pos;
    if (isZeroBlock(header)) {
      this.done = true; // end of archive (a second zero block may follow; nothing after it matters)
      return;
    }
    if (!checksumOk(header, at)) throw new TarError(`archive is corrupt: bad header checksum at byte ${at}`);
    const size = numberField(header, 124, 12, 'size', at);
    const typeflag = String.fromCharCode(header[156] || 0x30);
    this.padding = Math.ceil(size / BLOCK) * BLOCK - size;
    this.remaining = size;
    this.dataFill = 0;
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L') {
      if (size > this.limits.maxMetaBytes)
        throw new TarError(`a ${typeflag === 'L' ? 'long-name' : 'pax'} header at byte ${at} is ${size} bytes, more than the ${this.limits.maxMetaBytes} allowed`);
      this.data = new Uint8Array(size);
      this.pending = { head: { path: '', type: 'other', size }, kind: typeflag };
    } else {
      const magic = field(header, 257, 6);
      const prefix = magic.startsWith('ustar') ? field(header, 345, 155) : '';
      const name = field(header, 0, 100);
      const path = this.paxPath ?? this.longName ?? this.globalPath ?? (prefix ? `${prefix}/${name}` : name);
      this.paxPath = this.longName = undefined;
      if (Buffer.byteLength(path) > this.limits.maxPathBytes)
        throw new TarError(`an entry at byte ${at} has a path of ${Buffer.byteLength(path)} bytes, more than the ${this.limits.maxPathBytes} allowed`);
      let depth = 1;
      for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 0x2f) depth++;
      if (depth > this.limits.maxPathDepth)
        throw new TarError(`an entry at byte ${at} has a path of ${depth} components, more than the ${this.limits.maxPathDepth} allowed`);
      const type = typeflag === '0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'directory' : 'other';
      const head = { path, type, size } as TarEntryHead;
      const keep = type === 'file' && this.want(head);
      if (keep && size > this.limits.maxFileBytes) throw new TarError(`${path} is ${size} bytes, more than the ${this.limits.maxFileBytes} a kept file may be`);
      this.data = keep ? new Uint8Array(size) : null;
      this.pending = { head, kind: 'file' };
      if (!keep) {
        out.push({ path, type, data: new Uint8Array(0), skipped: type === 'file' });
        this.pending = null;
      }
    }
    if (size === 0) this.finishData(out);
  }

  private finishData(out: TarEntry[]): void {
    const p = this.pending;
    const data = this.data ?? new Uint8Array(0);
    this.pending = null;
    this.data = null;
    if (!p) return;
    switch (p.kind) {
      case 'x':
        this.paxPath = parsePax(data, this.pos - data.length).path ?? this.paxPath;
        return;
      case 'g':
        this.globalPath = parsePax(data, this.pos - data.length).path ?? this.globalPath;
        return;
      case 'L':
        this.longName = field(data, 0, data.length);
        return;
      default:
        out.push({ path: p.head.path, type: p.head.type, data });
    }
  }
}

/** Every entry of a whole archive in memory (each file's bytes a copy). */
export function* readTar(archive: Uint8Array, limits: Partial<TarLimits> = {}): Generator<TarEntry> {
  const parser = new TarParser(() => true, limits);
  yield* parser.push(archive);
  parser.end();
}
