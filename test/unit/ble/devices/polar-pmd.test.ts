import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { GattStep, StreamSettings } from '../../../../gateway/sources/ble/driver.ts';
import {
  PMD_CONTROL_POINT,
  PMD_DATA,
  PMD_EPOCH_UNIX_NS,
  parsePmdSettings,
  polarPmdDriver as driver,
  unpackDeltaFrame,
} from '../../../../gateway/sources/ble/devices/polar-pmd.ts';
import {
  D2R,
  G,
  concatBytes,
  deltaWidth,
  float32Bits,
  fromHex,
  pmdCompressedFrame,
  pmdFactorParam,
  pmdRawFrame,
  pmdResponse,
} from './encoders.ts';
import { bytesOf, close, rejected, samples } from './helpers.ts';

const MG = G / 1000;
const h10 = driver.resolveSettings({ rateHz: 200, accRangeG: 8, localName: 'Polar H10 1A2B3C4D' });
const verity = driver.resolveSettings({ rateHz: 52, localName: 'Polar Sense B5D2A627' });

function writes(steps: readonly GattStep[]): { data: number[]; label?: string }[] {
  return steps.flatMap((s) =>
    s.op === 'write' ? [{ data: bytesOf(s.data), ...(s.label ? { label: s.label } : {}) }] : [],
  );
}

