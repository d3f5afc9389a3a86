// writeFileAtomic (src/io/atomic.ts): the new bytes go to a temp file in the target's folder and are renamed
// over the target, so a reader sees the old file or the whole new one; a failed write or rename leaves the
// target as it was and no temp file. A resumed run removes the temp files a kill left behind.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../dist/src/io/atomic.js';
import { removeStaleTempFiles } from '../dist/src/store/run-dir.js';
import { tempDir } from './helpers.mjs';

const TEMP = /^\.run\.json\.\d+\.\d+\.tmp$/;

test('at rename time the target still holds the old bytes and a temp file in the same folder the whole new ones', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'run.json');
  await fs.writeFile(file, 'old contents');
  const fresh = Buffer.from('{"new": true}\n'.repeat(1000));
  const realRename = fsSync.promises.rename;
  const seen = [];
  const rename = mock.method(fsSync.promises, 'rename', async (from, to) => {
    seen.push({
      from,
      to,
      target: await fs.readFile(to, 'utf8').catch((e) => e.code), // ENOENT before a file's first write
      temp: await fs.readFile(from),
      listing: (await fs.readdir(dir)).sort(),
    });
    return realRename(from, to);
  });
  t.after(() => rename.mock.restore());
  await writeFileAtomic(file, fresh);
  assert.equal(rename.mock.callCount(), 1);
  const [{ from, to, target, temp, listing }] = seen;
  assert.equal(to, file);
  assert.equal(path.dirname(from), dir, 'the temp file is in the target folder (a rename within one file system)');
  assert.match(path.basename(from), TEMP);
  assert.equal(target, 'old contents', 'the target is untouched until the rename');
  assert.deepEqual(temp, fresh, 'the temp file holds all of the new bytes before the rename');
  assert.deepEqual(listing, [path.basename(from), 'run.json'].sort());
  assert.deepEqual(await fs.readFile(file), fresh);
  assert.deepEqual(await fs.readdir(dir), ['run.json'], 'no temp file left');

  // a string, a file that did not exist yet, and two writes at once (distinct temp names; the last rename wins)
  const other = path.join(dir, 'new.txt');
  await Promise.all([writeFileAtomic(other, 'first'), writeFileAtomic(other, 'second')]);
  assert.equal(rename.mock.callCount(), 3);
  assert.equal(seen[1].target, 'ENOENT', 'no new.txt before the first rename');
  const [a, b] = rename.mock.calls.slice(1).map((c) => c.arguments[0]);
  assert.notEqual(a, b);
  assert.ok(['first', 'second'].includes(await fs.readFile(other, 'utf8')));
  assert.deepEqual((await fs.readdir(dir)).sort(), ['new.txt', 'run.json']);
});

test('a failed rename leaves the target unchanged and removes the temp file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'run.json');
  await fs.writeFile(file, 'old contents');
  const rename = mock.method(fsSync.promises, 'rename', async () => {
    throw Object.assign(new Error('EXDEV: cross-device link not permitted'), { code: 'EXDEV' });
  });
  t.after(() => rename.mock.restore());
  await assert.rejects(writeFileAtomic(file, 'new contents'), /EXDEV/);
  assert.equal(rename.mock.callCount(), 1);
  assert.equal(await fs.readFile(file, 'utf8'), 'old contents');
  assert.deepEqual(await fs.readdir(dir), ['run.json']);
});

test('a failed write (disk full) leaves the target unchanged and removes the temp file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'run.json');
  await fs.writeFile(file, 'old contents');
  const realOpen = fsSync.promises.open;
  const opened = [];
  const open = mock.method(fsSync.promises, 'open', async (...args) => {
    const handle = await realOpen(...args);
    opened.push(args[0]);
    const realWrite = handle.writeFile.bind(handle);
    // half of the bytes land, then the disk is full
    handle.writeFile = async (data) => {
      await realWrite(Buffer.from(data).subarray(0, 5));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    return handle;
  });
  const rename = mock.method(fsSync.promises, 'rename');
  t.after(() => {
    open.mock.restore();
    rename.mock.restore();
  });
  await assert.rejects(writeFileAtomic(file, 'new contents'), { name: 'WriteError', message: `cannot write ${file}: no space left on the device` });
  assert.equal(opened.length, 1);
  assert.equal(path.dirname(opened[0]), dir);
  assert.equal(rename.mock.callCount(), 0, 'nothing renamed over the target');
  assert.equal(await fs.readFile(file, 'utf8'), 'old contents');
  assert.deepEqual(await fs.readdir(dir), ['run.json'], 'the partial temp file is removed');

  // a folder that does not exist: the error comes from open, and nothing is created
  await assert.rejects(writeFileAtomic(path.join(dir, 'missing', 'x.json'), '{}'), { code: 'ENOENT' });
  assert.deepEqual(await fs.readdir(dir), ['run.json']);
});

