// `engine serve-demo`: a local web server for demo/ (a page that classifies an image entirely in the browser
// with onnxruntime-web), the model it runs and onnxruntime-web's WebAssembly files from node_modules. Only
// a fixed list of files is served; nothing comes from a CDN. Requests must name this server in their Host header
// (a page of another site that rebinds its DNS name to this address gets nothing), the model is loaded with
// onnxruntime before anything is served, and closing ends every connection, idle or half-open.
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InferenceSession } from '../eval/runtime.js';
import { EngineError, InputError, UsageError } from '../errors.js';
import { checkFeedable, imageBytes } from '../eval/feed.js';
import { runModel } from '../eval/session.js';
import { readModelSource, type ModelSource } from '../eval/model-source.js';
import { readModelMetadata, type ModelInfo } from '../onnx/model-info.js';
import { resolveServeOptions } from '../options/serve-demo.js';
import { MODEL_CARD_NAME } from '../report/model-card.js';

const DEMO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'demo');
const DEMO_FILES = ['index.html', 'demo.js', 'preprocess.js'];
/** The wasm-only ESM build of onnxruntime-web and the WebAssembly module it loads. */
const ORT_FILES = ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
  '.md': 'text/markdown; charset=utf-8',
};
// Everything from this server; WebAssembly compiled in place; images the user picks shown as blob: URLs.
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:";

function ortDistDir(): string {
  try {
    return path.dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
  } catch {
    throw new EngineError('engine serve-demo needs onnxruntime-web (a devDependency: run npm ci, or npm install onnxruntime-web)');
  }
}

export interface DemoServerOptions extends ModelSource {
  /** default 8000; 0 picks a free port */
  port?: number;
  /** default 127.0.0.1 (this machine only) */
  host?: string;
}

export interface DemoServer {
  url: string;
  /** whether only this machine can connect (a loopback address); otherwise the page is open to the network */
  loopback: boolean;
  /** the model's source: its file, or 'in-memory from <weights>' */
  model: string;
  close(): Promise<void>;
}

/** Why the server cannot listen on host:port, naming the flag to change; other errors are passed on. */
function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  switch (err.code) {
    case 'EADDRINUSE':
      return new UsageError(`--port ${port}: the port is in use on ${host}; choose another (0 picks a free one)`);
    case 'EACCES':
      return new UsageError(`--port ${port}: permission denied to listen on ${host}:${port} (ports below 1024 need privileges); choose another`);
    case 'EADDRNOTAVAIL':
      return new UsageError(`--host ${host}: not an address of this machine (EADDRNOTAVAIL); use 127.0.0.1, 0.0.0.0 (every interface) or one of its addresses`);
    case 'ENOTFOUND':
    case 'EAI_NONAME':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return new UsageError(`--host ${host}: no such host (${err.code}); give an address of this machine, e.g. 127.0.0.1`);
    case 'EINVAL':
    case 'EAFNOSUPPORT':
      return new UsageError(`--host ${host} --port ${port}: cannot listen there (${err.code}: ${err.message})`);
    default:
      return err.code ? new UsageError(`--host ${host} --port ${port}: cannot listen there (${err.code}: ${err.message})`) : err;
  }
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped form: addresses only this machine reaches. */
export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').replace(/^::ffff:/i, '');
  return a === '::1' || (net.isIPv4(a) && a.startsWith('127.'));
}

/**
 * Whether a request's Host header names this server: the --host given, 'localhost', or an IP address (a browser
 * sends a domain name only when the page came from that name: another site's name rebound to this address is
 * refused). A missing or malformed header is refused.
 */
export function hostAllowed(header: string | undefined, host: string): boolean {
  if (!header) return false;
  let name: string;
  try {
    name = new URL(`http://${header}`).hostname.toLowerCase();
  } catch {
    return false;
  }
  const bare = name.replace(/^\[|\]$/g, '');
  return bare === host.toLowerCase().replace(/^\[|\]$/g, '') || bare === 'localhost' || net.isIP(bare) !== 0;
}

