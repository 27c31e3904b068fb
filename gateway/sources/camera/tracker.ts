import { POSE_KEYPOINTS, POSE_VALUES_PER_FRAME } from '../../domain/samples.ts';
import type { TimeNs } from '../../domain/time.ts';
import { assignMinCost } from './assignment.ts';
import type { DetectedPerson } from './types.ts';

/*
 * Stable person ids across frames for one camera. Each frame's detections are matched to
 * the tracks' predicted poses by optimal assignment over a pose + box dissimilarity; a
 * track must be seen `minHits` times before it counts (one-frame false positives never
 * reach the pipeline), survives `maxLostS` unseen (a person occluded for a moment keeps
 * their id, and so their subject), and then expires.
 */

export type Box = readonly [number, number, number, number];

export interface TrackerOptions {
  /** Image width / height: distances are measured in a square space, not stretched by the aspect. */
  readonly aspect?: number;
  /** Pairs less similar than 1 − maxCost are never matched. */
  readonly maxCost?: number;
  readonly minHits?: number;
  readonly maxLostS?: number;
  /** Keypoints below this score are ignored for matching and boxes. */
  readonly minKeypointScore?: number;
  /** Weight of the keypoint similarity vs the box overlap. */
  readonly keypointWeight?: number;
}

export type TrackState = 'tentative' | 'confirmed' | 'lost';

export interface TrackedPerson {
  readonly trackId: number;
  readonly keypoints: Float32Array;
  readonly box: Box;
  readonly score: number;
}

export interface TrackerUpdate {
  /** Confirmed tracks seen in this frame (what becomes pose samples). */
  readonly active: TrackedPerson[];
  /** Tracks confirmed in this frame. */
  readonly born: number[];
  /** Confirmed tracks not seen in this frame for the first time. */
  readonly lost: number[];
  /** Lost tracks seen again. */
  readonly refound: number[];
  /** Lost tracks dropped for good (unseen for maxLostS). */
  readonly expired: number[];
}

interface Track {
  id: number;
  state: TrackState;
  hits: number;
  keypoints: Float32Array;
  box: [number, number, number, number];
  /** Box-centre velocity, normalised units per second (x, y). */
  vx: number;
  vy: number;
  lastSeenNs: TimeNs;
  score: number;
}

const DEFAULTS = {
  aspect: 1,
  maxCost: 0.75,
  minHits: 2,
  maxLostS: 2,
  minKeypointScore: 0.2,
  keypointWeight: 0.6,
};
/** OKS-like falloff: a keypoint off by this fraction of the person's scale scores e^-0.5. */
const KEYPOINT_SIGMA = 0.25;
/** Velocity smoothing: detections jitter frame to frame, people do not. */
const VELOCITY_ALPHA = 0.5;

export class PersonTracker {
  private readonly o: typeof DEFAULTS;
  private tracks: Track[] = [];
  private nextId = 1;

  constructor(options: TrackerOptions = {}) {
    this.o = { ...DEFAULTS, ...definedOnly(options) };
  }

  /** Ids and states of every track held (tests, diagnostics). */
  snapshot(): { id: number; state: TrackState; hits: number }[] {
    return this.tracks.map((t) => ({ id: t.id, state: t.state, hits: t.hits }));
  }

