// `engine data fetch` against a loopback HTTP server serving archives built here from ../shared/data, laid out
// as GitHub's archive of the seed's repository: success, a tampered image, a truncated archive, a missing
// file, HTTP 404, a connection cut short; each failure leaves no folder and no temp folder behind. Then
// `engine train` without --data fetches ./data first, and refuses with --no-fetch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fetchDataset, readManifest } from '../../dist/src/data/fetch.js';
import { readTar } from '../../dist/src/data/tar.js';
import { CELEBA, rejectsInput, runCli, tempDir } from '../helpers.mjs';
import { paxRecord, tarEntry } from '../tar-fixtures.mjs';

/** GitHub's layout: a pax global header (the commit), then <repo>-master/gender_classification/{all,train,val}/... */
async function buildArchive({ tamper, drop } = {}) {
  const top = 'gender-prediction-master';
  const parts = [tarEntry('pax_global_header', paxRecord('comment', 'c3f71c8d40ef2c67664ff74d2ef47f2b1aee89b2'), 'g'), tarEntry(`${top}/`, undefined, '5')];
  parts.push(tarEntry(`${top}/README.md`, Buffer.from('# gender prediction\n')));
  // a path longer than ustar's 100 characters, carried by a pax 'x' header as GitHub does
  const long = `${top}/gender_classification/${'very-long-folder-name/'.repeat(5)}notes.txt`;
  parts.push(tarEntry('PaxHeader', paxRecord('path', long), 'x'), tarEntry(long.slice(0, 100), Buffer.from('not data')));
  parts.push(tarEntry(`${top}/gender_classification/all/label.txt`, Buffer.from('000001.jpg 1\n')));
  const manifest = await readManifest();
  for (const rel of manifest.keys()) {
    if (rel === drop) continue;
    let data = await fs.readFile(path.join(CELEBA, rel));
    if (rel === tamper) {
      data = Buffer.from(data);
      data[data.length >> 1] ^= 0x01;
    }
    parts.push(tarEntry(`${top}/gender_classification/${rel}`, data));
  }
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts), { level: 1 });
}