/**
 * The model as onnxruntime loads and runs it, on one black image: refused before serving when it cannot be loaded
 * (the page would fail to) or computes no probability (a NaN weight: the page would show NaN).
 */
async function checkRuns(info: ModelInfo, bytes: Uint8Array, source: string): Promise<void> {
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  } catch (err) {
    throw new InputError(`${source}: onnxruntime cannot load the model: ${(err as Error).message.split('\n')[0]}`);
  }
  try {
    await runModel({ info, source, provider: 'cpu', threads: 1, session, close: () => session.release() }, new Uint8Array(imageBytes(info)), 1);
  } finally {
    await session.release();
  }
}

export async function serveDemo(opts: DemoServerOptions = {}): Promise<DemoServer> {
  const { port, host } = resolveServeOptions(opts);
  const { bytes, source, file: modelFile } = await readModelSource(opts);
  // the model card export wrote beside the model (or beside the checkpoint exported in memory), linked from the page
  const cardFile = modelFile !== undefined ? path.join(path.dirname(modelFile), MODEL_CARD_NAME) : undefined;
  const hasCard = cardFile !== undefined && (await fs.stat(cardFile).catch(() => null))?.isFile() === true;
  const info = readModelMetadata(bytes, source);
  checkFeedable(info, source);
  // demo/preprocess.js turns one logit into P(classes[1]): the page shows sigmoid models only
  if (info.head !== 'sigmoid')
    throw new InputError(`${source}: the demo page shows 2-class sigmoid models; this one has a ${info.head} head of ${info.classes.length} classes (use engine predict)`);
  await checkRuns(info, bytes, source);
  // The page gets what it feeds the model with, and the model's name: no path of this machine.
  const { metadata: _m, ...feed } = info;
  const shown = source.startsWith('in-memory from ') ? `in-memory from ${path.basename(source.slice('in-memory from '.length))}` : path.basename(source);
  const modelInfo = JSON.stringify({ ...feed, source: shown, modelCard: hasCard ? MODEL_CARD_NAME : null });

  const files = new Map<string, string>();
  for (const f of DEMO_FILES) files.set(`/${f}`, path.join(DEMO_DIR, f));
  const ort = ortDistDir();
  for (const f of ORT_FILES) files.set(`/ort/${f}`, path.join(ort, f));
  for (const [, file] of files) await fs.access(file).catch(() => {
    throw new EngineError(`engine serve-demo: ${file} is missing from the installation`);
  });

  const server = http.createServer(async (req, res) => {
    const headers = {
      'content-security-policy': CSP,
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    };
    const send = (status: number, body: string | Uint8Array, type: string) => {
      res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(body) }).end(req.method === 'HEAD' ? undefined : body);
    };
    if (!hostAllowed(req.headers.host, host)) return send(421, 'misdirected request: the Host header does not name this server\n', 'text/plain');
    const route = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n', 'text/plain');
    if (route === '/model.onnx') return send(200, bytes, TYPES['.onnx']);
    if (route === '/model-info.json') return send(200, modelInfo, TYPES['.json']);
    if (route === `/${MODEL_CARD_NAME}` && hasCard) {
      try {
        return send(200, await fs.readFile(cardFile!), TYPES['.md']);
      } catch (err) {
        return send(500, `cannot read ${MODEL_CARD_NAME}: ${(err as Error).message}\n`, 'text/plain');
      }
    }
    const file = files.get(route === '/' ? '/index.html' : route);
    if (!file) return send(404, 'not found\n', 'text/plain');
    try {
      send(200, await fs.readFile(file), TYPES[path.extname(file)] ?? 'application/octet-stream');
    } catch (err) {
      send(500, `cannot read ${path.basename(file)}: ${(err as Error).message}\n`, 'text/plain');
    }
  });
  // a client that sends half a request is not waited for long
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, host, port)));
    server.listen(port, host, resolve);
  });
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/`,
    loopback: isLoopback(address.address),
    model: source,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // keep-alive and half-open connections would hold close() open until their clients go
        server.closeAllConnections();
      }),
  };
}
