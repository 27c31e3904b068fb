import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BATTERY_LEVEL,
  BATTERY_SERVICE,
  batteryDriver as driver,
} from '../../../../gateway/sources/ble/devices/battery.ts';
import { rejected } from './helpers.ts';

describe('Battery Service 0x180F / 0x2A19', () => {
  const d = driver.createDecoder(driver.resolveSettings({ rateHz: 0 }));
  it('reads then (optionally) subscribes to the battery level', () => {
    const steps = driver.startSequence(driver.resolveSettings({ rateHz: 0 }));
    assert.deepEqual(
      steps.map((s) => s.op),
      ['read', 'subscribe'],
    );
    assert.ok(
      steps.every(
        (s) => s.op !== 'delay' && s.service === BATTERY_SERVICE && s.characteristic === BATTERY_LEVEL,
      ),
    );
    assert.equal(steps[1]!.op === 'subscribe' && steps[1]!.optional, true);
  });
  it('decodes uint8 percent 0–100', () => {
    for (const v of [0, 1, 57, 100])
      assert.deepEqual(d.decode(BATTERY_LEVEL, Uint8Array.of(v), 0), { ok: true, battery: v });
  });
  it('rejects reserved values and wrong lengths', () => {
    rejected(d.decode(BATTERY_LEVEL, Uint8Array.of(101), 0), 'OUT_OF_RANGE');
    rejected(d.decode(BATTERY_LEVEL, Uint8Array.of(255), 0), 'OUT_OF_RANGE');
    rejected(d.decode(BATTERY_LEVEL, new Uint8Array(0), 0), 'EMPTY');
    rejected(d.decode(BATTERY_LEVEL, Uint8Array.of(50, 0), 0), 'BAD_LENGTH');
    rejected(d.decode('2a37', Uint8Array.of(50), 0), 'UNKNOWN_CHARACTERISTIC');
  });
});
