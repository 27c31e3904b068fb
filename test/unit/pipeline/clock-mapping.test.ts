import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Subject } from 'rxjs';
import type { SampleChunk } from '../../../gateway/domain/samples.ts';
import { DriftEstimator } from '../../../gateway/clock/drift-estimator.ts';
import { mapDeviceClock } from '../../../gateway/pipeline/stages/clock-mapping.ts';
import { imuChunk, prng } from './helpers/fakes.ts';
import { VirtualTime } from './helpers/virtual-time.ts';

const PPM = 100;
const DEVICE_BOOT_OFFSET_NS = -1_767_000_000_000_000_000; // device counts from its own boot

/**
 * A wearable whose clock runs 100 ppm fast sends 10 samples (50 Hz) per packet; each packet
 * reaches the gateway after 3 ms plus exponential jitter (mean 8 ms, occasionally 100 ms+).
 */
function simulate(
  seconds: number,
  seed = 3,
): { chunks: { arrivalMs: number; chunk: SampleChunk }[]; trueTimes: Map<number, number> } {
  const rnd = prng(seed);
  const vt = new VirtualTime();
  const g0 = vt.nowNs;
  const chunks: { arrivalMs: number; chunk: SampleChunk }[] = [];
  const trueTimes = new Map<number, number>();
  for (let p = 0; p < seconds * 5; p++) {
    const gTimes = Array.from({ length: 10 }, (_, i) => g0 + (p * 10 + i) * 20e6);
    const dTimes = gTimes.map((g) => (g - g0) * (1 + PPM * 1e-6) + g0 + DEVICE_BOOT_OFFSET_NS);
    dTimes.forEach((d, i) => trueTimes.set(d, gTimes[i]!));
    const delayNs = 3e6 - 8e6 * Math.log(1 - rnd());
    const chunk = {
      ...imuChunk('band', 's1', dTimes, () => [0, 0, 9.81, 0, 0, 0]),
      clockDomain: 'device' as const,
    };
    chunks.push({ arrivalMs: (gTimes.at(-1)! + delayNs) / 1e6, chunk });
  }
  chunks.sort((a, b) => a.arrivalMs - b.arrivalMs);
  return { chunks, trueTimes };
}

describe('mapDeviceClock', () => {
  it('recovers a 100 ppm device clock drift from jittered arrivals', async () => {
    const { chunks, trueTimes } = simulate(180);
    const vt = new VirtualTime();
    const input = new Subject<SampleChunk>();
    let latest: SampleChunk | undefined;
    input.pipe(mapDeviceClock({}, { clock: vt.clock })).subscribe((c) => {
      assert.equal((c as { clockDomain?: string }).clockDomain, 'gateway');
      latest = c;
    });
    const errors: number[] = [];
    for (const { arrivalMs, chunk } of chunks) {
      await vt.advanceTo(arrivalMs);
      input.next(chunk);
      chunk.tNs.forEach((device, i) => errors.push((latest!.tNs[i]! - trueTimes.get(device)!) / 1e6));
    }
    // After the first minute the mapping error no longer grows with time: the 100 ppm (6 ms per
    // minute) drift is gone, leaving a constant offset ≈ the smallest transport delay (3 ms).
    const late = errors.slice(Math.floor(errors.length / 2));
    const spread = Math.max(...late) - Math.min(...late);
    assert.ok(
      spread < 1.5,
      `error spread over the last 90 s is ${spread.toFixed(3)} ms (uncorrected drift would be 9 ms)`,
    );
    const mean = late.reduce((s, e) => s + e, 0) / late.length;
    console.log(
      `clock mapping: error spread ${spread.toFixed(3)} ms, mean ${mean.toFixed(3)} ms over the last 90 s`,
    );
    assert.ok(
      mean > 2 && mean < 6,
      `mapped times lead the truth by the minimum transport delay, got ${mean.toFixed(3)} ms`,
    );
  });

  it('estimates the drift rate itself within a few ppm', () => {
    const { chunks } = simulate(120, 9);
    const est = new DriftEstimator();

    for (const { arrivalMs, chunk } of chunks) est.observe(chunk.tNs.at(-1)!, arrivalMs * 1e6);
    console.log(`drift estimate ${est.driftPpm.toFixed(2)} ppm`);
    assert.ok(Math.abs(est.driftPpm - PPM) < 5, `estimated ${est.driftPpm.toFixed(2)} ppm`);
  });

  it('leaves chunks already on the gateway clock untouched', () => {
    const vt = new VirtualTime();
    const input = new Subject<SampleChunk>();
    const out: SampleChunk[] = [];
    input.pipe(mapDeviceClock({}, { clock: vt.clock })).subscribe((c) => out.push(c));
    const chunk = imuChunk('replay-1', 's1', [vt.nowNs, vt.nowNs + 2e7], () => [1, 2, 3, 4, 5, 6]);
    input.next(chunk);
    assert.equal(out[0], chunk);
  });
});
