import { POSE_KEYPOINTS } from '../../domain/samples.ts';
import type { Placement } from '../../domain/samples.ts';
import type { TimeNs } from '../../domain/time.ts';
import { assignMinCost } from './assignment.ts';

/*
 * Long file: one algorithm whose steps (envelopes, lagged correlation, assignment with
 *   hysteresis) share the per-pair ring buffers; pearson() is exported for its own tests.
 *
 * Automatic wearable ↔ camera-track matching. A person's wrist moves when their wrist IMU
 * feels acceleration, and no one else's does at the same instants. So for every subject
 * (owner of one or more wearables) and every camera track we correlate, over a sliding
 * window, the envelope of the wearable's dynamic acceleration (|a| after a high-pass that
 * removes gravity) with the envelope of the matching keypoint's image motion (speed or
 * acceleration magnitude), maximised over a small clock lag and over left/right. The
 * subject × track correlation matrix is then solved as an optimal assignment, held pairs
 * getting a bonus (`switchMargin`) so the assignment does not flicker, and a new pairing
 * is used only after it has won for `lockS` (`switchS` to displace a held one).
 */

export interface MatcherOptions {
  readonly windowS: number;
  readonly hopS: number;
  readonly minCorrelation: number;
  readonly minMargin: number;
  readonly lockS: number;
  readonly switchMargin: number;
  readonly switchS: number;
  readonly releaseS: number;
  readonly maxLagS: number;
  /** Width of the common time grid both signals are binned onto, s. */
  readonly binS?: number;
  /** Keypoint motion feature: image speed or acceleration magnitude. */
  readonly poseFeature?: 'speed' | 'acceleration';
  /** High-pass time constant removing gravity (and slow posture change) from the IMU, s. */
  readonly imuHighPassS?: number;
  /** Data newer than this is not evaluated yet (BLE and camera deliver with some latency), s. */
  readonly settleS?: number;
}

export interface MatchChange {
  readonly kind: 'locked' | 'switched' | 'released';
  readonly subject: string;
  readonly track: string;
  readonly correlation: number;
}

export interface MatchUpdate {
  readonly changes: MatchChange[];
  /** track key → subject, after this evaluation. */
  readonly assignments: ReadonlyMap<string, string>;
}

/** Which keypoints (COCO-17 indices, one per body side) move with a sensor worn there. */
export const KEYPOINTS_FOR_PLACEMENT: Record<Placement, readonly number[]> = {
  wrist: [9, 10],
  unknown: [9, 10],
  upper_arm: [7, 8],
  ankle: [15, 16],
  thigh: [13, 14],
  waist: [11, 12],
  pocket: [11, 12],
  chest: [5, 6],
};

const MIN_KEYPOINT_SCORE = 0.2;
/** Below these spreads a signal is flat (person still, sensor resting): its correlation means nothing. */
const MIN_IMU_STD = 0.05; // m/s²
const MIN_POSE_STD = 1e-4; // normalised units per s (or s²) — far below keypoint jitter
/** Missing pose bins bridged by interpolation; longer gaps stay missing. */
const MAX_FILL_BINS = 3;

/** Per-bin sums over a ring of bins: cheap sliding windows of irregular samples. */
class BinRing {
  readonly sum: Float64Array;
  readonly count: Float64Array;
  readonly bin: Float64Array;
  constructor(
    readonly capacity: number,
    readonly channels: number,
  ) {
    this.sum = new Float64Array(capacity * channels);
    this.count = new Float64Array(capacity * channels);
    this.bin = new Float64Array(capacity).fill(-1);
  }
  add(k: number, channel: number, value: number): void {
    const slot = ((k % this.capacity) + this.capacity) % this.capacity;
    if (this.bin[slot] !== k) {
      this.bin[slot] = k;
      this.sum.fill(0, slot * this.channels, (slot + 1) * this.channels);
      this.count.fill(0, slot * this.channels, (slot + 1) * this.channels);
    }
    this.sum[slot * this.channels + channel]! += value;
    this.count[slot * this.channels + channel]! += 1;
  }
  mean(k: number, channel: number): number {
    const slot = ((k % this.capacity) + this.capacity) % this.capacity;
    if (this.bin[slot] !== k) return NaN;
    const c = this.count[slot * this.channels + channel]!;
    return c > 0 ? this.sum[slot * this.channels + channel]! / c : NaN;
  }
}

