import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamClockAligner } from '../../../gateway/sources/ble/clock-align.ts';
import { StreamMerger } from '../../../gateway/sources/ble/stream-merge.ts';
import { seeded } from '../../fakes/noble/harness.ts';

/*
 * Clock alignment of what the connection manager delivers: arrival-stamped streams
 * (WitMotion, Thingy) and device-stamped ones (Polar), with BLE's bunched delivery.
 */

const T0 = 1.7e18;

/** Notifications of one sample each from a device whose crystal is off by `ppm`, delivered in connection-interval bunches. */
function arrivalStream(
  rateHz: number,
  ppm: number,
  seconds: number,
  seed: number,
  lose: (i: number) => boolean = () => false,
) {
  const rnd = seeded(seed);
  const trueTimes: number[] = [];
  const arrivals: number[] = [];
  const periodNs = (1e9 / rateHz) * (1 + ppm * 1e-6) ** -1;
  const intervalNs = 30e6; // 30 ms connection interval
  for (let i = 0; i < rateHz * seconds; i++) {
    const t = T0 + i * periodNs;
    if (lose(i)) continue;
    // Delivered at the next connection event, sometimes one or two events later (retransmission).
    const event = Math.ceil((t - T0) / intervalNs) * intervalNs + T0;
    const extra = rnd() < 0.05 ? intervalNs * (1 + Math.floor(rnd() * 2)) : 0;
    trueTimes.push(t);
    arrivals.push(Math.max(event + extra, arrivals.at(-1) ?? 0) + 2e6);
  }
  return { trueTimes, arrivals };
}

