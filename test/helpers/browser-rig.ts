import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Browser } from 'playwright-core';
import { chromiumSkipReason, launchChromium } from './chromium.ts';
import { startMosquitto, type Mosquitto } from './mosquitto.ts';

/** Why a page test on the bundled model cannot run here, or false when it can. */
export function demoPageSkipReason(): string | false {
  return (
    chromiumSkipReason() ||
    (existsSync('models/default/manifest.json') ? false : 'models/default is not built yet')
  );
}

export interface BrowserRig {
  readonly broker: Mosquitto;
  readonly workDir: string;
  readonly browser: Browser;
}

/**
 * A real mosquitto, a temp directory and Chromium for one test file: started before its tests
 * (unless `skip`), stopped and removed after them.
 */
export function browserRig(prefix: string, skip: string | false): BrowserRig {
  const parts: { broker?: Mosquitto; workDir?: string; browser?: Browser } = {};
  before(async () => {
    if (skip) return;
    parts.broker = await startMosquitto();
    parts.workDir = await mkdtemp(join(tmpdir(), prefix));
    parts.browser = await launchChromium();
  });
  after(async () => {
    await parts.browser?.close();
    await parts.broker?.dispose();
    if (parts.workDir) await rm(parts.workDir, { recursive: true, force: true });
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the browser rig has not started (skipped?)');
    return value;
  };
  return {
    get broker() {
      return started(parts.broker);
    },
    get workDir() {
      return started(parts.workDir);
    },
    get browser() {
      return started(parts.browser);
    },
  };
}
