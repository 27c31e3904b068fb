import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { WearableMatcher, pearson, type MatcherOptions } from '../../../gateway/sources/camera/matching.ts';
import { MatchingSection } from '../../../gateway/sources/camera/options.ts';
import type { Recording } from '../../../gateway/sources/replay/index.ts';
import { simulateMatching } from '../../helpers/matching-sim.ts';
import { composeScene, loadDemo, lowerBound, type SceneSubject } from '../../helpers/pose-scene.ts';

/*
 * Wearable ↔ track matching on real data: UTD-MHAD subjects' skeletons side by side in one
 * view, each with their own real wrist IMU (bench/matching measures the same at scale).
 */

const defaults = Value.Default(MatchingSection, {}) as MatcherOptions;

/** Feeds [fromS, toS) of the scene: IMU of `wearers`, pose of each `tracks` entry under its key. */
function feed(
  m: WearableMatcher,
  scene: SceneSubject[],
  fromS: number,
  toS: number,
  tracks: Record<string, string>,
  wearers = scene.map((s) => s.subject),
) {
  const changes: ReturnType<WearableMatcher['evaluate']>['changes'] = [];
  for (let t = fromS * 1e9; t < toS * 1e9; t += 100e6) {
    for (const s of scene) {
      if (wearers.includes(s.subject)) {
        const a = lowerBound(s.imu.tNs, t);
        const b = lowerBound(s.imu.tNs, t + 100e6);
        m.addImu(
          s.imuDevice,
          s.subject,
          'wrist',
          s.imu.tNs.subarray(a, b),
          s.imu.values.subarray(a * 6, b * 6),
        );
      }
      for (const [key, subject] of Object.entries(tracks)) {
        if (subject !== s.subject) continue;
        for (let i = lowerBound(s.pose.tNs, t); i < s.pose.tNs.length && s.pose.tNs[i]! < t + 100e6; i++)
          m.addPose(key, s.pose.tNs[i]!, s.pose.values.subarray(i * 51, i * 51 + 51), 4 / 3);
      }
    }
    const u = m.maybeEvaluate(t + 100e6);
    if (u) changes.push(...u.changes);
  }
  return changes;
}

describe('wearable ↔ track matching on UTD-MHAD scenes', () => {
  let rec: Recording;
  before(async () => {
    rec = await loadDemo();
  });

  test('three people in view, each with a wrist IMU: every track gets its wearer, and keeps them', () => {
    for (const startS of [5, 125, 245]) {
      const r = simulateMatching(composeScene(rec, ['s2', 's4', 's6']), defaults, { startS, durationS: 45 });
      assert.notEqual(r.timeToLockS, null, `scene at ${startS} s never locked`);
      assert.ok(r.timeToLockS! < 30, `scene at ${startS} s locked only after ${r.timeToLockS} s`);
      assert.equal(r.correctAfterLock, r.slotsAfterLock, `scene at ${startS} s: a wrong pairing after lock`);
    }
  });

  test('tracks swap keys mid-scene (new ids): pairings follow the people, not the keys', () => {
    const scene = composeScene(rec, ['s2', 's4']);
    const m = new WearableMatcher(defaults);
    feed(m, scene, 10, 30, { 'cam/1': 's2', 'cam/2': 's4' });
    assert.deepEqual(Object.fromEntries(m.assignments()), { 'cam/1': 's2', 'cam/2': 's4' });
    // Both leave and come back with new track ids, in the other order.
    assert.deepEqual(
      m.removeTrack('cam/1').map((c) => c.kind),
      ['released'],
    );
    m.removeTrack('cam/2');
    assert.equal(m.assignments().size, 0);
    feed(m, scene, 30, 50, { 'cam/3': 's4', 'cam/4': 's2' });
    assert.deepEqual(Object.fromEntries(m.assignments()), { 'cam/3': 's4', 'cam/4': 's2' });
  });

  test('a person without a wearable is not given a subject when the wearers are in view', () => {
    const scene = composeScene(rec, ['s2', 's4', 's6']);
    const m = new WearableMatcher(defaults);
    feed(m, scene, 5, 45, { 'cam/a': 's2', 'cam/b': 's4', 'cam/c': 's6' }, ['s2', 's4']);
    assert.deepEqual(Object.fromEntries(m.assignments()), { 'cam/a': 's2', 'cam/b': 's4' });
  });

  test('a still wearable (gravity only) gives no evidence and no pairing', () => {
    const scene = composeScene(rec, ['s2']);
    const m = new WearableMatcher(defaults);
    const n = 50 * 30;
    const tNs = Float64Array.from({ length: n }, (_, i) => 5e9 + i * 20e6);
    const values = new Float32Array(n * 6);
    for (let i = 0; i < n; i++) values[i * 6 + 2] = 9.80665;
    m.addImu('still', 'nobody-moving', 'wrist', tNs, values);
    feed(m, scene, 5, 35, { 'cam/1': 's2' }, []);
    assert.equal(m.assignments().size, 0);
    const mx = m.matrix();
    assert.deepEqual(mx.subjects, ['nobody-moving']);
    assert.ok(
      mx.correlation.flat().every((r) => Number.isNaN(r)),
      'no correlation with a flat signal',
    );
  });

  test('held pairings resist a brief better-looking alternative (hysteresis), then release when the track expires', () => {
    const scene = composeScene(rec, ['s2', 's4']);
    const m = new WearableMatcher({ ...defaults, switchS: 1000 });
    feed(m, scene, 10, 30, { 'cam/1': 's2', 'cam/2': 's4' });
    const before = Object.fromEntries(m.assignments());
    // The two people swap keys without the tracker noticing (an id switch): with a huge
    // switchS, the matcher must not follow within the scene.
    const changes = feed(m, scene, 30, 40, { 'cam/1': 's4', 'cam/2': 's2' });
    assert.deepEqual(Object.fromEntries(m.assignments()), before);
    assert.equal(changes.filter((c) => c.kind === 'switched').length, 0);
    // With the config's switchS it does follow.
    const m2 = new WearableMatcher(defaults);
    feed(m2, scene, 10, 30, { 'cam/1': 's2', 'cam/2': 's4' });
    const ch2 = feed(m2, scene, 30, 60, { 'cam/1': 's4', 'cam/2': 's2' });
    assert.deepEqual(Object.fromEntries(m2.assignments()), { 'cam/1': 's4', 'cam/2': 's2' });
    assert.ok(ch2.some((c) => c.kind === 'switched'));
  });
});

test('pearson: 1 for a scaled copy, −1 for a mirrored one, NaN for too little overlap or a flat signal', () => {
  const a = Float64Array.from({ length: 40 }, (_, i) => Math.sin(i / 3));
  const b = Float64Array.from(a, (v) => 2 * v + 5);
  assert.ok(Math.abs(pearson(a, 0, b, 0, 40) - 1) < 1e-12);
  assert.ok(
    Math.abs(
      pearson(
        a,
        0,
        Float64Array.from(a, (v) => -v),
        0,
        40,
      ) + 1,
    ) < 1e-12,
  );
  assert.ok(Number.isNaN(pearson(a, 0, b, 0, 10)));
  assert.ok(Number.isNaN(pearson(a, 0, new Float64Array(40).fill(3), 0, 40)));
  const shifted = Float64Array.from({ length: 43 }, (_, i) => Math.sin((i - 3) / 3));
  assert.ok(Math.abs(pearson(a, 0, shifted, 3, 40) - 1) < 1e-12);
});
