import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamCounter } from '../../../gateway/pipeline/reps/stream-counter.ts';
import { SetCounter } from '../../../gateway/pipeline/reps/set-counter.ts';
import { repSettingsFor } from '../../../gateway/pipeline/reps/settings.ts';
import { prng } from '../../helpers/prng.ts';
import { syntheticImu, type Synthetic } from '../../helpers/rep-signals.ts';

function countImu(sig: Synthetic, chunk = 10): number {
  const counter = new SetCounter(repSettingsFor('squat'));
  let reps = 0;
  for (let i = 0; i < sig.tNs.length; i += chunk) {
    const j = Math.min(sig.tNs.length, i + chunk);
    reps += counter.pushImu(sig.tNs.subarray(i, j), sig.values.subarray(i * 6, j * 6)).length;
  }
  return reps;
}

describe('rep counter on synthetic signals of known period', () => {
  it('counts within ±1 across periods, noise, rests and rates (property, 60 seeded cases), exactly in most', () => {
    let exact = 0;
    const cases = 60;
    for (let seed = 1; seed <= cases; seed++) {
      const rand = prng(1000 + seed);
      const o = {
        reps: 3 + Math.floor(rand() * 12),
        periodS: 1.2 + rand() * 3.5,
        noise: rand() * 0.4,
        jitter: rand() * 0.2,
        restS: rand() < 0.5 ? 0 : rand() * 1.5,
        rateHz: [25, 50, 100][Math.floor(rand() * 3)] as number,
      };
      const sig = syntheticImu(seed, o);
      const got = countImu(sig);
      assert.ok(Math.abs(got - o.reps) <= 1, `seed ${seed} ${JSON.stringify(o)}: counted ${got}`);
      if (got === o.reps) exact++;
    }
    assert.ok(exact >= cases * 0.8, `exact in ${exact}/${cases}`);
  });

  it('counts nothing in noise alone or when still', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const sig = syntheticImu(seed, { reps: 0, periodS: 2, noise: 0.2, jitter: 0, restS: 0, rateHz: 50 });
      assert.equal(countImu(sig), 0, `seed ${seed}`);
    }
  });

  it('the same counts whatever the chunking', () => {
    const sig = syntheticImu(7, { reps: 9, periodS: 2.2, noise: 0.2, jitter: 0.1, restS: 0.5, rateHz: 50 });
    const counts = [1, 7, 50, 400].map((c) => countImu(sig, c));
    assert.deepEqual(new Set(counts).size, 1, `counts ${counts.join(',')}`);
  });

  it('finds the period by autocorrelation', () => {
    const c = new StreamCounter(1);
    const f = new Float64Array(1);
    for (let i = 0; i < 25 * 20; i++) {
      f[0] = Math.sin((2 * Math.PI * i) / 25 / 2.5);
      c.push(i * 4e7, f);
    }
    assert.ok(Math.abs(c.periodS - 2.5) < 0.1, `period ${c.periodS}`);
    assert.ok(c.periodicity > 0.9, `periodicity ${c.periodicity}`);
    assert.ok(Math.abs(c.reps - 8) <= 1, `reps ${c.reps}`);
  });
});

describe('rep settings', () => {
  it('walking, jogging, standing and unknown classes count nothing by default; config and manifest override', () => {
    for (const id of ['walk', 'jog', 'stand', 'wave', 'unknown', 'sit_to_stand']) {
      assert.equal(repSettingsFor(id).repetitive, false, id);
    }
    for (const id of ['arm_curl', 'squat', 'lunge', 'push'])
      assert.equal(repSettingsFor(id).repetitive, true, id);
    assert.equal(repSettingsFor('wave', {}, { wave: { modality: 'imu' } }).repetitive, true);
    assert.equal(
      repSettingsFor('squat', { squat: { repetitive: false } }, { squat: { modality: 'pose' } }).repetitive,
      false,
    );
    assert.equal(repSettingsFor('squat', { squat: { maxPeriodS: 5 } }).maxPeriodS, 5);
  });
});
