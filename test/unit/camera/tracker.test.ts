import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Recording } from '../../../gateway/sources/replay/index.ts';
import { PersonTracker, boxIou, boxOf } from '../../../gateway/sources/camera/tracker.ts';
import type { DetectedPerson } from '../../../gateway/sources/camera/types.ts';
import {
  composeScene,
  detection,
  loadDemo,
  place,
  poseAt,
  rng,
  shuffle,
  type SceneSubject,
} from '../../helpers/pose-scene.ts';

/*
 * The tracker on real skeletons (UTD-MHAD subjects of the demo recording placed side by
 * side, detections shuffled each frame with keypoint jitter, as an estimator reports them).
 */

const FRAME_NS = 1e9 / 15;

/** Runs the tracker over `seconds` of the scene; `visible(subject, t)` hides people. */
function run(
  tracker: PersonTracker,
  scene: SceneSubject[],
  seconds: number,
  options: {
    startS?: number;
    visible?: (subject: string, tS: number) => boolean;
    seed?: number;
    extra?: (tS: number) => DetectedPerson[];
  } = {},
) {
  const random = rng(options.seed ?? 1);
  const idsBySubject = new Map<string, Set<number>>();
  const subjectsById = new Map<number, Set<string>>();
  const events = {
    born: [] as number[],
    lost: [] as number[],
    refound: [] as number[],
    expired: [] as number[],
  };
  const frames = Math.round((seconds * 1e9) / FRAME_NS);
  const t0 = (options.startS ?? 1) * 1e9;
  for (let f = 0; f < frames; f++) {
    const tNs = t0 + f * FRAME_NS;
    const tS = tNs / 1e9;
    const dets: { subject: string; det: DetectedPerson }[] = [];
    for (const s of scene) {
      if (options.visible && !options.visible(s.subject, tS)) continue;
      const kp = poseAt(s.pose, tNs);
      if (kp) dets.push({ subject: s.subject, det: detection(kp, random) });
    }
    for (const det of options.extra?.(tS) ?? []) dets.push({ subject: 'ghost', det });
    shuffle(dets, random);
    const u = tracker.update(
      dets.map((d) => d.det),
      tNs,
    );
    for (const k of ['born', 'lost', 'refound', 'expired'] as const) events[k].push(...u[k]);
    for (const a of u.active) {
      const subject = dets.find((d) => d.det.keypoints === a.keypoints)?.subject ?? '?';
      if (!idsBySubject.has(subject)) idsBySubject.set(subject, new Set());
      idsBySubject.get(subject)!.add(a.trackId);
      if (!subjectsById.has(a.trackId)) subjectsById.set(a.trackId, new Set());
      subjectsById.get(a.trackId)!.add(subject);
    }
  }
  return { idsBySubject, subjectsById, events };
}

