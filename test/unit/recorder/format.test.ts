import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  fileStem,
  formatFloat32,
  recordingDirName,
  recordingOrigin,
  relativeNs,
} from '../../../gateway/sinks/recorder/format.ts';

/** A deterministic generator, so a failure names a reproducible value. */
function* float32s(count: number, seed = 1): Generator<number> {
  const bits = new Uint32Array(1);
  const asFloat = new Float32Array(bits.buffer);
  let x = seed;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bits[0] = x >>> 0;
    if (Number.isFinite(asFloat[0])) yield asFloat[0] as number;
  }
}

describe('formatFloat32', () => {
  it('reads back as the identical float32 for any finite float32 (random bit patterns)', () => {
    let checked = 0;
    for (const v of float32s(200_000)) {
      const text = formatFloat32(v);
      assert.equal(Math.fround(Number(text)), v, `${v} written as ${text}`);
      assert.match(text, /^-?\d+(\.\d+)?(e[+-]\d+)?$/, `${text} is a plain number`);
      checked++;
    }
    assert.ok(checked > 190_000);
  });

  it('reads back for sensor-like values (m/s², rad/s, image coordinates, scores)', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 100_000; i++) {
      const v = Math.fround((rand() * 2 - 1) * 10 ** Math.floor(rand() * 6 - 3));
      const text = formatFloat32(v);
      assert.equal(Math.fround(Number(text)), v, `${v} written as ${text}`);
    }
  });

  it('writes what a short decimal was read from in its shortest form', () => {
    for (const [source, expected] of [
      ['-9.390', '-9.39'],
      ['0.531', '0.531'],
      ['1', '1'],
      ['0.5', '0.5'],
      ['-0.0703', '-0.0703'],
      ['100', '100'],
      ['12345.5', '12345.5'],
      ['1e-7', '1e-7'],
    ] as const) {
      assert.equal(formatFloat32(Math.fround(Number(source))), expected, source);
    }
  });

  it('writes zero and negative zero as 0, and the float32 extremes exactly', () => {
    assert.equal(formatFloat32(0), '0');
    assert.equal(formatFloat32(-0), '0');
    const max = Math.fround(3.4028234663852886e38);
    const tiny = Math.fround(1.401298464324817e-45);
    assert.equal(Math.fround(Number(formatFloat32(max))), max);
    assert.equal(Math.fround(Number(formatFloat32(tiny))), tiny);
    assert.equal(Math.fround(Number(formatFloat32(-tiny))), -tiny);
  });
});

describe('recording time base', () => {
  it('starts on a whole millisecond at or before now, named by the ISO string readers parse', () => {
    const nowNs = Date.parse('2026-03-04T05:06:07.891Z') * 1e6 + 456_789;
    const origin = recordingOrigin(nowNs);
    assert.equal(origin.startTime, '2026-03-04T05:06:07.891Z');
    assert.equal(origin.originNs, BigInt(Date.parse(origin.startTime)) * 1_000_000n);
  });

  it('maps a float64 gateway time to the exact integer ns after the origin', () => {
    // 1767225600123 ms is not a multiple of 256 ns: subtracting doubles would be off by up to 128 ns.
    const origin = recordingOrigin(1767225600123 * 1e6);
    assert.equal(origin.startTime, '2026-01-01T00:00:00.123Z');
    let naiveWrong = 0;
    for (let k = 0; k < 5000; k++) {
      const intended = BigInt(k) * 52_631_579n; // 19 Hz
      const t = Number(origin.originNs + intended); // what the gateway clock holds
      const rel = relativeNs(t, origin);
      assert.ok(Number.isInteger(rel));
      assert.equal(
        origin.originNs + BigInt(rel),
        BigInt(t),
        `k=${k}: origin + t_ns is the stored time exactly`,
      );
      assert.ok(
        Math.abs(Number(BigInt(rel) - intended)) <= 128,
        `k=${k}: within float64 rounding of the intended time`,
      );
      if (t - 1767225600123 * 1e6 !== rel) naiveWrong++;
    }
    assert.ok(
      naiveWrong > 0,
      'the naive double subtraction differs somewhere (else this test proves nothing)',
    );
  });

  it('gives NaN, not an exception, for a non-finite time', () => {
    const origin = recordingOrigin(0);
    assert.ok(Number.isNaN(relativeNs(Number.NaN, origin)));
    assert.ok(Number.isNaN(relativeNs(Number.POSITIVE_INFINITY, origin)));
  });
});

describe('file and directory names', () => {
  it('turns any device id into a portable file stem, unique ignoring case', () => {
    const taken = new Set<string>();
    assert.equal(fileStem('imu-s2', taken), 'imu-s2');
    assert.equal(fileStem('AA:BB:CC:DD:EE:FF', taken), 'AA_BB_CC_DD_EE_FF');
    assert.equal(fileStem('aa:bb:cc:dd:ee:ff', taken), 'aa_bb_cc_dd_ee_ff-2');
    assert.equal(fileStem('phone/alice', taken), 'phone_alice');
    assert.equal(fileStem('..', taken), '_');
    assert.equal(fileStem('', taken), 'stream');
    assert.equal(fileStem('imu-s2', taken), 'imu-s2-2');
  });

  it('names a recording directory by its start time without colons', () => {
    assert.equal(recordingDirName(Date.parse('2026-01-02T03:04:05.678Z'), 'gym'), '2026-01-02T03-04-05Z-gym');
  });
});