interface ImuState {
  readonly subject: string;
  readonly placement: Placement;
  readonly ring: BinRing;
  lpT: number;
  lp: [number, number, number];
  lastK: number;
}

interface TrackState {
  /** x, y per keypoint used by any placement (channels: 2 per keypoint index). */
  readonly ring: BinRing;
  lastK: number;
  firstK: number;
}

interface Pairing {
  track: string;
  correlation: number;
  lowSinceNs: number | null;
}

interface Candidate {
  track: string;
  sinceNs: TimeNs;
}

export class WearableMatcher {
  private readonly o: Required<MatcherOptions>;
  private readonly binNs: number;
  private readonly capacity: number;
  private readonly imus = new Map<string, ImuState>();
  private readonly tracks = new Map<string, TrackState>();
  private readonly held = new Map<string, Pairing>(); // subject → pairing
  private readonly candidates = new Map<string, Candidate>(); // subject → proposed track
  private lastEvalNs = -Infinity;
  private lastMatrix: { subjects: string[]; tracks: string[]; correlation: number[][] } = {
    subjects: [],
    tracks: [],
    correlation: [],
  };

  constructor(options: MatcherOptions) {
    this.o = { binS: 0.1, poseFeature: 'speed', imuHighPassS: 0.5, settleS: 0.5, ...options };
    this.binNs = this.o.binS * 1e9;
    this.capacity = Math.ceil((this.o.windowS + 2 * this.o.maxLagS + this.o.settleS + 2) / this.o.binS) + 4;
  }

  /** IMU samples of one device (6 values per sample: ax, ay, az [m/s²], gx, gy, gz), gateway clock. */
  addImu(
    deviceId: string,
    subject: string | undefined,
    placement: Placement | undefined,
    tNs: Float64Array,
    values: Float32Array,
  ): void {
    if (!subject) return; // a wearable nobody wears cannot name a track
    let s = this.imus.get(deviceId);
    if (!s || s.subject !== subject || s.placement !== (placement ?? 'unknown')) {
      s = {
        subject,
        placement: placement ?? 'unknown',
        ring: new BinRing(this.capacity, 1),
        lpT: NaN,
        lp: [0, 0, 0],
        lastK: -Infinity,
      };
      this.imus.set(deviceId, s);
    }
    const tau = this.o.imuHighPassS;
    for (let i = 0; i < tNs.length; i++) {
      const t = tNs[i]!;
      const ax = values[i * 6]!;
      const ay = values[i * 6 + 1]!;
      const az = values[i * 6 + 2]!;
      if (Number.isNaN(s.lpT) || t - s.lpT > 1e9) {
        // First sample, or after a gap: restart the low-pass at the current value (no step).
        s.lp = [ax, ay, az];
      } else if (t > s.lpT) {
        const alpha = 1 - Math.exp(-(t - s.lpT) / 1e9 / tau);
        s.lp[0] += alpha * (ax - s.lp[0]);
        s.lp[1] += alpha * (ay - s.lp[1]);
        s.lp[2] += alpha * (az - s.lp[2]);
      } else continue;
      s.lpT = t;
      const dyn = Math.hypot(ax - s.lp[0], ay - s.lp[1], az - s.lp[2]);
      const k = Math.floor(t / this.binNs);
      s.ring.add(k, 0, dyn);
      s.lastK = Math.max(s.lastK, k);
    }
  }

  /** Removes a device (unpaired wearables stop counting at once). */
  removeImu(deviceId: string): void {
    this.imus.delete(deviceId);
  }