describe('clock alignment', () => {
  it('arrival-stamped stream: smooths bunched delivery into even spacing and estimates crystal drift', () => {
    const { trueTimes, arrivals } = arrivalStream(100, 200, 120, 1);
    const a = new StreamClockAligner({ nominalRateHz: 100 });
    const out: number[] = [];
    for (const arr of arrivals) out.push(a.align(1, arr)[`tNs`][0]!);
    assert.ok(Math.abs(a.driftPpm - 200) < 30, `drift ${a.driftPpm} ppm`);
    // After a minute, spacing is even (no 30 ms bunching) and offset from truth is constant.
    const tail = out.slice(6000);
    const diffs = tail.slice(1).map((t, i) => t - tail[i]!);
    const mean = diffs.reduce((s, d) => s + d, 0) / diffs.length;
    assert.ok(Math.abs(mean - 1e7 / (1 + 200e-6)) < 2e3, `mean period ${mean}`);
    // Raw arrivals come in 30 ms bunches; mapped spacing is even except for sub-ms steps when the envelope moves.
    const dev = diffs.map((d) => Math.abs(d - mean)).sort((p, q) => p - q);
    assert.ok(
      dev[Math.floor(dev.length * 0.99)]! < 0.05e6,
      `p99 spacing error ${dev[Math.floor(dev.length * 0.99)]! / 1e6} ms`,
    );
    assert.ok(dev.at(-1)! < 2.5e6, `worst spacing error ${dev.at(-1)! / 1e6} ms`);
    for (let i = 0; i < out.length; i++)
      assert.ok(out[i]! <= arrivals[i]!, 'a sample is never placed after it arrived');
    const errs = tail.map((t, i) => t - trueTimes[6000 + i]!);
    const spread = Math.max(...errs) - Math.min(...errs);
    // Delivery waits for 30 ms connection events (and retransmissions); the mapped times stay within one sample period of the truth.
    const rawErrs = arrivals.slice(6000).map((t, i) => t - trueTimes[6000 + i]!);
    assert.ok(Math.max(...rawErrs) - Math.min(...rawErrs) > 30e6);
    assert.ok(spread < 10e6, `offset to true sample times varies by ${spread / 1e6} ms`);
    assert.equal(a.lostTotal, 0);
  });

  it('arrival-stamped stream: a run of lost notifications is counted and skipped over', () => {
    const lost = new Set([
      3000, 3001, 3002, 3003, 3004, 3005, 3006, 3007, 3008, 3009, 3010, 3011, 3012, 3013, 3014,
    ]);
    const { trueTimes, arrivals } = arrivalStream(100, 0, 60, 2, (i) => lost.has(i));
    const a = new StreamClockAligner({ nominalRateHz: 100 });
    const out = arrivals.map((arr) => a.align(1, arr).tNs[0]!);
    // Without sequence numbers the count comes from lateness: right within one sample.
    assert.ok(Math.abs(a.lostTotal - 15) <= 1, `lost ${a.lostTotal}`);
    const after = out.slice(3500).map((t, i) => t - trueTimes[3500 + i]!);
    const before = out.slice(2500, 2985).map((t, i) => t - trueTimes[2500 + i]!);
    const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
    assert.ok(
      Math.abs(mean(after) - mean(before)) < 5e6,
      `time base shifted by ${(mean(after) - mean(before)) / 1e6} ms across the gap`,
    );
  });

  it('device-stamped stream: counts gaps, drops repeated stamps, never runs time backwards', () => {
    const a = new StreamClockAligner({ nominalRateHz: 50 });
    const period = 20e6;
    const frame = (first: number, n: number) =>
      Float64Array.from({ length: n }, (_, i) => 1e15 + (first + i) * period);
    let last = -Infinity;
    const check = (t: Float64Array) => {
      for (const x of t) {
        assert.ok(x > last);
        last = x;
      }
    };
    let arrival = T0;
    for (let f = 0; f < 100; f++) {
      arrival += 10 * period;
      check(a.align(10, arrival, frame(f * 10, 10)).tNs);
    }
    // Frames 100 and 101 lost: 20 samples.
    arrival += 30 * period;
    const gap = a.align(10, arrival, frame(1020, 10));
    assert.equal(gap.lost, 20);
    check(gap.tNs);
    // A frame repeating stamps already seen: dropped, counted.
    const dup = a.align(10, arrival + 1e6, frame(1025, 10));
    assert.equal(dup.notAscending, 5);
    assert.deepEqual([...dup.kept!], [5, 6, 7, 8, 9]);
    check(dup.tNs);
    // A late frame (stuck in the radio) still maps to its sample times, not its arrival.
    const late = a.align(10, arrival + 5e8, frame(1035, 10));
    check(late.tNs);
    assert.ok(late.tNs[9]! - late.tNs[0]! > 8.9 * period && late.tNs[9]! - late.tNs[0]! < 9.1 * period);
  });

  it('merges separate acc and gyro streams on the acc time base, interpolating the gyro', () => {
    const m = new StreamMerger({ hasGyro: true });
    const t = (from: number, n: number) => Float64Array.from({ length: n }, (_, i) => (from + i) * 20e6);
    const acc = (n: number) => new Float32Array(n * 3).fill(9.8);
    const gyro = (from: number, n: number) =>
      Float32Array.from({ length: n * 3 }, (_, k) => from + Math.floor(k / 3));
    assert.equal(m.addAcc(t(0, 5), acc(5)).tNs.length, 0, 'acc waits for gyro');
    const out = m.addGyro(
      Float64Array.from({ length: 5 }, (_, i) => i * 20e6 + 10e6),
      gyro(0, 5),
    );
    assert.equal(out.tNs.length, 5);
    // acc at 20 ms sits halfway between gyro samples 0 (10 ms) and 1 (30 ms).
    assert.ok(Math.abs(out.values[1 * 6 + 3]! - 0.5) < 1e-6);
    assert.equal(out.values[0 * 6 + 3], 0); // before the first gyro sample: held
    assert.equal(out.values[0 * 6 + 2], Math.fround(9.8));
    // A dead gyro stream delays acc by at most maxWait (500 ms), then holds its last value.
    const late = m.addAcc(t(5, 40), acc(40));
    assert.ok(late.tNs.length > 0 && late.tNs.length < 40);
    assert.equal(late.values[late.values.length - 3], 4);
    const accOnly = new StreamMerger({ hasGyro: false }).addAcc(t(0, 3), acc(3));
    assert.deepEqual(
      [...accOnly.values.subarray(0, 6)],
      [9.8, 9.8, 9.8, 0, 0, 0].map((v) => Math.fround(v)),
    );
  });
});