let server;
let base;
let good;
const routes = new Map();
before(async () => {
  good = await buildArchive();
  routes.set('/ok.tar.gz', good);
  routes.set('/tampered.tar.gz', await buildArchive({ tamper: 'val/woman/' + (await fs.readdir(path.join(CELEBA, 'val/woman'))).sort()[3] }));
  routes.set('/missing-one.tar.gz', await buildArchive({ drop: 'train/man/' + (await fs.readdir(path.join(CELEBA, 'train/man'))).sort()[0] }));
  routes.set('/truncated.tar.gz', good.subarray(0, Math.floor(good.length * 0.6)));
  server = http.createServer((req, res) => {
    if (req.url === '/redirect') {
      res.writeHead(302, { location: '/ok.tar.gz' }).end();
    } else if (req.url === '/cut.tar.gz') {
      // promises the whole archive, sends a third, then drops the connection
      res.writeHead(200, { 'content-length': good.length });
      res.write(good.subarray(0, good.length / 3), () => res.destroy());
    } else if (routes.has(req.url)) {
      res.writeHead(200, { 'content-type': 'application/x-gzip', 'content-length': routes.get(req.url).length }).end(routes.get(req.url));
    } else {
      res.writeHead(404, 'Not Found').end('not found');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(() => new Promise((resolve) => server.close(resolve)));

test('the tar reader reads GitHub-style pax headers and refuses a corrupt header', async () => {
  const { gunzipSync } = await import('node:zlib');
  const tar = gunzipSync(good);
  const entries = [...readTar(tar)];
  assert.ok(entries.some((e) => e.path.endsWith('very-long-folder-name/notes.txt') && e.path.length > 100));
  const first = entries.find((e) => e.path.endsWith('/all/man/121211.jpg'));
  assert.deepEqual(Buffer.from(first.data), await fs.readFile(path.join(CELEBA, 'all/man/121211.jpg')));
  const corrupt = Buffer.from(tar);
  corrupt[1024 + 10] ^= 0xff; // inside the second header's name (the first is 1 header + 1 pax data block)
  assert.throws(() => [...readTar(corrupt)], /bad header checksum at byte 1024/);
});

test('engine data fetch: downloads (following a redirect), verifies and lays out all/, train/, val/', async (t) => {
  const dir = await tempDir(t);
  const dest = path.join(dir, 'data');
  const r = await runCli(['data', 'fetch', '--dest', dest, '--url', `${base}/redirect`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /data ready in .*: all\/ 575, train\/ 500, val\/ 75 images, every file verified/);
  assert.deepEqual(await fs.readdir(dir), ['data']);
  for (const [split, cls, n] of [['train', 'man', 198], ['train', 'woman', 302], ['val', 'man', 23], ['val', 'woman', 52], ['all', 'man', 221], ['all', 'woman', 354]]) {
    const files = (await fs.readdir(path.join(dest, split, cls))).sort();
    assert.equal(files.length, n, `${split}/${cls}`);
    assert.deepEqual(files, (await fs.readdir(path.join(CELEBA, split, cls))).sort());
  }
  const sample = 'val/woman/' + (await fs.readdir(path.join(CELEBA, 'val/woman'))).sort()[3];
  assert.deepEqual(await fs.readFile(path.join(dest, sample)), await fs.readFile(path.join(CELEBA, sample)));
  assert.equal((await fs.readdir(dest)).sort().join(), 'all,train,val', 'only the data: no README, labels or notes');

  // a second fetch into the same folder is refused and leaves it alone
  const again = await runCli(['data', 'fetch', '--dest', dest, '--url', `${base}/ok.tar.gz`]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists and is not empty/);
});

test('tampered, truncated, incomplete, 404 and cut-off downloads fail with the reason and leave nothing', async (t) => {
  const dir = await tempDir(t);
  const dest = path.join(dir, 'data');
  const cases = [
    ['/tampered.tar.gz', 'has SHA-256', 'the manifest expects', 'tampered or corrupt download'],
    ['/truncated.tar.gz', 'damaged or truncated'],
    ['/missing-one.tar.gz', 'lacks 1 of the 1150 dataset files', 'train/man/'],
    ['/nothing-here.tar.gz', 'HTTP 404 Not Found', '/nothing-here.tar.gz'],
    ['/cut.tar.gz', `${base}/cut.tar.gz`],
  ];
  for (const [route, ...parts] of cases) {
    await rejectsInput(fetchDataset({ dest, url: base + route }), ...parts);
    assert.deepEqual(await fs.readdir(dir), [], `${route} left files behind`);
  }
  // an empty dest folder survives a failure as it was
  await fs.mkdir(dest);
  await rejectsInput(fetchDataset({ dest, url: `${base}/tampered.tar.gz` }), 'tampered');
  assert.deepEqual(await fs.readdir(dir), ['data']);
  assert.deepEqual(await fs.readdir(dest), []);
  // ... and is filled by a good one; a local archive file works as --url
  const local = path.join(dir, 'seed.tar.gz');
  await fs.writeFile(local, good);
  const ok = await fetchDataset({ dest, url: local });
  assert.equal(ok.files, 1150);
  assert.deepEqual(ok.splits, { all: 575, train: 500, val: 75 });

  const viaCli = await runCli(['data', 'fetch', '--dest', path.join(dir, 'other'), '--url', `${base}/nothing-here.tar.gz`]);
  assert.equal(viaCli.code, 2);
  assert.equal(viaCli.stderr.trim(), `engine: download of ${base}/nothing-here.tar.gz failed: HTTP 404 Not Found`);

  // offline (nothing listens on the port): the error names the way out with an archive downloaded elsewhere
  const closed = http.createServer();
  await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadPort = closed.address().port;
  await new Promise((resolve) => closed.close(resolve));
  await rejectsInput(fetchDataset({ dest: path.join(dir, 'offline'), url: `http://127.0.0.1:${deadPort}/x.tar.gz` }), 'failed:', 'engine data fetch --url <downloaded archive>', '--data DIR');
});

test('engine train without --data fetches ./data first and says so; --no-fetch refuses and says where to get it', async (t) => {
  const cwd = await tempDir(t);
  const refused = await runCli(['train', '--epochs', '1', '--no-fetch'], { cwd });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /no dataset at .*data and --no-fetch was given: run `engine data fetch`/);
  assert.match(refused.stderr, /github\.com\/CZhihao\/gender-prediction/);
  assert.deepEqual(await fs.readdir(cwd), []);

  const r = await runCli(['train', '--epochs', '1', '--seed', '3', '--save-every', '0', '--out', 'runs/one'], {
    cwd,
    env: { ENGINE_DATA_URL: `${base}/ok.tar.gz` },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /is missing; fetching the seed's 575-image extract first/);
  assert.match(r.stdout, /data: 500 train and 75 val images/);
  assert.equal((await fs.readdir(path.join(cwd, 'data', 'all', 'woman'))).length, 354);
});
