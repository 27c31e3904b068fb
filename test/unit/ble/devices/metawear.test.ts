import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GattStep } from '../../../../gateway/sources/ble/driver.ts';
import {
  METAWEAR_NOTIFY,
  accConfig,
  gyroConfig,
  metawearDriver as driver,
} from '../../../../gateway/sources/ble/devices/metawear.ts';
import { D2R, G, fromHex, metawearSamples } from './encoders.ts';
import { bytesOf, close, rejected, samples } from './helpers.ts';

const writes = (steps: readonly GattStep[]) =>
  steps.flatMap((s) => (s.op === 'write' ? [bytesOf(s.data)] : []));

describe('MetaWear', () => {
  it('builds the SDK test-vector config commands for BMI160 and BMI270', () => {
    assert.deepEqual(bytesOf(accConfig('bmi160', 200, 8)), bytesOf(fromHex('03 03 29 08')));
    assert.deepEqual(bytesOf(accConfig('bmi160', 100, 16)), bytesOf(fromHex('03 03 28 0C')));
    assert.deepEqual(bytesOf(accConfig('bmi270', 200, 8)), bytesOf(fromHex('03 03 A9 02')));
    assert.deepEqual(bytesOf(gyroConfig(200, 2000)), bytesOf(fromHex('13 03 29 00')));
    assert.deepEqual(bytesOf(gyroConfig(50, 125)), bytesOf(fromHex('13 03 27 04')));
  });

  /**
   * Runs a start sequence as the adapter does: each module-info write is answered with the
   * board's reply (the vendor SDK's test/common.py module-info bytes), then later writes read.
   */
  function startWith(s: ReturnType<typeof driver.resolveSettings>, replies: Record<number, string>) {
    const out: number[][] = [];
    for (const step of driver.startSequence(s)) {
      if (step.op !== 'write') continue;
      out.push(bytesOf(step.data));
      const reply = replies[step.data[0]!];
      if (step.response && reply) assert.deepEqual(step.response.match(fromHex(reply)), { ok: true });
    }
    return out;
  }
  /** MetaMotion R in the SDK's test/common.py: BMI160 acc revision 1, gyro revision 1. */
  const METAMOTION_R = { 0x03: '03 80 01 01', 0x13: '13 80 00 01' };
  /** A BMI160 board whose modules predate the packed registers (revision 0). */
  const BMI160_REVISION_0 = { 0x03: '03 80 01 00', 0x13: '13 80 00 00' };
  /** MetaMotion S in the SDK's test/common.py: BMI270, both modules report revision 0. */
  const METAMOTION_S = { 0x03: '03 80 04 00', 0x13: '13 80 01 00' };

  it('starts in the documented order: config, subscribe, data interrupt, power; packed at ≥ 100 Hz on revision ≥ 1', () => {
    const s = driver.resolveSettings({ rateHz: 200, accRangeG: 8, gyroRangeDps: 2000 });
    const w = startWith(s, METAMOTION_R);
    assert.deepEqual(w, [
      [0x03, 0x80],
      [0x03, 0x03, 0x29, 0x08],
      [0x03, 0x1c, 0x01],
      [0x03, 0x02, 0x01, 0x00],
      [0x13, 0x80],
      [0x13, 0x03, 0x29, 0x00],
      [0x13, 0x07, 0x01],
      [0x13, 0x02, 0x01, 0x00],
      [0x03, 0x01, 0x01],
      [0x13, 0x01, 0x01],
    ]);
    const slow = startWith(driver.resolveSettings({ rateHz: 50, streams: ['acc'] }), METAMOTION_R);
    assert.deepEqual(slow[2], [0x03, 0x04, 0x01], 'unpacked data register below 100 Hz');
    assert.deepEqual(writes(driver.stopSequence(s)).slice(0, 3), [
      [0x03, 0x01, 0x00],
      [0x03, 0x02, 0x00, 0x01],
      [0x03, 0x1c, 0x00],
    ]);
  });

  it('a BMI160 board with module revision 0 streams unpacked even at 200 Hz, and stop disables those registers', () => {
    const s = driver.resolveSettings({ rateHz: 200, accRangeG: 8, gyroRangeDps: 2000 });
    const w = startWith(s, BMI160_REVISION_0);
    assert.deepEqual(w[2], [0x03, 0x04, 0x01], 'accelerometer: unpacked data register 0x04, not packed 0x1C');
    assert.deepEqual(w[6], [0x13, 0x05, 0x01], 'gyroscope: unpacked data register 0x05, not packed 0x07');
    const stop = writes(driver.stopSequence(s));
    assert.deepEqual(stop[2], [0x03, 0x04, 0x00]);
    assert.deepEqual(stop[5], [0x13, 0x05, 0x00]);
    // A reply without the revision byte is an old board too.
    const short = startWith(s, { 0x03: '03 80 01', 0x13: '13 80 00' });
    assert.deepEqual(
      [short[2], short[6]],
      [
        [0x03, 0x04, 0x01],
        [0x13, 0x05, 0x01],
      ],
    );
    // Both registers decode, so nothing is lost whichever the board streams.
    const d = driver.createDecoder(s);
    assert.equal(samples(d.decode(METAWEAR_NOTIFY, metawearSamples(3, 4, [[4096, 0, 0]]), 0)).n, 1);
  });

  it('a BMI270 board (MetaMotion S, revision 0) uses its packed registers, as the SDK does without a revision check', () => {
    const s = driver.resolveSettings({ rateHz: 200, variant: 'bmi270' });
    const w = startWith(s, METAMOTION_S);
    const notify = w.filter((x) => x.length === 3 && x[2] === 0x01 && x[1] !== 0x01);
    assert.deepEqual(notify, [
      [0x03, 0x05, 0x01],
      [0x13, 0x05, 0x01],
    ]);
  });

  it('refuses a board whose chip differs from the configured variant, naming the right one', () => {
    const s = driver.resolveSettings({ rateHz: 100, variant: 'bmi160' });
    const info = driver
      .startSequence(s)
      .find((x) => x.op === 'write' && x.data[1] === 0x80 && x.data[0] === 3);
    assert.ok(info && info.op === 'write' && info.response);
    assert.deepEqual(info.response.match(fromHex('03 80 01 01')), { ok: true });
    const bad = info.response.match(fromHex('03 80 04 00'));
    assert.ok(bad && !bad.ok && bad.code === 'METAWEAR_VARIANT_MISMATCH' && bad.message.includes('bmi270'));
    const absent = info.response.match(fromHex('03 80'));
    assert.ok(absent && !absent.ok && absent.code === 'METAWEAR_MODULE_ABSENT');
    assert.equal(info.response.match(fromHex('03 04 00 00 00 00 00 00')), undefined);
  });

  it('decodes the BMI160 ±4 g example: (−15338, −23916, −12246)/8192 g', () => {
    const d = driver.createDecoder(driver.resolveSettings({ rateHz: 50, accRangeG: 4 }));
    const imu = samples(d.decode(METAWEAR_NOTIFY, fromHex('03 04 16 C4 94 A2 2A D0'), 0));
    close(imu.acc, [[-1.872 * G, -2.919 * G, -1.495 * G]], 1e-3);
    close(imu.acc, [[(-15338 / 8192) * G, (-23916 / 8192) * G, (-12246 / 8192) * G]], 1e-6);
  });

  it('decodes the packed ±8 g example into 3 samples', () => {
    const d = driver.createDecoder(driver.resolveSettings({ rateHz: 200, accRangeG: 8 }));
    const imu = samples(
      d.decode(METAWEAR_NOTIFY, fromHex('03 1C 62 B7 53 0D E9 FD 16 D0 4D 0E 57 02 8A FF A1 05 0A 01'), 0),
    );
    assert.equal(imu.n, 3);
    assert.equal(imu.deviceTimeNs, undefined, 'MetaWear streams carry no device time');
    // The SDK test prints g to 3 decimals (±0.0005 g); the raw values /4096 are exact.
    close(
      imu.acc,
      [
        [-4.539, 0.833, -0.131],
        [-2.995, 0.894, 0.146],
        [-0.029, 0.352, 0.065],
      ].map((r) => r.map((v) => v * G)),
      0.0051,
    );
    close(
      imu.acc,
      [
        [-18590, 3411, -535],
        [-12266, 3661, 599],
        [-118, 1441, 266],
      ].map((r) => r.map((v) => (v / 4096) * G)),
      1e-6,
    );
  });

  it('scales by the configured range: acc ±2/4/8/16 g, gyro ±125…2000 °/s; sign extension at int16 limits', () => {
    for (const [range, lsb] of [
      [2, 16384],
      [4, 8192],
      [8, 4096],
      [16, 2048],
    ] as const) {
      const d = driver.createDecoder(driver.resolveSettings({ rateHz: 50, accRangeG: range }));
      close(
        samples(d.decode(METAWEAR_NOTIFY, metawearSamples(3, 4, [[lsb, -32768, 32767]]), 0)).acc,
        [[G, (-32768 / lsb) * G, (32767 / lsb) * G]],
        1e-6,
      );
    }
    for (const [range, lsb] of [
      [2000, 16.4],
      [1000, 32.8],
      [500, 65.6],
      [250, 131.2],
      [125, 262.4],
    ] as const) {
      const d = driver.createDecoder(driver.resolveSettings({ rateHz: 50, gyroRangeDps: range }));
      close(
        samples(d.decode(METAWEAR_NOTIFY, metawearSamples(0x13, 5, [[1000, -1000, 0]]), 0)).gyro,
        [[(1000 / lsb) * D2R, (-1000 / lsb) * D2R, 0]],
        1e-6,
      );
    }
  });

  it('uses BMI270 registers: gyro data 0x04, packed 0x05 (3 samples)', () => {
    const d = driver.createDecoder(driver.resolveSettings({ rateHz: 100, variant: 'bmi270' }));
    assert.equal(samples(d.decode(METAWEAR_NOTIFY, metawearSamples(0x13, 4, [[16, 0, 0]]), 0)).n, 1);
    assert.equal(
      samples(
        d.decode(
          METAWEAR_NOTIFY,
          metawearSamples(0x13, 5, [
            [1, 1, 1],
            [2, 2, 2],
            [3, 3, 3],
          ]),
          0,
        ),
      ).n,
      3,
    );
    assert.equal(
      samples(
        d.decode(
          METAWEAR_NOTIFY,
          metawearSamples(0x03, 5, [
            [1, 1, 1],
            [2, 2, 2],
            [3, 3, 3],
          ]),
          0,
        ),
      ).n,
      3,
    );
  });

  it('rejects malformed messages with coded reasons', () => {
    const d = driver.createDecoder(driver.resolveSettings({ rateHz: 100 }));
    rejected(d.decode(METAWEAR_NOTIFY, new Uint8Array(0), 0), 'EMPTY');
    rejected(d.decode(METAWEAR_NOTIFY, fromHex('03'), 0), 'TRUNCATED');
    rejected(d.decode(METAWEAR_NOTIFY, fromHex('03 04 00 00 00'), 0), 'TRUNCATED');
    rejected(d.decode(METAWEAR_NOTIFY, fromHex('03 04 00 00 00 00 00 00 00'), 0), 'BAD_LENGTH');
    rejected(d.decode(METAWEAR_NOTIFY, fromHex('03 1C 00 00 00 00 00 00'), 0), 'TRUNCATED');
    rejected(d.decode(METAWEAR_NOTIFY, fromHex('11 0C 00 00'), 0), 'BAD_HEADER');
    rejected(d.decode('2a19', fromHex('03 04 00 00 00 00 00 00'), 0), 'UNKNOWN_CHARACTERISTIC');
    const info = d.decode(METAWEAR_NOTIFY, fromHex('13 80 00 01'), 0);
    assert.ok(info.ok && info.control?.kind === 'metawear.module-info');
  });
});
