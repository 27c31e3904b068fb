/**
 * The install needs no compiler: every runtime package of the lockfile that builds a native
 * addon (it ships a binding.gyp) must be optional, so npm drops it when its build fails
 * instead of failing the whole install. (The full proof, an `npm ci` without make/g++ and
 * the gateway reporting BLE_NOBLE_MISSING, is scripts/check-install-without-compiler.sh, run by
 * test/integration/install-without-compiler.test.ts.)
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const repo = resolve(import.meta.dirname, '../../..');

interface LockEntry {
  readonly hasInstallScript?: boolean;
  readonly optional?: boolean;
  readonly dev?: boolean;
}

test('every runtime dependency that compiles at install time is optional', () => {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const compiling = Object.entries(lock.packages).filter(
    ([path, entry]) => path !== '' && entry.hasInstallScript && existsSync(join(repo, path, 'binding.gyp')),
  );
  // The ones this machine has installed: noble, its HCI socket, usb.
  assert.ok(compiling.some(([path]) => path.endsWith('@abandonware/noble')));
  const required = compiling.filter(([, e]) => !e.optional && !e.dev).map(([path]) => path);
  assert.deepEqual(required, [], 'these would make `npm ci` fail on a machine without make/g++');
});
