// `engine serve-demo` hardened: an empty --host is refused (it would listen on every interface), requests whose
// Host header names another site are refused (DNS rebinding), responses say nosniff, /model-info.json holds no
// path of this machine, the page writes class names as text, and closing ends idle keep-alive connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { serveDemo, hostAllowed, isLoopback } from '../dist/src/demo/serve.js';
import { resolveServeOptions } from '../dist/src/options/serve-demo.js';
import { UsageError } from '../dist/src/errors.js';
import { ROOT, tempDir } from './helpers.mjs';
import { writeHostileModels } from './hostile-files.mjs';

/** GET `route` with `host` as the Host header, on a keep-alive agent; resolves {status, headers, body}. */
function get(port, route, host, agent) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: route, headers: { host }, agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

test('serve-demo refuses an empty host and foreign Host headers, sends nosniff, hides paths, closes idle connections', { timeout: 60_000 }, async (t) => {
  assert.throws(() => resolveServeOptions({ host: '' }), (e) => e instanceof UsageError && /--host must name an address/.test(e.message));
  assert.throws(() => resolveServeOptions({ host: '  ' }), UsageError);
  assert.ok(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('::ffff:127.0.0.2') && !isLoopback('0.0.0.0') && !isLoopback('10.0.0.1'));
  assert.ok(hostAllowed('127.0.0.1:8080', '127.0.0.1') && hostAllowed('localhost:1', '127.0.0.1') && hostAllowed('[::1]:1', '::1'));
  assert.ok(!hostAllowed('attacker.example:8080', '127.0.0.1') && !hostAllowed(undefined, '127.0.0.1') && !hostAllowed('a b', '127.0.0.1'));

  const dir = await tempDir(t);
  const f = await writeHostileModels(dir);
  const server = await serveDemo({ model: f['good.onnx'], port: 0, host: '127.0.0.1' });
  assert.equal(server.loopback, true);
  const port = Number(new URL(server.url).port);
  const agent = new http.Agent({ keepAlive: true });
  const rebound = await get(port, '/', `attacker.example:${port}`, agent);
  assert.equal(rebound.status, 421);
  const page = await get(port, '/', `127.0.0.1:${port}`, agent);
  assert.equal(page.status, 200);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  const info = await get(port, '/model-info.json', `localhost:${port}`, agent);
  assert.equal(info.status, 200);
  assert.equal(JSON.parse(info.body).source, 'good.onnx');
  assert.ok(!info.body.includes(dir), `no path of this machine in ${info.body}`);
  // the keep-alive connection stays open and idle: close() must end it, not wait for the client
  await server.close();
  agent.destroy();

  // class names from the model go into the page as text, never as markup
  const demo = await fs.readFile(path.join(ROOT, 'demo', 'demo.js'), 'utf8');
  assert.doesNotMatch(demo, /innerHTML|outerHTML|insertAdjacentHTML/);
});