describe('Polar PMD: descriptor and commands', () => {
  it('builds the H10 ACC start command posted in polar-ble-sdk#360 (±8 g, 200 Hz, 16 bit)', () => {
    assert.equal(h10.variant, 'h10');
    assert.deepEqual(h10.streams, ['acc']);
    const starts = writes(driver.startSequence(h10)).filter((w) => w.data[0] === 0x02);
    assert.deepEqual(
      starts.map((w) => w.data),
      [bytesOf(fromHex('02 02 02 01 08 00 00 01 C8 00 01 01 10 00'))],
    );
  });

  it('builds the Verity Sense ACC start command of #331/#443 (52 Hz, 16 bit, ±8 g, 3 channels) and a gyro start', () => {
    assert.equal(verity.variant, 'verity');
    const starts = writes(driver.startSequence(verity)).filter((w) => w.data[0] === 0x02);
    assert.deepEqual(starts[0]!.data, bytesOf(fromHex('02 02 00 01 34 00 01 01 10 00 02 01 08 00 04 01 03')));
    assert.deepEqual(starts[1]!.data, bytesOf(fromHex('02 05 00 01 34 00 01 01 10 00 02 01 D0 07 04 01 03')));
  });

  it('subscribes CP and data before any command, stops a left-over stream before starting it', () => {
    const steps = driver.startSequence(h10);
    assert.deepEqual(
      steps.slice(0, 2).map((s) => (s.op === 'subscribe' ? s.characteristic : s.op)),
      [PMD_CONTROL_POINT, PMD_DATA],
    );
    assert.deepEqual(
      writes(steps).map((w) => w.data.slice(0, 2)),
      [
        [3, 2],
        [2, 2],
      ],
    );
  });

  it('gyro ranges are the ones the device reports: 245 (not 250), 500, 1000, 2000 °/s (polar-ble-sdk PmdSettingTest)', () => {
    // The SDK's gyro settings vector: 52 Hz, 16 bit, ranges F5 00 / F4 01 / E8 03 / D0 07, 3 channels.
    const vendor = fromHex('00 01 34 00 01 01 10 00 02 04 F5 00 F4 01 E8 03 D0 07 04 01 03');
    const reported = parsePmdSettings(vendor);
    assert.deepEqual(reported?.ranges, [245, 500, 1000, 2000]);
    assert.deepEqual(driver.capabilities.gyroRangesDps, reported?.ranges);
    // Asking for 250 °/s snaps to 245, says so, and the start command carries F5 00.
    const s = driver.resolveSettings({
      rateHz: 52,
      gyroRangeDps: 250,
      streams: ['gyro'],
      localName: 'Polar Sense 1',
    });
    assert.equal(s.gyroRangeDps, 245);
    assert.ok(s.adjustments.some((a) => a.includes('±250 °/s → ±245 °/s')));
    const gyroStart = writes(driver.startSequence(s)).find((w) => w.data[0] === 0x02 && w.data[1] === 0x05);
    assert.ok(gyroStart, 'a gyro start command');
    const range = gyroStart.data.findIndex((b, i) => b === 0x02 && gyroStart.data[i + 1] === 0x01 && i > 1);
    assert.deepEqual(gyroStart.data.slice(range, range + 4), [0x02, 0x01, 0xf5, 0x00]);
  });

  it('enters SDK mode for Verity rates/ranges outside the default 52 Hz / ±8 g / ±2000 °/s, and leaves it on stop', () => {
    const s = driver.resolveSettings({
      rateHz: 200,
      accRangeG: 16,
      gyroRangeDps: 500,
      localName: 'Polar Sense 1',
    });
    assert.equal(s.variant, 'verity-sdk');
    assert.equal(s.rateHz, 208);
    assert.equal(s.accRangeG, 16);
    assert.equal(s.gyroRangeDps, 500);
    assert.ok(s.adjustments.some((a) => a.includes('200 Hz → 208 Hz')));
    // Streams stopped first (SDK mode toggles only with all streams stopped), then SDK mode, then starts.
    assert.deepEqual(
      writes(driver.startSequence(s)).map((w) => w.data.slice(0, 2)),
      [
        [3, 2],
        [3, 5],
        [2, 9],
        [2, 2],
        [2, 5],
      ],
    );
    const plain = writes(driver.startSequence(verity)).map((w) => w.data.slice(0, 2));
    assert.deepEqual(
      plain,
      [
        [3, 2],
        [3, 5],
        [3, 9],
        [2, 2],
        [2, 5],
      ],
      'default mode leaves a left-over SDK mode',
    );
    assert.deepEqual(writes(driver.stopSequence(s)).at(-1)!.data, [0x03, 0x09]);
  });

  it('snaps H10 requests to supported values and reports the adjustments (no gyro on H10)', () => {
    const s = driver.resolveSettings({
      rateHz: 130,
      accRangeG: 16,
      streams: ['acc', 'gyro'],
      localName: 'Polar H10 X',
    });
    assert.equal(s.rateHz, 100);
    assert.equal(s.accRangeG, 8);
    assert.deepEqual(s.streams, ['acc']);
    assert.ok(s.adjustments.some((a) => a.includes('no gyro')));
  });

  it('checks control-point responses and maps error codes', () => {
    const start = driver.startSequence(h10).find((s) => s.op === 'write' && s.data[0] === 2);
    assert.ok(start && start.op === 'write' && start.response);
    const match = start.response.match.bind(start.response);
    assert.deepEqual(match(fromHex('F0 02 02 00 00')), { ok: true });
    assert.equal(match(fromHex('F0 01 02 00 00')), undefined, 'response to another op is not ours');
    assert.equal(match(fromHex('02 00 94 35 77 00 00 00 00 01')), undefined);
    const bad = match(fromHex('F0 02 02 08 00'));
    assert.ok(bad && !bad.ok);
    assert.equal(bad.code, 'POLAR_INVALID_SAMPLE_RATE');
    const mtu = match(fromHex('F0 02 02 0A 00'));
    assert.ok(mtu && !mtu.ok && mtu.code === 'POLAR_INVALID_MTU');
  });

  it('recognises Polar advertisements', () => {
    assert.ok(driver.matches({ localName: 'Polar H10 1A2B3C4D', serviceUuids: ['180d'] }));
    assert.ok(driver.matches({ serviceUuids: ['fb005c8002e7f3871cad8acd2d8df0c8'] }));
    assert.ok(!driver.matches({ localName: 'Movesense 123', serviceUuids: [] }));
  });
});

