/**
 * `npm ci --omit=dev` of the lockfile on a PATH without make, cc, g++ or python3, native
 * addons forced to build from source (as on a board without prebuilt binaries), then the
 * gateway from that install with BLE enabled: the install succeeds, and /health and the log
 * report BLE_NOBLE_MISSING with what to install. Offline, from the npm cache the repository's
 * own `npm ci` filled. About 2 minutes on 2 cores.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';

const repo = resolve(import.meta.dirname, '../..');

test('installs without a compiler; BLE then reports BLE_NOBLE_MISSING and what to install', async () => {
  const { stdout } = await promisify(execFile)(
    'bash',
    [resolve(repo, 'scripts/check-install-without-compiler.sh')],
    {
      maxBuffer: 64 << 20,
      timeout: 15 * 60_000,
    },
  );
  assert.match(stdout, /^OK: installed without a compiler/m);
});