  /**
   * One pose frame of a track. `aspect` = image width / height, so motion is measured in
   * square units (a horizontal and a vertical swing of the same size count the same).
   */
  addPose(track: string, tNs: TimeNs, keypoints: Float32Array, aspect = 1): void {
    let s = this.tracks.get(track);
    const k = Math.floor(tNs / this.binNs);
    if (!s) {
      s = { ring: new BinRing(this.capacity, POSE_KEYPOINTS * 2), lastK: k, firstK: k };
      this.tracks.set(track, s);
    }
    for (let kp = 0; kp < POSE_KEYPOINTS; kp++) {
      if ((keypoints[kp * 3 + 2] ?? 0) < MIN_KEYPOINT_SCORE) continue;
      s.ring.add(k, kp * 2, keypoints[kp * 3]! * aspect);
      s.ring.add(k, kp * 2 + 1, keypoints[kp * 3 + 1]!);
    }
    s.lastK = Math.max(s.lastK, k);
  }

  /** A track that expired: its pairing (if any) ends now. */
  removeTrack(track: string): MatchChange[] {
    this.tracks.delete(track);
    const changes: MatchChange[] = [];
    for (const [subject, p] of this.held)
      if (p.track === track) {
        this.held.delete(subject);
        changes.push({ kind: 'released', subject, track, correlation: p.correlation });
      }
    for (const [subject, c] of this.candidates) if (c.track === track) this.candidates.delete(subject);
    return changes;
  }

  /** Subject currently paired with `track`, if any. */
  subjectOf(track: string): string | undefined {
    for (const [subject, p] of this.held) if (p.track === track) return subject;
    return undefined;
  }