describe('Polar PMD: data frames', () => {
  it('decodes the raw ACC type-1 example of AccDataTest.kt, times ending at the frame stamp', () => {
    const d = driver.createDecoder(h10);
    const frame = fromHex('02 00 94 35 77 00 00 00 00 01 F7 FF FF FF E7 03 F8 FF FE FF E5 03');
    const imu = samples(d.decode(PMD_DATA, frame, 0));
    assert.equal(imu.n, 2);
    close(imu.acc, [
      [-9 * MG, -1 * MG, 999 * MG],
      [-8 * MG, -2 * MG, 997 * MG],
    ]);
    const last = PMD_EPOCH_UNIX_NS + 2_000_000_000;
    assert.deepEqual(Array.from(imu.deviceTimeNs!), [last - 5e6, last]);
  });

  it('decodes the Verity delta frame of #443: 2000-epoch time, reference, 8- and 10-bit blocks, 58 samples', () => {
    const settings = verity;
    const d = driver.createDecoder(settings);
    const factor = 0.244140625; // mG per LSB reported in the start response
    assert.ok(d.decode(PMD_CONTROL_POINT, pmdResponse(2, 2, 0, pmdFactorParam(factor)), 0).ok);
    const frame = new Uint8Array(227);
    frame.set(fromHex('02 00 41 6F C4 12 45 93 0A 81 EE 02 1F FE 82 FF 08 0A 10 DA 20'), 0);
    frame.set(fromHex('0A 2F'), 48);
    const imu = samples(d.decode(PMD_DATA, frame, 0));
    assert.equal(imu.n, 58);
    close(
      imu.acc!.subarray(0, 9),
      [
        [750, -481, -126],
        [766, -519, -94],
        [766, -519, -94],
      ].map((r) => r.map((v) => v * factor * MG)),
    );
    // 762 028 708 863 099 136 ns after 2000-01-01 = the date.
    assert.equal(new Date(imu.deviceTimeNs![57]! / 1e6).toISOString(), '2024-02-23T18:38:28.863Z');
    // First frame: spacing 1/rate back from the stamp (float64 ns resolve 256 ns at this magnitude).
    assert.ok(Math.abs(imu.deviceTimeNs![57]! - imu.deviceTimeNs![56]! - 1e9 / 52) <= 256);
  });

  it('unpacks the 10-bit example of AccDataTest (compressed ACC type 0: ×factor×1000 → mG)', () => {
    const d = driver.createDecoder(verity);
    const factor = 1 / 4096;
    d.decode(PMD_CONTROL_POINT, pmdResponse(2, 2, 0, pmdFactorParam(factor)), 0);
    const block = new Uint8Array(210);
    block.set(fromHex('BE 5C BE BA'));
    const frame = concatBytes(fromHex('02 00 94 35 77 00 00 00 00 80 71 07 F0 6A 9E 8D 0A 38'), block);
    const imu = samples(d.decode(PMD_DATA, frame, 0));
    assert.equal(imu.n, 57);
    const k = factor * 1000 * MG;
    // Bits 0–9 = +190, 10–19 = 0x397 → −105, 20–29 = 0x3AB → −85; bits 30–31 (0b10) start sample 2's x delta (+2).
    close(
      imu.acc!.subarray(0, 9),
      [
        [1905, 27376, -29282],
        [2095, 27271, -29367],
        [2097, 27271, -29367],
      ].map((r) => r.map((v) => v * k)),
    );
  });

  it('sign-extends deltas at every width 1–32 and accumulates across blocks of different widths', () => {
    const out = new Int32Array(64);
    // Reference (0,0,0) then one sample per width with the most negative delta of that width.
    for (let w = 1; w <= 32; w++) {
      const min = -(2 ** (w - 1));
      const frame = pmdCompressedFrame(
        2,
        0n,
        1,
        2,
        [
          [0, 0, 0],
          [min, 0, -1 >= min ? -1 : 0],
        ],
        [{ width: w, count: 1 }],
      );
      const n = unpackDeltaFrame(frame, 10, 3, 2, out);
      assert.equal(n, 2);
      assert.deepEqual(Array.from(out.subarray(3, 6)), [min | 0, 0, -1 >= min ? -1 : 0], `width ${w}`);
    }
  });

  it('round-trips random compressed frames built from the documented rule (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: -32768, max: 32767 }),
            fc.integer({ min: -32768, max: 32767 }),
            fc.integer({ min: -32768, max: 32767 }),
          ),
          { minLength: 1, maxLength: 60 },
        ),
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 5 }),
        (rows, cuts) => {
          const samplesIn = rows.map((r) => [...r]);
          // Split deltas into blocks at the given counts, each with the minimal width for its deltas.
          const blocks: { width: number; count: number }[] = [];
          let s = 1;
          for (const c of [...cuts, 255]) {
            if (s >= samplesIn.length) break;
            const count = Math.min(c, samplesIn.length - s);
            blocks.push({ width: deltaWidth(samplesIn, s, s + count), count });
            s += count;
          }
          const frame = pmdCompressedFrame(2, 10n ** 15n, 1, 2, samplesIn, blocks);
          const d = driver.createDecoder(verity);
          const imu = samples(d.decode(PMD_DATA, frame, 0));
          assert.equal(imu.n, samplesIn.length);
          close(
            imu.acc,
            samplesIn.map((r) => r.map((v) => v * MG)),
            1e-5,
          );
        },
      ),
      { numRuns: 300, seed: 5 },
    );
  });

  it('decodes int8 and int24 raw ACC, raw float gyro, compressed gyro (int16 and float32 bits)', () => {
    const d = driver.createDecoder(verity);
    close(samples(d.decode(PMD_DATA, pmdRawFrame(2, 1000n, 0, 1, [[-128, 127, -1]]), 0)).acc, [
      [-128 * MG, 127 * MG, -MG],
    ]);
    close(samples(d.decode(PMD_DATA, pmdRawFrame(2, 2000n, 2, 3, [[-8388608, 8388607, -2]]), 0)).acc, [
      [-8388608 * MG, 8388607 * MG, -2 * MG],
    ]);
    const gyroRaw = pmdRawFrame(5, 1000n, 1, 4, [[float32Bits(250.5), float32Bits(-0.25), float32Bits(0)]]);
    close(samples(d.decode(PMD_DATA, gyroRaw, 0)).gyro, [[250.5 * D2R, -0.25 * D2R, 0]]);
    d.decode(PMD_CONTROL_POINT, pmdResponse(2, 5, 0, pmdFactorParam(0.5)), 0);
    const gyro0 = pmdCompressedFrame(
      5,
      5000n,
      0,
      2,
      [
        [100, -100, 0],
        [101, -102, 4],
      ],
      [{ width: 4, count: 1 }],
    );
    close(samples(d.decode(PMD_DATA, gyro0, 0)).gyro, [
      [50 * D2R, -50 * D2R, 0],
      [50.5 * D2R, -51 * D2R, 2 * D2R],
    ]);
    const a = float32Bits(12.5);
    const b = float32Bits(-3.75);
    const gyro1 = pmdCompressedFrame(
      5,
      6000n,
      1,
      4,
      [
        [a, b, 0],
        [a + 1, b - 1, 0],
      ],
      [{ width: 2, count: 1 }],
    );
    const g = samples(d.decode(PMD_DATA, gyro1, 0)).gyro!;
    assert.equal(g[0], Math.fround(12.5 * 0.5 * D2R));
    assert.ok(Math.abs(g[3]! / D2R / 0.5 - 12.500001) < 1e-5, 'next float bit pattern');
  });

  it('uses factor 1.0 until the start response reports one, and the reported factor afterwards', () => {
    const d = driver.createDecoder(verity);
    const frame = pmdCompressedFrame(2, 1000n, 1, 2, [[1000, 0, 0]], []);
    close(samples(d.decode(PMD_DATA, frame, 0)).acc, [[1000 * MG, 0, 0]]);
    d.decode(PMD_CONTROL_POINT, pmdResponse(2, 2, 0, pmdFactorParam(0.25)), 0);
    const frame2 = pmdCompressedFrame(2, 2000n, 1, 2, [[1000, 0, 0]], []);
    close(samples(d.decode(PMD_DATA, frame2, 0)).acc, [[250 * MG, 0, 0]]);
  });

  it('reassembles a multi-part control-point response (more ≠ 0, continuation bytes from offset 5)', () => {
    const d = driver.createDecoder(verity);
    const p = pmdFactorParam(0.5);
    assert.deepEqual(d.decode(PMD_CONTROL_POINT, pmdResponse(2, 2, 0, p.slice(0, 3), 1), 0), { ok: true });
    const r = d.decode(PMD_CONTROL_POINT, pmdResponse(2, 2, 0, p.slice(3), 0), 0);
    assert.ok(r.ok && r.control?.detail?.factor === 0.5);
  });

  it('reports refused starts and device-stopped streams as control events with codes', () => {
    const d = driver.createDecoder(verity);
    const r = d.decode(PMD_CONTROL_POINT, pmdResponse(2, 2, 13), 0);
    assert.ok(r.ok && r.control && !r.control.ok && r.control.code === 'POLAR_DEVICE_IN_CHARGER');
    const s = d.decode(PMD_CONTROL_POINT, fromHex('01 02 05'), 0);
    assert.ok(s.ok && s.control?.code === 'POLAR_STREAM_STOPPED');
    const f = d.decode(PMD_CONTROL_POINT, fromHex('0F 05 00'), 0);
    assert.ok(f.ok && f.control?.detail?.acc === true && f.control.detail.gyro === false);
  });
});