test('removeStaleTempFiles removes the temp files of atomic writes in a run folder and its history/, nothing else', async (t) => {
  const dir = await tempDir(t);
  await fs.mkdir(path.join(dir, 'history'));
  const stale = ['.run.json.4242.0.tmp', '.last.safetensors.4242.3.tmp'];
  const staleHistory = ['.loss_history.txt.4242.7.tmp'];
  const keep = ['run.json', 'last.safetensors', 'notes.tmp', '.hidden', 'history'];
  for (const n of [...stale, ...keep.filter((k) => k !== 'history')]) await fs.writeFile(path.join(dir, n), 'x');
  for (const n of [...staleHistory, 'loss_history.txt']) await fs.writeFile(path.join(dir, 'history', n), 'x');
  const removed = await removeStaleTempFiles(dir);
  assert.deepEqual(removed.sort(), [...stale, ...staleHistory].sort());
  assert.deepEqual((await fs.readdir(dir)).sort(), keep.sort());
  assert.deepEqual(await fs.readdir(path.join(dir, 'history')), ['loss_history.txt']);
  assert.deepEqual(await removeStaleTempFiles(path.join(dir, 'absent')), [], 'a missing folder is no error');
});

test('writeFilesAtomic: a pair is renamed into place only once both are written; a failure leaves the old files', async (t) => {
  const { writeFilesAtomic } = await import('../dist/src/io/atomic.js');
  const dir = await tempDir(t);
  const a = path.join(dir, 'model.onnx');
  await fs.writeFile(a, 'old model');
  await assert.rejects(writeFilesAtomic([{ file: a, data: 'new model' }, { file: path.join(dir, 'missing', 'MODEL_CARD.md'), data: 'card' }]));
  assert.equal(await fs.readFile(a, 'utf8'), 'old model');
  assert.deepEqual(await fs.readdir(dir), ['model.onnx'], 'temp files removed');
  const b = path.join(dir, 'MODEL_CARD.md');
  await writeFilesAtomic([{ file: a, data: 'new model' }, { file: b, data: 'card' }]);
  assert.deepEqual([await fs.readFile(a, 'utf8'), await fs.readFile(b, 'utf8')], ['new model', 'card']);
});

test('temp files are created exclusively and never through a link; the temp files of a killed writer are swept by the next write', async (t) => {
  const dir = await tempDir(t);
  const victim = path.join(dir, 'victim.txt');
  await fs.writeFile(victim, "the user's file");
  // links planted at this process's next temp names: each is skipped, none is written through
  for (let n = 0; n < 40; n++) await fs.symlink(victim, path.join(dir, `.out.txt.${process.pid}.${n}.tmp`));
  // a temp file of a dead process (a pid above the default pid_max; checked not to run)
  const deadPid = 4194305;
  assert.throws(() => process.kill(deadPid, 0), { code: 'ESRCH' });
  await fs.writeFile(path.join(dir, `.out.txt.${deadPid}.3.tmp`), 'debris');
  await fs.writeFile(path.join(dir, `.out.txt.${process.ppid}.3.tmp`), 'a live writer');
  await writeFileAtomic(path.join(dir, 'out.txt'), 'new');
  assert.equal(await fs.readFile(victim, 'utf8'), "the user's file");
  assert.equal(await fs.readFile(path.join(dir, 'out.txt'), 'utf8'), 'new');
  const left = await fs.readdir(dir);
  assert.ok(!left.includes(`.out.txt.${deadPid}.3.tmp`), "the dead writer's temp file is removed");
  assert.ok(left.includes(`.out.txt.${process.ppid}.3.tmp`), "a live writer's temp file is left alone");
});
