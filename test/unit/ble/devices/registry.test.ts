import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GatewayError } from '../../../../gateway/observability/errors.ts';
import {
  BUILTIN_DRIVERS,
  COMPANION_DRIVERS,
  buildDriverRegistry,
} from '../../../../gateway/sources/ble/devices/index.ts';
import { nearest, normalizeUuid } from '../../../../gateway/sources/ble/driver.ts';

const devicesDir = join(dirname(fileURLToPath(import.meta.url)), '../../../../gateway/sources/ble/devices');

describe('driver registry', () => {
  it('lists every driver file of gateway/sources/ble/devices', () => {
    const helpers = new Set(['index.ts', 'bytes.ts']);
    const files = readdirSync(devicesDir).filter((f) => f.endsWith('.ts') && !helpers.has(f));
    const index = readFileSync(join(devicesDir, 'index.ts'), 'utf8');
    for (const f of files) assert.ok(index.includes(`'./${f}'`), `${f} is not imported by devices/index.ts`);
    assert.equal(
      BUILTIN_DRIVERS.length + COMPANION_DRIVERS.length + 1,
      files.length,
      'one file per family (+ generic-gatt)',
    );
  });

  it('every driver names its vendor document in the file header and the descriptor; families are unique', () => {
    const families = [...BUILTIN_DRIVERS, ...COMPANION_DRIVERS].map((d) => d.family);
    assert.equal(new Set(families).size, families.length);
    for (const d of [...BUILTIN_DRIVERS, ...COMPANION_DRIVERS]) {
      assert.ok(d.document.length > 20, d.family);
      for (const s of d.services) assert.equal(s, normalizeUuid(s), `${d.family} service ${s} in noble form`);
    }
    for (const f of readdirSync(devicesDir).filter(
      (x) => x.endsWith('.ts') && x !== 'index.ts' && x !== 'bytes.ts',
    )) {
      const head = readFileSync(join(devicesDir, f), 'utf8').slice(0, 1200);
      assert.match(head, /Follows|document/i, `${f} header names its document`);
    }
  });

  it('auto-detects families from advertisements', () => {
    const reg = buildDriverRegistry();
    assert.equal(reg.detect({ localName: 'Polar Sense B5D2A627', serviceUuids: [] })?.family, 'polar-pmd');
    assert.equal(reg.detect({ localName: 'Movesense 220330000123', serviceUuids: [] })?.family, 'movesense');
    assert.equal(
      reg.detect({ localName: 'MetaWear', serviceUuids: ['326a900085cb9195d9dd464cfbbae75a'] })?.family,
      'metawear',
    );
    assert.equal(
      reg.detect({ localName: 'Thingy', serviceUuids: ['ef6801009b3549339b1052ffa9740042'] })?.family,
      'thingy52',
    );
    assert.equal(reg.detect({ localName: 'WT901BLE67', serviceUuids: [] })?.family, 'witmotion');
    assert.equal(reg.detect({ localName: 'Some speaker', serviceUuids: ['180f'] }), undefined);
    assert.deepEqual(
      reg.companionsFor(['180f', 'ffe5']).map((d) => d.family),
      ['battery'],
    );
    assert.deepEqual(reg.companionsFor(['ffe5']), []);
  });

  it('adds generic devices from config and refuses duplicate names', () => {
    const g = {
      name: 'x',
      service: 'aa00',
      characteristic: 'aa01',
      rateHz: 10,
      recordBytes: 6,
      fields: ['ax', 'ay', 'az'].map((channel, i) => ({
        channel,
        offset: 2 * i,
        type: 'int16le',
        unit: 'mg',
      })),
    };
    assert.ok(buildDriverRegistry([g]).get('generic-gatt:x'));
    assert.throws(
      () => buildDriverRegistry([g, g]),
      (e: unknown) => e instanceof GatewayError && e.code === 'BLE_DRIVER_DUPLICATE',
    );
  });

  it('normalises UUID spellings to noble form; nearest picks the closest supported value', () => {
    assert.equal(normalizeUuid('0x180F'), '180f');
    assert.equal(normalizeUuid('0000180f-0000-1000-8000-00805f9b34fb'), '180f');
    assert.equal(normalizeUuid('FB005C80-02E7-F387-1CAD-8ACD2D8DF0C8'), 'fb005c8002e7f3871cad8acd2d8df0c8');
    assert.equal(nearest([25, 50, 100, 200], 75), 100);
    assert.equal(nearest([25, 50, 100, 200], 1000), 200);
  });
});
