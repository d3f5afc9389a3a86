// `engine data fetch` bounded and tidy, against archives built here with a two-file manifest: a gzip bomb stops
// at the manifest's cap, a path of 40,000 components is refused at once, a server that gzips the archive again
// (Content-Encoding with a Content-Length) is read, HTTP_PROXY is used, file://host is a usage error, a killed
// fetch's temp folder is swept and the parent folders of a failed fetch are removed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fetchDataset, unpackedCap } from '../dist/src/data/fetch.js';
import { TarParser } from '../dist/src/data/tar.js';
import { rejectsInput, tempDir } from './helpers.mjs';
import { paxRecord, tarEntry } from './tar-fixtures.mjs';

const paxPath = (value) => tarEntry('PaxHeader', paxRecord('path', value), 'x');

const FILES = { 'train/a/1.txt': Buffer.from('one\n'), 'val/b/2.txt': Buffer.from('two\n') };
const tarOf = (...parts) => Buffer.concat([...parts, Buffer.alloc(1024)]);
const goodTar = () => tarOf(...Object.entries(FILES).map(([rel, data]) => tarEntry(`repo-main/gender_classification/${rel}`, data)));

let dir;
let manifest;
let server;
let base;
let proxied = [];
const cleanups = [];
before(async () => {
  dir = await tempDir({ after: (fn) => cleanups.push(fn) });
  manifest = path.join(dir, 'manifest.sha256');
  await fs.writeFile(manifest, Object.entries(FILES).map(([rel, d]) => `${createHash('sha256').update(d).digest('hex')}  ${rel}\n`).join(''));
  const archive = gzipSync(goodTar());
  server = http.createServer((req, res) => {
    if (req.url.endsWith('/double.tar.gz')) {
      // gzipped again on the wire: Content-Length is that of the encoded bytes
      const encoded = gzipSync(archive);
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': encoded.length }).end(encoded);
    } else res.writeHead(200, { 'content-length': archive.length }).end(archive);
  });
  // as a proxy: a CONNECT to any host is tunnelled to this server
  server.on('connect', (req, socket) => {
    proxied.push(req.url);
    const upstream = net.connect(server.address().port, '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(socket).pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await Promise.all(cleanups.map((fn) => fn()));
});

test('a gzip bomb stops at the first byte past the cap the manifest implies; nothing is left', async () => {
  const bombSize = unpackedCap(2) + (64 << 20);
  const zeros = Buffer.alloc(bombSize); // one entry that is not the dataset's, bigger than the cap
  const bomb = path.join(dir, 'bomb.tar.gz');
  await fs.writeFile(bomb, gzipSync(tarOf(tarEntry('repo-main/junk.bin', zeros)), { level: 1 }));
  const dest = path.join(dir, 'bombed', 'data');
  await rejectsInput(fetchDataset({ url: bomb, dest, manifest }), 'unpacks to more than', String(unpackedCap(2)));
  assert.deepEqual((await fs.readdir(dir)).filter((n) => n.startsWith('bombed') || n.startsWith('.')), [], 'no folder made, none left');
});

test('a path of 40,000 components is refused in linear time; a long path too', () => {
  const deep = tarOf(paxPath('a/'.repeat(40000) + 'x.txt'), tarEntry('x', Buffer.from('x')));
  assert.throws(() => new TarParser().push(deep), /path of 80005 bytes, more than the 4096 allowed/);
  const shallowLong = tarOf(paxPath('a/'.repeat(1000) + 'x.txt'), tarEntry('x', Buffer.from('x')));
  assert.throws(() => new TarParser().push(shallowLong), /1001 components, more than the 256 allowed/);
});

test('Content-Encoding gzip with a Content-Length is read; HTTP_PROXY is used; file://host is refused', async (t) => {
  const done = await fetchDataset({ url: `${base}/double.tar.gz`, dest: path.join(dir, 'double'), manifest, timeoutMs: 20_000 });
  assert.equal(done.files, 2);
  assert.equal(await fs.readFile(path.join(dir, 'double', 'val', 'b', '2.txt'), 'utf8'), 'two\n');

  const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  });
  process.env.HTTP_PROXY = base;
  process.env.NO_PROXY = '';
  proxied = [];
  await fetchDataset({ url: 'http://dataset.invalid/repo.tar.gz', dest: path.join(dir, 'proxied'), manifest, timeoutMs: 20_000 });
  assert.deepEqual(proxied, ['dataset.invalid:80']);

  await rejectsInput(fetchDataset({ url: 'file://otherhost/x.tar.gz', dest: path.join(dir, 'f'), manifest }), 'file://otherhost/x.tar.gz', 'not a file URL of this machine');
});

test('the temp folder of a killed fetch is swept by the next one; the fetched folder gets the mode of the umask', async () => {
  const dest = path.join(dir, 'swept');
  const debris = path.join(dir, '.swept.fetch-4194305-abcd1234'); // a dead pid's
  await fs.mkdir(path.join(debris, 'train'), { recursive: true });
  await fs.writeFile(path.join(debris, 'train', 'x'), 'x');
  await fetchDataset({ url: `${base}/ok.tar.gz`, dest, manifest, timeoutMs: 20_000 });
  await assert.rejects(fs.stat(debris), { code: 'ENOENT' });
  assert.equal((await fs.stat(dest)).mode & 0o777, 0o777 & ~process.umask());
});