describe('Polar PMD: sample times', () => {
  const rate = 52;
  const period = 1e9 / rate;
  const settings: StreamSettings = verity;
  const frameAt = (tsNs: number, n: number) =>
    pmdRawFrame(
      2,
      BigInt(Math.round(tsNs)),
      1,
      2,
      Array.from({ length: n }, () => [0, 0, 1000]),
    );

  it('spaces later frames by (ts − prevTs)/n from the previous stamp, following the true rate', () => {
    const d = driver.createDecoder(settings);
    const t0 = 1e12;
    samples(d.decode(PMD_DATA, frameAt(t0, 4), 0));
    const trueP = 1e9 / 55; // device streams faster than reported (Verity PPG, OH1 traps)
    const t = samples(d.decode(PMD_DATA, frameAt(t0 + 4 * trueP, 4), 0)).deviceTimeNs!;
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(t[i]! - (PMD_EPOCH_UNIX_NS + t0 + (i + 1) * trueP)) < 512);
  });

  it('treats a lost frame as a gap (anchored at the frame stamp, nominal spacing), not a stretched frame', () => {
    const d = driver.createDecoder(settings);
    const t0 = 1e12;
    d.decode(PMD_DATA, frameAt(t0, 4), 0);
    const t2 = t0 + 8 * period; // the frame in between was lost
    const t = samples(d.decode(PMD_DATA, frameAt(t2, 4), 0)).deviceTimeNs!;
    assert.ok(Math.abs(t[3]! - (PMD_EPOCH_UNIX_NS + t2)) < 512);
    assert.ok(Math.abs(t[3]! - t[2]! - period) < 512);
    assert.ok(t[0]! - (PMD_EPOCH_UNIX_NS + t0) > 4 * period, 'the gap stays visible');
  });

  it('follows a rate change once two frames agree on the new period', () => {
    const d = driver.createDecoder(settings);
    const slow = period * 2;
    let t = 1e12;
    d.decode(PMD_DATA, frameAt(t, 4), 0);
    t += 4 * slow;
    d.decode(PMD_DATA, frameAt(t, 4), 0); // looks like a gap
    t += 4 * slow;
    const times = samples(d.decode(PMD_DATA, frameAt(t, 4), 0)).deviceTimeNs!;
    assert.ok(Math.abs(times[1]! - times[0]! - slow) < 512, 'confirmed new period');
    t += 4 * slow;
    const next = samples(d.decode(PMD_DATA, frameAt(t, 4), 0)).deviceTimeNs!;
    assert.ok(Math.abs(next[0]! - times[3]! - slow) < 512);
  });

  it('drops a frame whose stamp goes backwards (device clock reset) and resumes from it', () => {
    const d = driver.createDecoder(settings);
    d.decode(PMD_DATA, frameAt(2e12, 2), 0);
    rejected(d.decode(PMD_DATA, frameAt(1e12, 2), 0), 'TIME_NOT_ASCENDING');
    const t = samples(d.decode(PMD_DATA, frameAt(1e12 + 2 * period, 2), 0)).deviceTimeNs!;
    assert.ok(Math.abs(t[1]! - (PMD_EPOCH_UNIX_NS + 1e12 + 2 * period)) < 512);
  });

  it('keeps separate time bases per measurement type', () => {
    const d = driver.createDecoder(settings);
    d.decode(PMD_DATA, frameAt(1e12, 2), 0);
    const gyro = pmdRawFrame(5, 5n * 10n ** 11n, 1, 4, [[0, 0, 0]]);
    assert.ok(d.decode(PMD_DATA, gyro, 0).ok, 'an earlier gyro stamp is not "backwards" for acc');
  });
});