describe('person tracker on real skeletons', () => {
  let rec: Recording;
  before(async () => {
    rec = await loadDemo();
  });

  test('four people side by side for 60 s: one id each, never swapped', () => {
    const scene = composeScene(rec, ['s2', 's4', 's6', 's8']);
    const tracker = new PersonTracker({ aspect: 4 / 3 });
    const r = run(tracker, scene, 60);
    assert.equal(r.idsBySubject.size, 4);
    for (const [subject, ids] of r.idsBySubject) assert.equal(ids.size, 1, `${subject} got ids ${[...ids]}`);
    for (const [id, subjects] of r.subjectsById)
      assert.equal(subjects.size, 1, `track ${id} covered ${[...subjects]}`);
    assert.equal(r.events.born.length, 4);
    assert.equal(r.events.expired.length, 0);
  });

  test('a person hidden for 1 s keeps their id (lost → refound); hidden for 4 s they expire and come back with a new id', () => {
    const scene = composeScene(rec, ['s2', 's4', 's6']);
    const short = run(new PersonTracker({ aspect: 4 / 3, maxLostS: 2 }), scene, 12, {
      visible: (s, t) => !(s === 's4' && t >= 5 && t < 6),
    });
    assert.equal(short.idsBySubject.get('s4')?.size, 1);
    assert.equal(short.events.lost.length, 1);
    assert.equal(short.events.refound.length, 1);
    assert.equal(short.events.expired.length, 0);

    const long = run(new PersonTracker({ aspect: 4 / 3, maxLostS: 2 }), scene, 12, {
      visible: (s, t) => !(s === 's4' && t >= 5 && t < 9),
    });
    assert.equal(long.idsBySubject.get('s4')?.size, 2, 'a new id after expiry');
    assert.deepEqual(long.events.expired.length, 1);
    assert.equal(long.idsBySubject.get('s2')?.size, 1);
    assert.equal(long.idsBySubject.get('s6')?.size, 1);
  });

  test('two people walking past each other swap places, not ids', () => {
    const s2 = rec.streams.find((s) => s.modality === 'pose' && s.subjectId === 's2')!.data;
    const s8 = rec.streams.find((s) => s.modality === 'pose' && s.subjectId === 's8')!.data;
    // Slide each pose across the image in 4 s, in opposite directions, the second a bit lower (further away).
    const slide = (data: typeof s2, from: number, to: number, dy: number) => {
      const out = place(data, 0, 0.35, dy);
      const v = out.values as Float32Array;
      for (let i = 0; i < out.tNs.length; i++) {
        const tS = (out.tNs[i] ?? 0) / 1e9;
        const x = from + (to - from) * Math.min(1, Math.max(0, (tS - 1) / 4));
        for (let k = 0; k < 17; k++) v[i * 51 + k * 3] = v[i * 51 + k * 3]! + x;
      }
      return out;
    };
    const scene: SceneSubject[] = [
      { subject: 's2', pose: slide(s2, 0.15, 0.85, 0), imu: s2, imuDevice: 'x' },
      { subject: 's8', pose: slide(s8, 0.85, 0.15, 0.08), imu: s8, imuDevice: 'y' },
    ];
    const r = run(new PersonTracker({ aspect: 4 / 3 }), scene, 6);
    assert.equal(r.idsBySubject.get('s2')?.size, 1, `s2 ids ${[...(r.idsBySubject.get('s2') ?? [])]}`);
    assert.equal(r.idsBySubject.get('s8')?.size, 1, `s8 ids ${[...(r.idsBySubject.get('s8') ?? [])]}`);
  });

  test('a one-frame false detection never becomes a track', () => {
    const scene = composeScene(rec, ['s2']);
    const random = rng(7);
    const ghost = (tS: number): DetectedPerson[] => {
      // A different spurious person every second, for one frame, somewhere else in the image.
      if (Math.abs(tS - Math.round(tS)) > 0.5 / 15) return [];
      const kp = poseAt(place(scene[0]!.pose, 0.2 + 0.6 * random(), 0.4, 0.1), 2e9)!;
      return [detection(kp, random)];
    };
    const r = run(
      new PersonTracker({ aspect: 4 / 3, minHits: 2 }),
      composeScene(rec, ['s2'], { scale: 0.3 }),
      10,
      { extra: ghost },
    );
    assert.deepEqual([...r.idsBySubject.keys()], ['s2']);
    assert.equal(r.events.born.length, 1);
  });
});

test('boxes: from confident keypoints only, padded; IoU', () => {
  const kp = new Float32Array(51);
  kp.set([0.4, 0.2, 0.9], 0);
  kp.set([0.6, 0.8, 0.9], 3);
  kp.set([0.99, 0.99, 0.05], 6); // below score: ignored
  const b = boxOf(kp, 0.2)!;
  assert.ok(
    Math.abs(b[0] - 0.38) < 1e-6 &&
      Math.abs(b[1] - 0.14) < 1e-6 &&
      Math.abs(b[2] - 0.62) < 1e-6 &&
      Math.abs(b[3] - 0.86) < 1e-6,
  );
  assert.equal(boxOf(new Float32Array(51), 0.2), null);
  assert.equal(boxIou([0, 0, 1, 1], [0, 0, 1, 1]), 1);
  assert.equal(boxIou([0, 0, 1, 1], [2, 2, 3, 3]), 0);
  assert.ok(Math.abs(boxIou([0, 0, 2, 1], [1, 0, 3, 1]) - 1 / 3) < 1e-9);
});
