// Headless Chromium for the page tests: Debian's /usr/bin/chromium driven by playwright-core. Tests skip, with
// the reason, where it is missing (.ci/run installs it; see README).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const CHROMIUM = process.env.ENGINE_CHROMIUM ?? '/usr/bin/chromium';

/** Why browser tests cannot run here, or null when they can. */
export async function browserSkipReason() {
  try {
    await fs.access(CHROMIUM);
  } catch {
    return `${CHROMIUM} is missing (apt-get install -y --no-install-recommends chromium)`;
  }
  try {
    await import('playwright-core');
  } catch {
    return 'playwright-core is not installed (npm ci installs it as a devDependency)';
  }
  return null;
}

/**
 * A fresh headless Chromium context with a new, empty profile folder (playwright passes it as --user-data-dir);
 * closed and removed after the test `t`. Without the background-networking flags Chromium keeps dialling out
 * to hosts this machine cannot reach.
 */
export async function launchChromium(t, options = {}) {
  const { chromium } = await import('playwright-core');
  const profile = await fs.mkdtemp(path.join(os.tmpdir(), 'engine-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
    ...options,
  });
  t.after(async () => {
    await context.close();
    await fs.rm(profile, { recursive: true, force: true });
  });
  return context;
}

/** Records what `tab` asks the network for and every console error or uncaught exception on it. */
export function watchPage(tab) {
  const requests = [];
  const problems = [];
  tab.on('request', (req) => requests.push(req.url()));
  tab.on('console', (msg) => msg.type() === 'error' && problems.push(msg.text()));
  tab.on('pageerror', (err) => problems.push(err.message));
  return { requests, problems };
}