  assignments(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [subject, p] of this.held) out.set(p.track, subject);
    return out;
  }

  /** The last correlation matrix (diagnostics, /api, the benchmark). */
  matrix(): { subjects: string[]; tracks: string[]; correlation: number[][] } {
    return this.lastMatrix;
  }

  /** Re-evaluates the pairing if a hop has passed since the last evaluation. */
  maybeEvaluate(nowNs: TimeNs): MatchUpdate | null {
    if (nowNs - this.lastEvalNs < this.o.hopS * 1e9) return null;
    return this.evaluate(nowNs);
  }

  evaluate(nowNs: TimeNs): MatchUpdate {
    this.lastEvalNs = nowNs;
    const kEnd = Math.floor((nowNs - this.o.settleS * 1e9) / this.binNs);
    const n = Math.round(this.o.windowS / this.o.binS);
    const kStart = kEnd - n + 1;
    const lag = Math.round(this.o.maxLagS / this.o.binS);
    this.forgetStale(kEnd);

    // Subject signals: one per device (a subject may wear several).
    const subjects = [...new Set([...this.imus.values()].map((s) => s.subject))].sort();
    const imuSignals = new Map<string, { placement: Placement; signal: Float64Array }[]>();
    for (const s of this.imus.values()) {
      const signal = new Float64Array(n + 2 * lag);
      for (let i = 0; i < signal.length; i++) signal[i] = s.ring.mean(kStart - lag + i, 0);
      if (!(std(signal) >= MIN_IMU_STD)) continue;
      const list = imuSignals.get(s.subject) ?? [];
      list.push({ placement: s.placement, signal: smooth3(signal) });
      imuSignals.set(s.subject, list);
    }
    const trackKeys = [...this.tracks.keys()].filter((t) => {
      const s = this.tracks.get(t)!;
      // At least half a window seen: shorter overlaps give confident-looking noise.
      return kEnd - s.firstK >= n / 2 && s.lastK >= kEnd - n / 2;
    });
    trackKeys.sort();
    const featureCache = new Map<string, Float64Array | null>();
    const feature = (track: string, kp: number): Float64Array | null => {
      const key = `${track}#${kp}`;
      if (!featureCache.has(key))
        featureCache.set(key, this.poseFeature(this.tracks.get(track)!, kp, kStart, n));
      return featureCache.get(key)!;
    };
    const corr: number[][] = subjects.map((subject) =>
      trackKeys.map((track) => {
        let best = NaN;
        for (const dev of imuSignals.get(subject) ?? [])
          for (const kp of KEYPOINTS_FOR_PLACEMENT[dev.placement]) {
            const f = feature(track, kp);
            if (!f) continue;
            // Pose bin i ↔ IMU bin i + d: the camera may run up to maxLagS behind or ahead.
            for (let d = -lag; d <= lag; d++) {
              const r = pearson(f, lag, dev.signal, lag + d, n);
              if (Number.isFinite(r) && !(r <= best)) best = r;
            }
          }
        return best;
      }),
    );
    this.lastMatrix = { subjects, tracks: trackKeys, correlation: corr };
    return { changes: this.decide(nowNs, subjects, trackKeys, corr), assignments: this.assignments() };
  }

  private decide(nowNs: TimeNs, subjects: string[], tracks: string[], corr: number[][]): MatchChange[] {
    const changes: MatchChange[] = [];
    const at = (si: number, ti: number) => corr[si]?.[ti] ?? NaN;
    // Held pairs whose track vanished from the evaluation (left the view) stay held until
    // the track expires (removeTrack); pairs that stay uncorrelated are released.
    for (const [subject, p] of this.held) {
      const si = subjects.indexOf(subject);
      const ti = tracks.indexOf(p.track);
      if (si < 0 || ti < 0) continue;
      const r = at(si, ti);
      if (Number.isNaN(r)) continue; // still person or resting sensor: no evidence either way
      p.correlation = r;
      if (r >= this.o.minCorrelation) p.lowSinceNs = null;
      else if (p.lowSinceNs === null) p.lowSinceNs = nowNs;
      else if (nowNs - p.lowSinceNs >= this.o.releaseS * 1e9) {
        this.held.delete(subject);
        changes.push({ kind: 'released', subject, track: p.track, correlation: r });
      }
    }
    // Optimal assignment on correlation, held pairs favoured by switchMargin.
    const cost = subjects.map((subject, si) =>
      tracks.map((track, ti) => {
        const r = at(si, ti);
        if (Number.isNaN(r) || r < this.o.minCorrelation) return Infinity;
        return -(r + (this.held.get(subject)?.track === track ? this.o.switchMargin : 0));
      }),
    );
    const proposal = new Map<string, { track: string; r: number; margin: number }>();
    for (const [si, ti] of assignMinCost(cost, 0)) {
      const subject = subjects[si]!;
      const track = tracks[ti]!;
      const r = at(si, ti);
      let runnerUp = -Infinity;
      for (let j = 0; j < tracks.length; j++)
        if (j !== ti && !Number.isNaN(at(si, j))) runnerUp = Math.max(runnerUp, at(si, j));
      for (let i = 0; i < subjects.length; i++)
        if (i !== si && !Number.isNaN(at(i, ti))) runnerUp = Math.max(runnerUp, at(i, ti));
      proposal.set(subject, { track, r, margin: r - runnerUp });
    }
    for (const subject of subjects) {
      const p = proposal.get(subject);
      const held = this.held.get(subject);
      if (!p || held?.track === p.track) {
        this.candidates.delete(subject);
        continue;
      }
      if (!held && p.margin < this.o.minMargin) {
        this.candidates.delete(subject);
        continue;
      }
      const c = this.candidates.get(subject);
      if (!c || c.track !== p.track) {
        this.candidates.set(subject, { track: p.track, sinceNs: nowNs });
      }
      const since = this.candidates.get(subject)!.sinceNs;
      if (nowNs - since < (held ? this.o.switchS : this.o.lockS) * 1e9) continue;
      // Take the track, releasing whoever held it.
      for (const [other, q] of this.held)
        if (other !== subject && q.track === p.track) {
          this.held.delete(other);
          changes.push({ kind: 'released', subject: other, track: q.track, correlation: q.correlation });
        }
      this.held.set(subject, { track: p.track, correlation: p.r, lowSinceNs: null });
      this.candidates.delete(subject);
      changes.push({ kind: held ? 'switched' : 'locked', subject, track: p.track, correlation: p.r });
    }
    return changes;
  }

  /** Motion envelope of one keypoint of a track over bins [kStart − lag, kStart + n + lag). */
  private poseFeature(s: TrackState, kp: number, kStart: number, n: number): Float64Array | null {
    const lag = Math.round(this.o.maxLagS / this.o.binS);
    // One extra bin each side for the central differences.
    const len = n + 2 * lag + 2;
    const k0 = kStart - lag - 1;
    const x = new Float64Array(len);
    const y = new Float64Array(len);
    for (let i = 0; i < len; i++) {
      x[i] = s.ring.mean(k0 + i, kp * 2);
      y[i] = s.ring.mean(k0 + i, kp * 2 + 1);
    }
    fillGaps(x, MAX_FILL_BINS);
    fillGaps(y, MAX_FILL_BINS);
    const out = new Float64Array(n + 2 * lag);
    const h = this.o.binS;
    for (let i = 1; i < len - 1; i++) {
      let v: number;
      if (this.o.poseFeature === 'acceleration')
        v = Math.hypot(x[i + 1]! - 2 * x[i]! + x[i - 1]!, y[i + 1]! - 2 * y[i]! + y[i - 1]!) / (h * h);
      else v = Math.hypot(x[i + 1]! - x[i - 1]!, y[i + 1]! - y[i - 1]!) / (2 * h);
      out[i - 1] = v;
    }
    if (!(std(out) >= MIN_POSE_STD)) return null;
    return smooth3(out);
  }

  private forgetStale(kEnd: number): void {
    const horizon = kEnd - Math.round((this.o.windowS + this.o.maxLagS * 2) / this.o.binS);
    for (const [id, s] of this.imus) if (s.lastK < horizon) this.imus.delete(id);
    for (const [id, s] of this.tracks) if (s.lastK < horizon) this.tracks.delete(id);
  }
}

