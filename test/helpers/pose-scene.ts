import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { POSE_KEYPOINTS, POSE_VALUES_PER_FRAME } from '../../gateway/domain/samples.ts';
import { loadRecording, type Recording, type StreamData } from '../../gateway/sources/replay/index.ts';
import type { DetectedPerson } from '../../gateway/sources/camera/types.ts';

/*
 * Multi-person camera scenes composed from the demo recording (UTD-MHAD test subjects 2, 4,
 * 6, 8: real Kinect skeletons projected to COCO-17, and the real wrist IMU of the same
 * takes). Every subject stands at the image centre in the recording; a scene shrinks each
 * one and places them side by side, as a wide camera would see several people at once.
 * Used by the tracker and matching tests and by bench/matching.
 */

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEMO_RECORDING = join(REPO_ROOT, 'recordings', 'demo');

export interface SceneSubject {
  readonly subject: string;
  /** Pose on the recording's time base, already placed in the scene. */
  readonly pose: StreamData;
  /** The wrist IMU of the same takes, recording time base. */
  readonly imu: StreamData;
  readonly imuDevice: string;
}

export async function loadDemo(): Promise<Recording> {
  return loadRecording(DEMO_RECORDING);
}

/** Subjects of the demo recording, each with its pose moved to slot `i` of `slots` across the image. */
export function composeScene(
  rec: Recording,
  subjects: readonly string[],
  options: { scale?: number } = {},
): SceneSubject[] {
  const scale = options.scale ?? 0.9 / Math.max(1, subjects.length);
  return subjects.map((subject, i) => {
    const pose = rec.streams.find((s) => s.modality === 'pose' && s.subjectId === subject);
    const imu = rec.streams.find((s) => s.modality === 'imu' && s.subjectId === subject);
    if (!pose || !imu) throw new Error(`demo recording has no pose+imu for ${subject}`);
    const cx = (i + 0.5) / subjects.length;
    return { subject, pose: place(pose.data, cx, scale), imu: imu.data, imuDevice: imu.sourceId };
  });
}

/** Shrinks a pose stream about (0.5, 0.5) by `scale` and moves its centre to x = cx. */
export function place(data: StreamData, cx: number, scale: number, dy = 0): StreamData {
  const values = new Float32Array(data.values.length);
  for (let i = 0; i < values.length; i += 3) {
    values[i] = ((data.values[i] ?? 0) - 0.5) * scale + cx;
    values[i + 1] = ((data.values[i + 1] ?? 0) - 0.5) * scale + 0.5 + dy;
    values[i + 2] = data.values[i + 2] ?? 0;
  }
  return { tNs: data.tNs, values };
}

/** Index of the first element of ascending `a` that is ≥ `v` (a.length when none). */
export function lowerBound(a: Float64Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The pose of a stream at `tNs` (nearest sample within `maxGapNs`), or null. */
export function poseAt(data: StreamData, tNs: number, maxGapNs = 100e6): Float32Array | null {
  const t = data.tNs;
  if (t.length === 0) return null;
  // The last sample stands in when every sample is before tNs.
  const lo = Math.min(lowerBound(t, tNs), t.length - 1);
  let best = lo;
  if (lo > 0 && Math.abs((t[lo - 1] ?? 0) - tNs) < Math.abs((t[lo] ?? 0) - tNs)) best = lo - 1;
  if (Math.abs((t[best] ?? 0) - tNs) > maxGapNs) return null;
  return data.values.slice(best * POSE_VALUES_PER_FRAME, (best + 1) * POSE_VALUES_PER_FRAME);
}

export { prng as rng } from './prng.ts';

/** A detection as the estimator would report it: keypoints with a little jitter, no box. */
export function detection(kp: Float32Array, random: () => number, jitter = 0.003): DetectedPerson {
  const out = new Float32Array(kp);
  let score = 0;
  for (let k = 0; k < POSE_KEYPOINTS; k++) {
    out[k * 3] = out[k * 3]! + (random() - 0.5) * 2 * jitter;
    out[k * 3 + 1] = out[k * 3 + 1]! + (random() - 0.5) * 2 * jitter;
    score += out[k * 3 + 2]!;
  }
  return { keypoints: out, score: score / POSE_KEYPOINTS };
}

export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
