// Reading HDF5 files with h5wasm (HDF5 compiled to WebAssembly; in Node it reads the host filesystem).
// HDF5 reports errors by printing its error stack to stderr; h5wasm's "throwing" handler turns that into a
// JS exception instead, from which we keep the innermost reason for a one-line InputError.
import { promises as fs } from 'node:fs';
import h5wasm, { type Attribute, type Dataset, type File as H5File, type Group } from 'h5wasm/node';
import { InputError } from '../errors.js';
import { READ_LIMITS } from '../io/read.js';

export type { Dataset, Group, H5File };

let ready: Promise<void> | undefined;

function init(): Promise<void> {
  ready ??= h5wasm.ready.then((module) => {
    module.activate_throwing_error_handler();
  });
  return ready;
}

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The last "in FUNC(): reason" line of an HDF5 error stack: the root cause (e.g. "truncated file: eof = ..."). */
export function hdf5Reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const reasons = [...text.matchAll(/ in [\w.]+\(\): (.+)$/gm)].map((m) => m[1].trim());
  return reasons.at(-1) ?? text.split('\n')[0];
}

/** HDF5 puts its superblock at offset 0 or after a user block of 512, 1024, 2048, ... bytes. */
async function hasSignature(file: string, size: number): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(8);
    for (let at = 0; at + 8 <= size; at = at === 0 ? 512 : at * 2) {
      await handle.read(buf, 0, 8, at);
      if (buf.equals(SIGNATURE)) return true;
    }
    return false;
  } finally {
    await handle.close();
  }
}

/** Opens `file` read-only; a missing, unreadable or non-HDF5 file is an InputError saying what was `expected`. */
export async function openHdf5(file: string, expected: string): Promise<H5File> {
  const stat = await fs.stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`${file}: ${err.code === 'ENOENT' ? 'file not found' : err.message} (expected ${expected})`);
  });
  if (!stat.isFile()) throw new InputError(`${file}: not a regular file (expected ${expected})`);
  if (stat.size > READ_LIMITS.model) throw new InputError(`${file}: ${stat.size} bytes, more than the ${READ_LIMITS.model} a weights file may be (expected ${expected})`);
  let signed: boolean;
  try {
    signed = await hasSignature(file, stat.size);
  } catch (err) {
    throw new InputError(`${file}: cannot read: ${(err as Error).message}`);
  }
  if (!signed) throw new InputError(`${file}: not an HDF5 file (expected ${expected})`);
  await init();
  try {
    return new h5wasm.File(file, 'r');
  } catch (err) {
    throw new InputError(`${file}: unreadable HDF5 file: ${hdf5Reason(err)} (expected ${expected})`);
  }
}

/** The child group at `name`, or undefined when there is none (or it is not a group). */
export function childGroup(parent: Group, name: string): Group | undefined {
  if (!parent.keys().includes(name)) return undefined;
  const entity = parent.get(name);
  return entity instanceof h5wasm.Group ? entity : undefined;
}

/** The dataset at `path` below `parent`, or undefined. */
export function childDataset(parent: Group, path: string): Dataset | undefined {
  const entity = parent.get(path);
  return entity instanceof h5wasm.Dataset ? entity : undefined;
}

/** Drops the NUL padding of fixed-length HDF5 strings (Keras writes names as numpy byte strings, 'S<n>'). */
const unpad = (s: string): string => s.replace(/\0+$/, '');

/**
 * A string attribute, or a list of strings: fixed-length (as Keras writes layer_names/weight_names) or
 * variable-length. Keras writes an empty list as an empty float array; that reads as []. Undefined when absent.
 */
export function stringsAttr(node: Group, name: string): string[] | undefined {
  const attr: Attribute | undefined = node.attrs[name];
  if (!attr) return undefined;
  const value = attr.value;
  if (typeof value === 'string') return [unpad(value)];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return (value as string[]).map(unpad);
  if (ArrayBuffer.isView(value) && (value as ArrayLike<number>).length === 0) return [];
  return undefined;
}

/** A scalar string attribute (e.g. keras_version), or undefined. */
export function stringAttr(node: Group, name: string): string | undefined {
  const values = stringsAttr(node, name);
  return values?.length === 1 ? values[0] : undefined;
}
