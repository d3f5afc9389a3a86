// A copy of an image, upright (EXIF orientation applied) and at its original size, with a label drawn in a
// box at the top left: an SVG overlay composited by sharp, its font scaled with the image.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { decodeBmp, isBmp } from '../data/bmp.js';
import { InputError } from '../errors.js';
import { READ_LIMITS, readInputFile } from '../io/read.js';
import { writeFileAtomic } from '../io/atomic.js';

export type AnnotatedFormat = 'jpeg' | 'png' | 'webp';

const EXTENSION_FORMATS: Record<string, AnnotatedFormat> = { '.jpg': 'jpeg', '.jpeg': 'jpeg', '.png': 'png', '.webp': 'webp' };

/** The format an annotated copy of `file` keeps: the input's when it is JPEG, PNG or WebP, else PNG. */
export function annotatedFormat(file: string): AnnotatedFormat {
  return EXTENSION_FORMATS[path.extname(file).toLowerCase()] ?? 'png';
}

/** Format named by an output file's extension, if it names one. */
export function formatOfOutput(file: string): AnnotatedFormat | undefined {
  return EXTENSION_FORMATS[path.extname(file).toLowerCase()];
}

/** `<base>.annotated.<ext>`: the input's extension when its format is kept, else .png. */
export function annotatedName(file: string): string {
  const ext = path.extname(file);
  const keep = EXTENSION_FORMATS[ext.toLowerCase()] !== undefined;
  return `${path.basename(file, ext)}.annotated${keep ? ext : '.png'}`;
}

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The label box as an SVG the size of the image. The font is 1/16 of the shorter side (at least 10 px),
 * shrunk if the text would not fit the width. DejaVu Sans averages about 0.62 em per character.
 */
export function labelSvg(width: number, height: number, text: string): string {
  const em = 0.62;
  let size = Math.max(10, Math.round(Math.min(width, height) / 16));
  const pad = () => Math.max(2, Math.round(size * 0.3));
  const fits = () => text.length * em * size + 2 * pad() <= width;
  while (size > 4 && !fits()) size--;
  const boxW = Math.min(width, Math.ceil(text.length * em * size + 2 * pad()));
  const boxH = Math.min(height, Math.ceil(size * 1.35 + pad()));
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect x="0" y="0" width="${boxW}" height="${boxH}" fill="#000" fill-opacity="0.7"/>` +
    `<text x="${pad()}" y="${Math.round(pad() / 2 + size * 1.05)}" font-family="DejaVu Sans" font-size="${size}" fill="#fff">${escapeXml(text)}</text>` +
    `</svg>`
  );
}

/** Writes `file`, upright, with `text` drawn on it, to `out` in `format`. Returns the written size. */
export async function annotateImage(file: string, out: string, text: string, format: AnnotatedFormat): Promise<{ width: number; height: number }> {
  const buf = await readInputFile(file, 'image', READ_LIMITS.image);
  try {
    // BMP is decoded by the engine itself (sharp cannot); it carries no orientation.
    let image: ReturnType<typeof sharp>;
    let width: number;
    let height: number;
    let hasAlpha = false;
    if (isBmp(buf)) {
      const raw = decodeBmp(buf);
      ({ width, height } = raw);
      image = sharp(raw.data, { raw: { width, height, channels: 3 } });
    } else {
      const meta = await sharp(buf).metadata();
      ({ width, height } = meta.autoOrient ?? meta);
      hasAlpha = meta.hasAlpha;
      image = sharp(buf, { autoOrient: true });
    }
    image = image.composite([{ input: Buffer.from(labelSvg(width, height, text)), top: 0, left: 0 }]);
    if (!hasAlpha) image = image.removeAlpha(); // the overlay's alpha must not add a channel to an opaque image
    const encoded =
      format === 'jpeg' ? image.jpeg({ quality: 92 }) : format === 'webp' ? image.webp({ quality: 92 }) : image.png();
    await writeFileAtomic(out, await encoded.toBuffer());
    return { width, height };
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot annotate ${file} into ${out}: ${(err as Error).message.split('\n')[0]}`);
  }
}
