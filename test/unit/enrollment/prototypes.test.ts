import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyEnrollment,
  classPrototypes,
  normalisedMean,
  type Example,
} from '../../../gateway/enrollment/prototypes.ts';
import { modalitySetKey, scoreWindows } from '../../../gateway/model/fusion.ts';

const unit = (...v: number[]): Float32Array => {
  const n = Math.hypot(...v);
  return Float32Array.from(v.map((x) => x / n));
};
const close = (a: ArrayLike<number>, b: ArrayLike<number>, eps = 1e-6): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < eps, `[${i}] ${a[i]} vs ${b[i]}`);
};

test('a class prototype is the normalised mean of its examples per modality; shared = normalised mean of those', () => {
  const examples: Example[] = [
    { modality: 'imu', vector: unit(1, 0, 0) },
    { modality: 'imu', vector: unit(0, 1, 0) },
    { modality: 'pose', vector: unit(0, 0, 1) },
  ];
  const p = classPrototypes(examples, 3);
  close(p.byModality.imu!, unit(1, 1, 0));
  close(p.byModality.pose!, unit(0, 0, 1));
  // mean of the two modality prototypes, not of the three examples
  close(p.shared, unit(Math.SQRT1_2, Math.SQRT1_2, 1));
  assert.deepEqual(p.counts, { imu: 2, pose: 1 });
  // one modality only: shared = that modality's prototype
  const imuOnly = classPrototypes(examples.slice(0, 2), 3);
  assert.equal(imuOnly.byModality.pose, undefined);
  close(imuOnly.shared, unit(1, 1, 0));
  assert.throws(() => normalisedMean([], 3), RangeError);
});

test('enrolling appends new classes, replaces existing ones in place, removes; per-modality files fall back to shared rows', () => {
  const base = {
    classIds: ['a', 'b'],
    dim: 2,
    shared: Float32Array.from([1, 0, 0, 1]),
    byModality: {},
  };
  const c = classPrototypes([{ modality: 'imu', vector: unit(1, 1) }], 2);
  const next = applyEnrollment(base, new Map([['c', c]]));
  assert.deepEqual(next.classIds, ['a', 'b', 'c']);
  close(next.shared, [1, 0, 0, 1, ...unit(1, 1)]);
  assert.deepEqual(Object.keys(next.byModality), ['imu']);
  close(next.byModality.imu!, [1, 0, 0, 1, ...unit(1, 1)]);

  const b2 = classPrototypes([{ modality: 'pose', vector: unit(-1, 1) }], 2);
  const replaced = applyEnrollment(next, new Map([['b', b2]]), new Set(['a']));
  assert.deepEqual(replaced.classIds, ['b', 'c']);
  close(replaced.shared, [...unit(-1, 1), ...unit(1, 1)]);
  // imu file: b has no imu examples → its shared row; pose file is new: c → its shared row
  close(replaced.byModality.imu!, [...unit(-1, 1), ...unit(1, 1)]);
  close(replaced.byModality.pose!, [...unit(-1, 1), ...unit(1, 1)]);
});

test('open-set score: each window against its modality prototypes; fused score = mean cosine to the top class', () => {
  const model = {
    embeddingDim: 2,
    temperature: 0.1,
    prototypes: Float32Array.from([1, 0, 0, 1]),
    modalityPrototypes: { pose: Float32Array.from([0, 1, 1, 0]) },
    openSetThresholds: { imu: 0.9, 'imu+pose': 0.5 },
  };
  const imu = { modality: 'imu', vector: unit(1, 0.2) };
  const s = scoreWindows(model, [imu]);
  assert.equal(s.best, 0);
  assert.ok(Math.abs(s.score - unit(1, 0.2)[0]!) < 1e-6);
  assert.equal(s.threshold, 0.9);
  assert.equal(s.unknown, false);
  // pose is scored against its own file (class 0 is [0,1] there)
  const pose = { modality: 'pose', vector: unit(0, 1) };
  const fused = scoreWindows(model, [imu, pose]);
  assert.equal(fused.best, 0);
  assert.ok(Math.abs(fused.score - (unit(1, 0.2)[0]! + 1) / 2) < 1e-6);
  assert.equal(fused.threshold, 0.5);
  // no threshold for pose alone: never unknown
  assert.equal(scoreWindows(model, [pose]).threshold, null);
  const far = scoreWindows(model, [{ modality: 'imu', vector: unit(1, 1) }]);
  assert.equal(far.unknown, true);
  assert.equal(modalitySetKey(['pose', 'imu', 'imu']), 'imu+pose');
});
