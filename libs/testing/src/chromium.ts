import { chromium, type Browser } from 'playwright-core';
import { requireBinary } from './process.js';

/**
 * Debian's Chromium (package `chromium`) driven by playwright-core; no browser is ever
 * downloaded. Headless, no sandbox (tests may run as root), no GPU, no background traffic.
 * `CHROMIUM_PATH` points at another Chromium build.
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? requireBinary('chromium', 'chromium');
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}
