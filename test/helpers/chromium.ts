import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium (installed by .ci/run's apt line); playwright's own download is unreachable here. */
export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** Why browser tests cannot run here, or false when they can. */
export function chromiumSkipReason(): string | false {
  return existsSync(CHROMIUM_PATH)
    ? false
    : `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH); CI installs it`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Where the browser tests save their screenshots: a temporary folder, or the folder named by
 * MUJO_SCREENSHOTS (`MUJO_SCREENSHOTS=docs/img` refreshes the ones the README shows), so a
 * plain test run leaves the repository as it was.
 */
export function screenshotDir(): string {
  const dir = process.env['MUJO_SCREENSHOTS'] ?? join(tmpdir(), 'mujo-screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}