describe('Polar PMD: malformed frames get coded reasons', () => {
  const d = () => driver.createDecoder(verity);
  it('empty, short header, unknown type, undocumented frame type', () => {
    rejected(d().decode(PMD_DATA, new Uint8Array(0), 0), 'EMPTY');
    rejected(d().decode(PMD_DATA, fromHex('02 00 00 00'), 0), 'TRUNCATED');
    rejected(d().decode(PMD_DATA, pmdRawFrame(0, 1n, 0, 1, [[1, 2, 3]]), 0), 'BAD_MEASUREMENT_TYPE');
    rejected(d().decode(PMD_DATA, pmdRawFrame(2, 1n, 5, 1, [[1, 2, 3]]), 0), 'BAD_FRAME_TYPE');
    rejected(d().decode(PMD_DATA, pmdRawFrame(5, 1n, 0, 2, [[1, 2, 3]]), 0), 'BAD_FRAME_TYPE');
  });
  it('raw content not a whole number of samples, raw frame without samples', () => {
    rejected(d().decode(PMD_DATA, concatBytes(pmdRawFrame(2, 1n, 1, 2, [[1, 2, 3]]), [9]), 0), 'BAD_LENGTH');
    rejected(d().decode(PMD_DATA, pmdRawFrame(2, 1n, 1, 2, []), 0), 'TRUNCATED');
  });
  it('compressed: short reference, cut block header, block overrunning the frame, zero or > 32-bit width', () => {
    const good = pmdCompressedFrame(
      2,
      1n,
      1,
      2,
      [
        [0, 0, 0],
        [1, 1, 1],
        [2, 2, 2],
      ],
      [{ width: 3, count: 2 }],
    );
    rejected(d().decode(PMD_DATA, good.subarray(0, 14), 0), 'TRUNCATED');
    rejected(d().decode(PMD_DATA, good.subarray(0, 17), 0), 'TRUNCATED');
    rejected(d().decode(PMD_DATA, good.subarray(0, good.length - 1), 0), 'BAD_DELTA_BLOCK');
    rejected(d().decode(PMD_DATA, concatBytes(good.subarray(0, 16), [0, 2]), 0), 'BAD_DELTA_BLOCK');
    rejected(
      d().decode(PMD_DATA, concatBytes(good.subarray(0, 16), [33, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 0),
      'BAD_DELTA_BLOCK',
    );
  });
  it('non-finite float gyro, bad control-point data, unknown characteristic', () => {
    const nan = pmdRawFrame(5, 1n, 1, 4, [[0x7fc00000, 0, 0]]);
    rejected(d().decode(PMD_DATA, nan, 0), 'NON_FINITE');
    rejected(d().decode(PMD_CONTROL_POINT, fromHex('F0 02'), 0), 'TRUNCATED');
    rejected(d().decode(PMD_CONTROL_POINT, fromHex('F0 02 02 00 00 05 01 00'), 0), 'UNEXPECTED_CONTROL');
    rejected(d().decode(PMD_CONTROL_POINT, fromHex('77'), 0), 'UNEXPECTED_CONTROL');
    rejected(d().decode('2a19', fromHex('50'), 0), 'UNKNOWN_CHARACTERISTIC');
  });
});
