import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  THINGY_MOTION_CONFIG,
  THINGY_RAW,
  thingy52Driver as driver,
  thingyMotionConfig,
} from '../../../../gateway/sources/ble/devices/thingy52.ts';
import { D2R, G, fromHex, thingyRaw } from './encoders.ts';
import { bytesOf, close, rejected, samples } from './helpers.ts';

describe('Nordic Thingy:52 motion raw data', () => {
  it('writes the constructed 100 Hz config E8 03 F4 01 F4 01 64 00 01 before enabling raw notifications', () => {
    assert.deepEqual(bytesOf(thingyMotionConfig(100)), bytesOf(fromHex('E8 03 F4 01 F4 01 64 00 01')));
    const s = driver.resolveSettings({ rateHz: 100 });
    const steps = driver.startSequence(s);
    const cfg = steps.findIndex((x) => x.op === 'write' && x.characteristic === THINGY_MOTION_CONFIG);
    const sub = steps.findIndex((x) => x.op === 'subscribe' && x.characteristic === THINGY_RAW);
    assert.ok(cfg >= 0 && sub > cfg);
    assert.equal(driver.resolveSettings({ rateHz: 500 }).rateHz, 200);
    assert.equal(driver.resolveSettings({ rateHz: 1 }).rateHz, 5);
    assert.equal(driver.resolveSettings({ rateHz: 60 }).rateHz, 60);
  });

  it('decodes Q6.10 g, Q11.5 °/s, Q12.4 µT: raw z 00 04 = 1 g; signs', () => {
    const d = driver.createDecoder(driver.resolveSettings({ rateHz: 100, streams: ['acc', 'gyro', 'mag'] }));
    const imu = samples(
      d.decode(THINGY_RAW, thingyRaw([0, -1024, 1024], [32, -64, -32768], [16, -160, 32767]), 0),
    );
    close(imu.acc, [[0, -G, G]]);
    close(imu.gyro, [[1 * D2R, -2 * D2R, -1024 * D2R]]);
    close(imu.mag, [[1, -10, 32767 / 16]]);
    const d2 = driver.createDecoder(driver.resolveSettings({ rateHz: 100 }));
    assert.equal(
      samples(d2.decode(THINGY_RAW, thingyRaw([0, 0, 1024], [0, 0, 0], [0, 0, 0]), 0)).mag,
      undefined,
    );
  });

  it('rejects wrong lengths', () => {
    const d = driver.createDecoder(driver.resolveSettings({ rateHz: 100 }));
    rejected(d.decode(THINGY_RAW, new Uint8Array(0), 0), 'EMPTY');
    rejected(d.decode(THINGY_RAW, new Uint8Array(17), 0), 'TRUNCATED');
    rejected(d.decode(THINGY_RAW, new Uint8Array(19), 0), 'BAD_LENGTH');
    rejected(d.decode('2a19', new Uint8Array(18), 0), 'UNKNOWN_CHARACTERISTIC');
  });
});