  update(detections: readonly DetectedPerson[], tNs: TimeNs): TrackerUpdate {
    const dets = detections.map((d) => ({
      det: d,
      box: d.box
        ? ([...d.box] as [number, number, number, number])
        : boxOf(d.keypoints, this.o.minKeypointScore),
    }));
    const usable = dets.filter(
      (d): d is { det: DetectedPerson; box: [number, number, number, number] } => d.box !== null,
    );
    const out: TrackerUpdate = { active: [], born: [], lost: [], refound: [], expired: [] };
    // Tracks unseen too long expire before matching: after a camera outage the people seen
    // again are new tracks (to be assigned afresh), not stale ones re-found by position.
    this.tracks = this.tracks.filter((t) => {
      if ((tNs - t.lastSeenNs) / 1e9 <= this.o.maxLostS) return true;
      if (t.state !== 'tentative') out.expired.push(t.id);
      return false;
    });
    const predicted = this.tracks.map((t) => this.predict(t, tNs));
    const cost = predicted.map((p) =>
      usable.map((d) => 1 - this.similarity(p.keypoints, p.box, d.det.keypoints, d.box)),
    );
    const pairs = assignMinCost(cost, this.o.maxCost);

    const matchedTrack = new Set<number>();
    const matchedDet = new Set<number>();
    for (const [ti, di] of pairs) {
      const t = this.tracks[ti]!;
      const d = usable[di]!;
      matchedTrack.add(ti);
      matchedDet.add(di);
      const dtS = (tNs - t.lastSeenNs) / 1e9;
      if (dtS > 0) {
        const [cx0, cy0] = centre(t.box);
        const [cx1, cy1] = centre(d.box);
        t.vx = VELOCITY_ALPHA * ((cx1 - cx0) / dtS) + (1 - VELOCITY_ALPHA) * t.vx;
        t.vy = VELOCITY_ALPHA * ((cy1 - cy0) / dtS) + (1 - VELOCITY_ALPHA) * t.vy;
      }
      t.keypoints = d.det.keypoints;
      t.box = d.box;
      t.score = d.det.score;
      t.lastSeenNs = tNs;
      t.hits++;
      if (t.state === 'lost') {
        t.state = 'confirmed';
        out.refound.push(t.id);
      } else if (t.state === 'tentative' && t.hits >= this.o.minHits) {
        t.state = 'confirmed';
        out.born.push(t.id);
      }
    }
    const kept: Track[] = [];
    this.tracks.forEach((t, i) => {
      if (matchedTrack.has(i)) {
        kept.push(t);
        return;
      }
      if (t.state === 'tentative') return; // an unconfirmed one-off: forget silently
      if ((tNs - t.lastSeenNs) / 1e9 > this.o.maxLostS) {
        out.expired.push(t.id);
        return;
      }
      if (t.state === 'confirmed') {
        t.state = 'lost';
        out.lost.push(t.id);
      }
      kept.push(t);
    });
    usable.forEach((d, i) => {
      if (matchedDet.has(i)) return;
      const t: Track = {
        id: this.nextId++,
        state: 'tentative',
        hits: 1,
        keypoints: d.det.keypoints,
        box: d.box,
        vx: 0,
        vy: 0,
        lastSeenNs: tNs,
        score: d.det.score,
      };
      if (this.o.minHits <= 1) {
        t.state = 'confirmed';
        out.born.push(t.id);
      }
      kept.push(t);
    });
    this.tracks = kept;
    for (const t of kept)
      if (t.state === 'confirmed' && t.lastSeenNs === tNs)
        out.active.push({ trackId: t.id, keypoints: t.keypoints, box: t.box, score: t.score });
    out.active.sort((a, b) => a.trackId - b.trackId);
    return out;
  }

  /** Where the track's person should be at `tNs` if they kept moving as before. */
  private predict(t: Track, tNs: TimeNs): { keypoints: Float32Array; box: Box } {
    const dtS = Math.min(this.o.maxLostS, Math.max(0, (tNs - t.lastSeenNs) / 1e9));
    const dx = t.vx * dtS;
    const dy = t.vy * dtS;
    if (dx === 0 && dy === 0) return t;
    const kp = new Float32Array(t.keypoints);
    for (let k = 0; k < POSE_KEYPOINTS; k++) {
      kp[k * 3] = kp[k * 3]! + dx;
      kp[k * 3 + 1] = kp[k * 3 + 1]! + dy;
    }
    return { keypoints: kp, box: [t.box[0] + dx, t.box[1] + dy, t.box[2] + dx, t.box[3] + dy] };
  }

  /** 0..1: a weighted mix of OKS-like keypoint agreement and box IoU. */
  private similarity(kpA: Float32Array, boxA: Box, kpB: Float32Array, boxB: Box): number {
    const iou = boxIou(boxA, boxB);
    const ax = this.o.aspect;
    const scale = Math.max(0.02, Math.sqrt(Math.max(0, (boxA[2] - boxA[0]) * ax * (boxA[3] - boxA[1]))));
    let sum = 0;
    let n = 0;
    for (let k = 0; k < POSE_KEYPOINTS; k++) {
      if ((kpA[k * 3 + 2] ?? 0) < this.o.minKeypointScore || (kpB[k * 3 + 2] ?? 0) < this.o.minKeypointScore)
        continue;
      const dx = ((kpA[k * 3] ?? 0) - (kpB[k * 3] ?? 0)) * ax;
      const dy = (kpA[k * 3 + 1] ?? 0) - (kpB[k * 3 + 1] ?? 0);
      const d2 = (dx * dx + dy * dy) / (scale * scale);
      sum += Math.exp(-d2 / (2 * KEYPOINT_SIGMA * KEYPOINT_SIGMA));
      n++;
    }
    // With too few shared keypoints the pose term is noise; trust the boxes.
    if (n < 3) return iou;
    const w = this.o.keypointWeight;
    return w * (sum / n) + (1 - w) * iou;
  }
}

/** The box around a pose's confident keypoints, padded 10 % (MoveNet single-pose has no box). */
export function boxOf(kp: Float32Array, minScore: number): [number, number, number, number] | null {
  if (kp.length < POSE_VALUES_PER_FRAME) return null;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  let n = 0;
  for (let k = 0; k < POSE_KEYPOINTS; k++) {
    if ((kp[k * 3 + 2] ?? 0) < minScore) continue;
    const x = kp[k * 3]!;
    const y = kp[k * 3 + 1]!;
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
    n++;
  }
  if (n < 2) return null;
  const px = Math.max(0.01, (x1 - x0) * 0.1);
  const py = Math.max(0.01, (y1 - y0) * 0.1);
  return [x0 - px, y0 - py, x1 + px, y1 + py];
}

export function boxIou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

function centre(b: Box): [number, number] {
  return [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
