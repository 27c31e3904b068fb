import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeImuMessage, encodeImuBinary } from '../../../gateway/sources/mqtt/imu-decode.ts';

const ctx = { receivedNs: 5e18, maxSamples: 1000 };

describe('MJI1 binary format', () => {
  it('decodes the example in docs/mqtt.md byte for byte', () => {
    const hex =
      '4d4a4931 01 01 0100 008058276702d417 00004842 44e99c3b 6fa18b3a 03000000 6800 2fff 0008 5e00 0000 44ff';
    const bytes = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
    const r = decodeImuMessage(bytes, ctx);
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.imu.format, 'binary');
    assert.equal(r.imu.placement, 'wrist');
    assert.equal(r.imu.seq, 3);
    assert.equal(r.imu.deviceClock, true);
    assert.deepEqual([...r.imu.tNs], [1717000000000000000]);
    const expected = [0.5, -1, 9.80665, 0.1, 0, -0.2];
    expected.forEach((v, i) =>
      assert.ok(Math.abs(r.imu.values[i]! - v) < 0.003, `channel ${i}: ${r.imu.values[i]} vs ${v}`),
    );
    assert.deepEqual(
      encodeImuBinary({
        values: expected,
        t0Ns: 1717000000000000000n,
        rateHz: 50,
        encoding: 'int16',
        placement: 'wrist',
        seq: 3,
      }),
      bytes,
    );
  });

  it('honours per-sample offsets and the no-device-time flag', () => {
    const values = new Float32Array(18).fill(0.25);
    const r = decodeImuMessage(
      encodeImuBinary({ values, offsetsUs: [0, 9000, 21000], encoding: 'float32' }),
      ctx,
    );
    assert.ok(r.ok);
    assert.equal(r.imu.deviceClock, false);
    assert.deepEqual([...r.imu.tNs], [5e18 - 21e6, 5e18 - 12e6, 5e18]);
  });

  it('refuses unknown flags, bad lengths and counts over the limit', () => {
    const good = encodeImuBinary({ values: new Float32Array(6), t0Ns: 1n, rateHz: 50, encoding: 'float32' });
    const flags = Buffer.from(good);
    flags[4] = 0x80;
    assert.deepEqual(
      decodeImuMessage(flags, ctx).ok ? null : (decodeImuMessage(flags, ctx) as { reason: string }).reason,
      'binary_header',
    );
    const short = good.subarray(0, good.length - 1);
    assert.equal((decodeImuMessage(short, ctx) as { reason: string }).reason, 'binary_length');
    const big = encodeImuBinary({
      values: new Float32Array(6 * 20),
      t0Ns: 1n,
      rateHz: 50,
      encoding: 'float32',
    });
    assert.equal(
      (decodeImuMessage(big, { ...ctx, maxSamples: 10 }) as { reason: string }).reason,
      'too_many_samples',
    );
  });
});

describe('MJI1 t0 and magic, byte by byte', () => {
  // Header of one float32 sample at 50 Hz, t0 given as 8 little-endian bytes.
  const message = (t0Hex: string, magic = '4d4a4931'): Buffer =>
    Buffer.from(
      `${magic}000001 00${t0Hex}00004842 00000000 00000000 00000000${'00000000'.repeat(6)}`.replace(
        /\s+/g,
        '',
      ),
      'hex',
    );

  it('reads t0 across both 32-bit halves exactly as a 64-bit integer rounds to a double', () => {
    // 0x17d4_0267_2758_8123 = 1717000000123456803 ns; the low word alone is 0x27588123.
    const r = decodeImuMessage(message('23815827 6702d417'), ctx);
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.imu.tNs[0], Number(0x17d4026727588123n));
    // Low word with its top bit set (would be negative if read as a signed int32).
    const high = decodeImuMessage(message('ffffffff 00000000'), ctx);
    assert.ok(high.ok);
    assert.equal(high.imu.tNs[0], 4294967295);
  });

  it('refuses a negative t0 and a wrong magic, naming them', () => {
    const negative = decodeImuMessage(message('00000000 000000ff'), ctx);
    assert.ok(!negative.ok);
    assert.equal(negative.reason, 'binary_header');
    assert.match(negative.message, /t0 -72057594037927936 ns is negative/);
    const version2 = decodeImuMessage(message('00000000 00000000', '4d4a4932'), ctx);
    assert.ok(!version2.ok);
    assert.match(version2.message, /magic "MJI2", expected "MJI1"/);
  });
});

describe('JSON ingest format', () => {
  it('uses rateHz or tNs offsets and converts units', () => {
    const r = decodeImuMessage(
      Buffer.from(
        JSON.stringify({
          v: 1,
          t0Ns: 1000,
          rateHz: 100,
          acc: [
            [1, 0, 0],
            [0, 1, 0],
          ],
          gyro: [
            [180, 0, 0],
            [0, 0, 0],
          ],
          gyroUnit: 'deg/s',
        }),
      ),
      ctx,
    );
    assert.ok(r.ok);
    assert.deepEqual([...r.imu.tNs], [1000, 1000 + 1e7]);
    assert.ok(Math.abs(r.imu.values[3]! - Math.PI) < 1e-6);
    const n = decodeImuMessage(
      Buffer.from(
        JSON.stringify({
          v: 1,
          t0Ns: 0,
          tNs: [0, 5],
          acc: [
            [1, 0, 0],
            [0, 1, 0],
          ],
          gyro: [
            [0, 0, 0],
            [0, 0, 0],
          ],
        }),
      ),
      ctx,
    );
    assert.ok(n.ok);
    assert.deepEqual([...n.imu.tNs], [0, 5]);
  });

  it('refuses what the schema forbids, with a reason', () => {
    const reason = (body: unknown) => {
      const r = decodeImuMessage(Buffer.from(JSON.stringify(body)), ctx);
      return r.ok ? 'ok' : r.reason;
    };
    assert.equal(reason({ v: 2, rateHz: 1, acc: [[0, 0, 0]], gyro: [[0, 0, 0]] }), 'json_schema');
    assert.equal(reason({ v: 1, acc: [[0, 0, 0]], gyro: [[0, 0, 0]] }), 'json_schema', 'no timing at all');
    assert.equal(
      reason({ v: 1, tMs: [0], tNs: [0], acc: [[0, 0, 0]], gyro: [[0, 0, 0]] }),
      'json_schema',
      'two timings',
    );
    assert.equal(reason({ v: 1, rateHz: 1, acc: [[1e39, 0, 0]], gyro: [[0, 0, 0]] }), 'non_finite');
    assert.equal(reason({ v: 1, tMs: [0, 1, 2], acc: [[0, 0, 0]], gyro: [[0, 0, 0]] }), 'length_mismatch');
  });
});
