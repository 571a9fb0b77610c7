import type { Browser } from 'playwright-core';
import { chromium } from 'playwright-core';

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
