// onnxruntime's telemetry stays off (src/eval/runtime.ts): a session leaves nothing in the user's home or /tmp,
// unless the user asked for it with ORT_DISABLE_TELEMETRY=0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { saveCheckpoint } from '../dist/src/store/checkpoint.js';
import { SHARED, runCli, tempDir } from './helpers.mjs';
import { freshCheckpoint } from './hostile-files.mjs';

/** The variables by which onnxruntime 1.30 recognises a CI service (strings in libonnxruntime.so). */
const CI_VARIABLES = ['CI', 'TF_BUILD', 'GITHUB_ACTIONS', 'GITLAB_CI', 'CIRCLECI', 'TRAVIS', 'JENKINS_URL', 'CODEBUILD_BUILD_ID', 'BUILDKITE', 'TEAMCITY_VERSION', 'APPVEYOR'];

/** Files under `dir`, relative to it. */
const filesUnder = async (dir) => (await fs.readdir(dir, { recursive: true })).sort();

/** `engine predict` of one face with a fresh HOME and TMPDIR; what it left in each. */
async function predictIn(t, weights, telemetry) {
  const home = await tempDir(t, 'engine-home-');
  const tmp = await tempDir(t, 'engine-tmp-');
  // (an undefined value leaves the variable out of the child's environment; onnxruntime keeps its telemetry off
  // where a CI service's variable is set, so those are left out too)
  const env = { HOME: home, TMPDIR: tmp, ORT_DISABLE_TELEMETRY: telemetry, ...Object.fromEntries(CI_VARIABLES.map((v) => [v, undefined])) };
  const r = await runCli(['predict', path.join(SHARED, 'data/test1.jpg'), '--weights', weights], { env });
  assert.equal(r.code, 0, r.stderr);
  return { home: await filesUnder(home), tmp: await filesUnder(tmp) };
}

test("onnxruntime's telemetry is off: no event store under HOME, no mat-debug log in TMPDIR; ORT_DISABLE_TELEMETRY=0 is the user's to set", async (t) => {
  const dir = await tempDir(t);
  const weights = path.join(dir, 'init.safetensors');
  await saveCheckpoint(weights, freshCheckpoint({ seed: 3 }));

  assert.deepEqual(await predictIn(t, weights, undefined), { home: [], tmp: [] });
  // The user's own setting wins, and shows what the default keeps away (so the check above can fail).
  const on = await predictIn(t, weights, '0');
  assert.ok(on.home.some((f) => f.includes('onnxruntime')), `telemetry on: ${on.home.join(', ')}`);
  assert.ok(on.tmp.some((f) => /^mat-debug-\d+\.log$/.test(f)), `telemetry on: ${on.tmp.join(', ')}`);
});
