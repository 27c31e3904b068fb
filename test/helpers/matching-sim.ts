import { WearableMatcher, type MatcherOptions } from '../../gateway/sources/camera/matching.ts';
import { lowerBound, type SceneSubject } from './pose-scene.ts';

/*
 * Plays a composed scene into the wearable matcher as the camera source would: pose frames
 * of each visible person as camera tracks (delayed by the camera's latency), wrist IMU
 * chunks of each wearer every 100 ms, evaluation on the matcher's own hop. Records, per
 * hop, which subject each track was given, against the truth.
 */

export interface SimOptions {
  readonly startS: number;
  readonly durationS: number;
  /** Camera frames arrive this much later than the IMU samples of the same instant, s. */
  readonly cameraLatencyS?: number;
  /** Subjects in view whose wearables the gateway does not know (distractors). */
  readonly withoutWearable?: readonly string[];
  /** Subjects whose wearable is connected but who are not in view. */
  readonly outOfView?: readonly string[];
  readonly aspect?: number;
}

export interface SimResult {
  /** s from the scene start until every visible wearer's track had its right subject (and kept it to the end), or null. */
  readonly timeToLockS: number | null;
  /** per wearer in view: s until their track first got their subject, or null. */
  readonly perTrackLockS: Record<string, number | null>;
  /** (track, hop) pairs scored. */
  readonly slots: number;
  readonly correct: number;
  readonly wrong: number;
  readonly unassigned: number;
  /** After lock (or over everything when it never locked): slots right / assigned. */
  readonly correctAfterLock: number;
  readonly slotsAfterLock: number;
  readonly changes: number;
}

const TRACK = (subject: string) => `cam1/${subject}`;

export function simulateMatching(
  scene: SceneSubject[],
  matcherOptions: MatcherOptions,
  sim: SimOptions,
): SimResult {
  const m = new WearableMatcher(matcherOptions);
  const latencyNs = (sim.cameraLatencyS ?? 0.1) * 1e9;
  const t0 = sim.startS * 1e9;
  const t1 = t0 + sim.durationS * 1e9;
  const inView = scene.filter((s) => !sim.outOfView?.includes(s.subject));
  const wearers = scene.filter((s) => !sim.withoutWearable?.includes(s.subject));
  const poseIdx = new Map(inView.map((s) => [s.subject, lowerBound(s.pose.tNs, t0)]));
  const imuIdx = new Map(wearers.map((s) => [s.subject, lowerBound(s.imu.tNs, t0)]));
  const history: { tNs: number; assigned: Map<string, string> }[] = [];
  let changes = 0;
  const stepNs = 1e9 / 30;
  for (let now = t0; now <= t1; now += stepNs) {
    for (const s of wearers) {
      let i = imuIdx.get(s.subject)!;
      const from = i;
      while (i < s.imu.tNs.length && s.imu.tNs[i]! <= now) i++;
      // IMU chunks arrive every ~100 ms, like BLE notifications batched by the source.
      if (i - from >= 5 || (i > from && now - s.imu.tNs[from]! > 100e6)) {
        m.addImu(
          s.imuDevice,
          s.subject,
          'wrist',
          s.imu.tNs.subarray(from, i),
          s.imu.values.subarray(from * 6, i * 6),
        );
        imuIdx.set(s.subject, i);
      }
    }
    for (const s of inView) {
      let i = poseIdx.get(s.subject)!;
      while (i < s.pose.tNs.length && s.pose.tNs[i]! + latencyNs <= now) {
        m.addPose(
          TRACK(s.subject),
          s.pose.tNs[i]! + latencyNs,
          s.pose.values.subarray(i * 51, (i + 1) * 51),
          sim.aspect ?? 4 / 3,
        );
        i++;
      }
      poseIdx.set(s.subject, i);
    }
    const u = m.maybeEvaluate(now);
    if (u) {
      changes += u.changes.length;
      history.push({ tNs: now, assigned: new Map(u.assignments) });
    }
  }
  const scored = inView;
  let correct = 0;
  let wrong = 0;
  let unassigned = 0;
  const truth = (s: string) => (sim.withoutWearable?.includes(s) ? null : s);
  for (const h of history)
    for (const s of scored) {
      const got = h.assigned.get(TRACK(s.subject));
      if (got === undefined) {
        if (truth(s.subject) === null) correct++;
        else unassigned++;
      } else if (got === truth(s.subject)) correct++;
      else wrong++;
    }
  const allRight = (h: { assigned: Map<string, string> }) =>
    scored.every((s) => (h.assigned.get(TRACK(s.subject)) ?? null) === truth(s.subject));
  let lockIdx = -1;
  for (let i = history.length - 1; i >= 0; i--) {
    if (!allRight(history[i]!)) break;
    lockIdx = i;
  }
  const perTrackLockS: Record<string, number | null> = {};
  for (const s of scored) {
    if (truth(s.subject) === null) continue;
    const h = history.find((x) => x.assigned.get(TRACK(s.subject)) === s.subject);
    perTrackLockS[s.subject] = h ? (h.tNs - t0) / 1e9 : null;
  }
  const after = lockIdx >= 0 ? history.slice(lockIdx) : history;
  let afterCorrect = 0;
  let afterAssigned = 0;
  for (const h of after)
    for (const s of scored) {
      const got = h.assigned.get(TRACK(s.subject));
      if (got === undefined) continue;
      afterAssigned++;
      if (got === truth(s.subject)) afterCorrect++;
    }
  return {
    timeToLockS: lockIdx >= 0 ? (history[lockIdx]!.tNs - t0) / 1e9 : null,
    perTrackLockS,
    slots: history.length * scored.length,
    correct,
    wrong,
    unassigned,
    correctAfterLock: afterCorrect,
    slotsAfterLock: afterAssigned,
    changes,
  };
}
