/**
 * Minimal BMP decoder: sharp's prebuilt libvips has no BMP loader, and Keras accepts .bmp files.
 * Covers uncompressed 1/4/8-bit palette, 16/24/32-bit and BI_BITFIELDS images, like PIL's BmpImagePlugin;
 * RLE and embedded JPEG/PNG are rejected. Errors are plain Errors carrying the reason; callers add the file.
 */

export interface RawRGB {
  data: Uint8Array;
  width: number;
  height: number;
}

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const MAX_PIXELS = 0x3fff * 0x3fff; // sharp's default limitInputPixels

export function isBmp(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x42 && buf[1] === 0x4d; // 'BM'
}

interface Channel {
  mask: number;
  shift: number;
  max: number;
}

function channel(mask: number): Channel {
  const m = mask >>> 0;
  if (m === 0) throw new Error('BMP bit-field mask is zero');
  let shift = 0;
  while (((m >>> shift) & 1) === 0) shift++;
  return { mask: m, shift, max: m >>> shift };
}

export function decodeBmp(buf: Uint8Array): RawRGB {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 26) throw new Error(`truncated BMP header (${buf.length} bytes)`);
  const dataOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  const core = headerSize === 12; // OS/2 BITMAPCOREHEADER
  if (!core && headerSize < 40) throw new Error(`unsupported BMP header size ${headerSize}`);
  if (buf.length < 14 + headerSize) throw new Error(`truncated BMP header (${buf.length} bytes)`);

  const width = core ? view.getUint16(18, true) : view.getInt32(18, true);
  const rawHeight = core ? view.getUint16(20, true) : view.getInt32(22, true);
  const bpp = view.getUint16(core ? 24 : 28, true);
  const compression = core ? BI_RGB : view.getUint32(30, true);
  const colorsUsed = core ? 0 : view.getUint32(46, true);
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  if (width <= 0 || height === 0) throw new Error(`invalid BMP size ${width}x${rawHeight}`);
  if (width * height > MAX_PIXELS) throw new Error(`BMP of ${width}x${height} pixels exceeds the ${MAX_PIXELS} pixel limit`);
  if (compression !== BI_RGB && !(compression === BI_BITFIELDS && (bpp === 16 || bpp === 32))) {
    throw new Error(`unsupported BMP compression ${compression} at ${bpp} bits per pixel (only uncompressed BMPs are read)`);
  }

  let tableOffset = 14 + headerSize;
  let fields: Channel[] | null = null;
  if (bpp === 16 || bpp === 32) {
    let masks: number[];
    if (compression === BI_BITFIELDS) {
      // BITMAPINFOHEADER keeps the masks after the header; V2+ headers hold them inside.
      const at = 54;
      if (headerSize === 40) tableOffset += 12;
      if (buf.length < at + 12) throw new Error('truncated BMP bit-field masks');
      masks = [view.getUint32(at, true), view.getUint32(at + 4, true), view.getUint32(at + 8, true)];
    } else {
      masks = bpp === 16 ? [0x7c00, 0x03e0, 0x001f] : [0xff0000, 0xff00, 0xff];
    }
    fields = masks.map(channel);
  } else if (bpp !== 24 && bpp !== 1 && bpp !== 4 && bpp !== 8) {
    throw new Error(`unsupported BMP depth ${bpp} bits per pixel`);
  }

  let palette: Uint8Array | null = null;
  if (bpp <= 8) {
    const entrySize = core ? 3 : 4;
    const count = colorsUsed || 1 << bpp;
    if (tableOffset + count * entrySize > buf.length) throw new Error('truncated BMP palette');
    palette = new Uint8Array(256 * 3); // indices past the table read black, as in PIL
    for (let i = 0; i < Math.min(count, 256); i++) {
      const p = tableOffset + i * entrySize;
      palette[i * 3] = buf[p + 2];
      palette[i * 3 + 1] = buf[p + 1];
      palette[i * 3 + 2] = buf[p];
    }
  }

  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  if (dataOffset + stride * height > buf.length) {
    throw new Error(`truncated BMP pixel data (${buf.length} bytes, needs ${dataOffset + stride * height})`);
  }

  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride;
    let o = y * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      if (palette) {
        const bit = x * bpp;
        const index = (buf[row + (bit >> 3)] >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        out[o] = palette[index * 3];
        out[o + 1] = palette[index * 3 + 1];
        out[o + 2] = palette[index * 3 + 2];
      } else if (fields) {
        const p = row + x * (bpp >> 3);
        const px = bpp === 16 ? view.getUint16(p, true) : view.getUint32(p, true);
        for (let c = 0; c < 3; c++) {
          const f = fields[c];
          const v = (px & f.mask) >>> f.shift;
          out[o + c] = f.max === 255 ? v : Math.floor((v * 255) / f.max);
        }
      } else {
        const p = row + x * 3;
        out[o] = buf[p + 2];
        out[o + 1] = buf[p + 1];
        out[o + 2] = buf[p];
      }
    }
  }
  return { data: out, width, height };
}