/** Pearson correlation of a[aStart, aStart + n) with b[bStart, bStart + n), over bins where both are finite. */
export function pearson(a: Float64Array, aStart: number, b: Float64Array, bStart: number, n: number): number {
  let m = 0;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[aStart + i]!;
    const y = b[bStart + i]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    m++;
    sa += x;
    sb += y;
  }
  // Fewer than 2 s of overlap at the default bin: not evidence.
  if (m < 20) return NaN;
  const ma = sa / m;
  const mb = sb / m;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[aStart + i]!;
    const y = b[bStart + i]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    sab += (x - ma) * (y - mb);
    saa += (x - ma) * (x - ma);
    sbb += (y - mb) * (y - mb);
  }
  if (saa <= 0 || sbb <= 0) return NaN;
  return sab / Math.sqrt(saa * sbb);
}

function std(a: Float64Array): number {
  let n = 0;
  let s = 0;
  let ss = 0;
  for (const v of a)
    if (Number.isFinite(v)) {
      n++;
      s += v;
      ss += v * v;
    }
  if (n < 2) return NaN;
  const m = s / n;
  return Math.sqrt(Math.max(0, ss / n - m * m));
}

/** 3-bin moving average, NaN-aware. */
function smooth3(a: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    let s = 0;
    let c = 0;
    for (let j = i - 1; j <= i + 1; j++) {
      const v = a[j];
      if (v !== undefined && Number.isFinite(v)) {
        s += v;
        c++;
      }
    }
    out[i] = c > 0 ? s / c : NaN;
  }
  return out;
}

/** Linear interpolation across runs of at most `maxRun` NaNs between two finite values. */
function fillGaps(a: Float64Array, maxRun: number): void {
  let last = -1;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) continue;
    if (last >= 0 && i - last > 1 && i - last - 1 <= maxRun) {
      const v0 = a[last]!;
      const v1 = a[i]!;
      for (let j = last + 1; j < i; j++) a[j] = v0 + ((v1 - v0) * (j - last)) / (i - last);
    }
    last = i;
  }
}
