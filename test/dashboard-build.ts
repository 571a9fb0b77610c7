import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WEB_OUT_DIR, buildWeb } from '../web/build';

/**
 * Builds the dashboard from web/ the way `npm run build` does, into the
 * directory the service serves it from, so the tests see the current
 * sources. Built aside and moved in file by file (each rename is atomic):
 * test files running at the same time never read a half-written asset.
 */
export async function buildDashboard(): Promise<void> {
  mkdirSync(WEB_OUT_DIR, { recursive: true });
  const aside = mkdtempSync(`${WEB_OUT_DIR}.build-`);
  try {
    await buildWeb(aside);
    for (const name of readdirSync(aside)) renameSync(join(aside, name), join(WEB_OUT_DIR, name));
  } finally {
    rmSync(aside, { recursive: true, force: true });
  }
}
