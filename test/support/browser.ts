import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';

/**
 * Takes a screenshot into `test-results/` (ignored by git). With
 * UPDATE_SCREENSHOTS=1 it also replaces the README's copy under `docs/`
 * (`docsPath`, relative to it), so an ordinary test run leaves the
 * working tree as it was.
 */
export async function screenshot(page: Page, name: string, docsPath: string): Promise<void> {
  const root = join(__dirname, '..', '..');
  const results = join(root, 'test-results');
  mkdirSync(results, { recursive: true });
  await page.screenshot({ path: join(results, `${name}.png`) });
  if (process.env.UPDATE_SCREENSHOTS !== '1') return;
  const target = join(root, 'docs', docsPath);
  mkdirSync(join(target, '..'), { recursive: true });
  await page.screenshot({ path: target });
}

/**
 * Debian's headless Chromium (never a downloaded one). Without the
 * background-networking flag it keeps trying hosts this machine cannot reach.
 * `disableFeatures` turns off what a test must not have (say, mDNS ICE candidates).
 */
export function launchChromium(...disableFeatures: string[]): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      ...(disableFeatures.length > 0 ? [`--disable-features=${disableFeatures.join(',')}`] : []),
    ],
  });
}
