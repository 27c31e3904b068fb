import type { TimeNs } from '../../domain/time.ts';

/**
 * Counts repetitions in one stream of feature vectors (IMU acceleration, pose coordinates and
 * joint angles), online, at a fixed internal rate:
 *
 * 1. bin-average the samples onto a `rateHz` grid (sources arrive at 15-200 Hz, jittered);
 * 2. the dominant motion component over the last `windowS`: sliding mean and covariance
 *    (running sums), principal axis by power iteration warm-started from the previous axis
 *    (so its sign and direction do not flip between samples), projection onto it, short
 *    moving average (`smoothS`);
 * 3. period by normalised autocorrelation of that projection over the window, re-evaluated
 *    every `periodEveryS`: the highest local maximum between `minPeriodS` and `maxPeriodS`,
 *    whose value is the stream's periodicity (0..1, the confidence of its reps);
 * 4. a rep when the projection rises above `high`·σ from below `low`·σ (hysteresis, σ the
 *    standard deviation along the axis, at least `minAmplitude`), at least `minPeriodS` and —
 *    once the stream is periodic (≥ `minPeriodicity`) — `periodGate` × period after the last.
 *
 * Pure: no clock, no timers; time is the data's. Memory and work per sample are bounded by
 * the window (O(d²) per bin; O(window · lags) per period update).
 */
export interface StreamCounterParams {
  readonly rateHz: number;
  readonly windowS: number;
  readonly smoothS: number;
  readonly high: number;
  readonly low: number;
  readonly minPeriodS: number;
  readonly maxPeriodS: number;
  readonly periodGate: number;
  readonly minPeriodicity: number;
  readonly minAmplitude: number;
  readonly periodEveryS: number;
  /** 'autocorrelation' (default) or 'fixed': only `minPeriodS` separates reps (the alternative measured in bench/reps). */
  readonly gating: 'autocorrelation' | 'fixed';
}

export const DEFAULT_COUNTER_PARAMS: StreamCounterParams = {
  rateHz: 25,
  windowS: 8,
  smoothS: 0.4,
  high: 0.5,
  low: -0.4,
  minPeriodS: 1,
  maxPeriodS: 8,
  periodGate: 0.7,
  minPeriodicity: 0.3,
  minAmplitude: 0.5,
  periodEveryS: 1,
  gating: 'autocorrelation',
};

export interface RepDetection {
  /** When the rep was recognised (the upward crossing), data time. */
  readonly tNs: TimeNs;
  /** Periodicity of the stream at that time (0..1). */
  readonly periodicity: number;
  /** Estimated period, s (NaN before one was found). */
  readonly periodS: number;
}

/** A shorter-lag autocorrelation peak at least this share of the highest one is the period. */
const SUBHARMONIC_SHARE = 0.85;

/** Longest silence bridged by holding the last value; longer gaps restart the binning. */
const MAX_GAP_BINS = 12;

export class StreamCounter {
  readonly params: StreamCounterParams;
  private readonly dim: number;
  private readonly binNs: number;
  private readonly capacity: number;
  private readonly ring: Float64Array;
  private readonly sum: Float64Array;
  private readonly outer: Float64Array;
  private readonly axis: Float64Array;
  private readonly tmp: Float64Array;
  private readonly mean: Float64Array;
  private readonly cov: Float64Array;
  /** Scratch of powerIteration (one per counter, not one per bin). */
  private readonly powerNext: Float64Array;
  private readonly smooth: Float64Array;
  private readonly projected: Float64Array;
  private count = 0;
  private head = 0;
  private sinceRecompute = 0;
  private sincePeriod = 0;
  private smoothIdx = 0;
  private smoothFill = 0;
  private binIndex = -1;
  private readonly binSum: Float64Array;
  private binN = 0;
  private armed = true;
  private lastRepNs = -Infinity;
  private periodBins = NaN;
  private periodicityValue = 0;
  private repsCounted = 0;

  constructor(dim: number, params: Partial<StreamCounterParams> = {}) {
    this.params = { ...DEFAULT_COUNTER_PARAMS, ...params };
    const p = this.params;
    if (!(dim >= 1)) throw new RangeError(`feature dimension must be ≥ 1, got ${dim}`);
    if (!(p.minPeriodS > 0 && p.maxPeriodS > p.minPeriodS)) {
      throw new RangeError(`need 0 < minPeriodS < maxPeriodS, got ${p.minPeriodS}, ${p.maxPeriodS}`);
    }
    this.dim = dim;
    this.binNs = 1e9 / p.rateHz;
    this.capacity = Math.max(4, Math.round(p.windowS * p.rateHz));
    this.ring = new Float64Array(this.capacity * dim);
    this.sum = new Float64Array(dim);
    this.outer = new Float64Array(dim * dim);
    this.axis = new Float64Array(dim).fill(1 / Math.sqrt(dim));
    this.tmp = new Float64Array(dim);
    this.mean = new Float64Array(dim);
    this.cov = new Float64Array(dim * dim);
    this.powerNext = new Float64Array(dim);
    this.smooth = new Float64Array(Math.max(1, Math.round(p.smoothS * p.rateHz)));
    this.projected = new Float64Array(this.capacity);
    this.binSum = new Float64Array(dim);
  }

  get reps(): number {
    return this.repsCounted;
  }

  /** Periodicity (0..1) of the stream over the window: how much its reps can be trusted. */
  get periodicity(): number {
    return this.periodicityValue;
  }

  get periodS(): number {
    return this.periodBins / this.params.rateHz;
  }

  /** One sample; returns the rep recognised with it, if any. `features` has `dim` values. */
  push(tNs: TimeNs, features: ArrayLike<number>): RepDetection | null {
    const bin = Math.floor(tNs / this.binNs);
    if (this.binIndex < 0) this.binIndex = bin;
    let detection: RepDetection | null = null;
    if (bin > this.binIndex) {
      if (this.binN > 0) {
        for (let j = 0; j < this.dim; j++) this.tmp[j] = (this.binSum[j] as number) / this.binN;
        detection = this.onBin((this.binIndex + 1) * this.binNs);
        // Short gaps: hold the last value so the window keeps its time scale.
        const gap = bin - this.binIndex - 1;
        if (gap > 0 && gap <= MAX_GAP_BINS) {
          for (let g = 1; g <= gap; g++)
            detection = this.onBin((this.binIndex + 1 + g) * this.binNs) ?? detection;
        } else if (gap > MAX_GAP_BINS) {
          // After a real silence the body may be elsewhere (another posture, gravity on
          // another axis): a window spanning the step would make the step its main axis.
          this.resetWindow();
        }
      }
      this.binIndex = bin;
      this.binSum.fill(0);
      this.binN = 0;
    }
    if (bin === this.binIndex) {
      for (let j = 0; j < this.dim; j++)
        this.binSum[j] = (this.binSum[j] as number) + (features[j] as number);
      this.binN++;
    }
    return detection;
  }

  /** Adds the bin held in `tmp` (ending at `endNs`) and runs the detector. */
  private onBin(endNs: TimeNs): RepDetection | null {
    const { dim, capacity, ring, sum, outer } = this;
    const x = this.tmp;
    const slot = this.head * dim;
    if (this.count === capacity) {
      for (let a = 0; a < dim; a++) {
        const oa = ring[slot + a] as number;
        sum[a] = (sum[a] as number) - oa;
        for (let b = 0; b < dim; b++)
          outer[a * dim + b] = (outer[a * dim + b] as number) - oa * (ring[slot + b] as number);
      }
    } else {
      this.count++;
    }
    for (let a = 0; a < dim; a++) {
      const xa = x[a] as number;
      ring[slot + a] = xa;
      sum[a] = (sum[a] as number) + xa;
      for (let b = 0; b < dim; b++)
        outer[a * dim + b] = (outer[a * dim + b] as number) + xa * (x[b] as number);
    }
    this.head = (this.head + 1) % capacity;
    if (++this.sinceRecompute >= capacity) this.recomputeSums();

    const n = this.count;
    for (let a = 0; a < dim; a++) this.mean[a] = (sum[a] as number) / n;
    for (let a = 0; a < dim; a++)
      for (let b = 0; b < dim; b++)
        this.cov[a * dim + b] =
          (outer[a * dim + b] as number) / n - (this.mean[a] as number) * (this.mean[b] as number);
    const variance = this.powerIteration(2);
    const sigma = Math.max(Math.sqrt(Math.max(variance, 0)), 0);

    let y = 0;
    for (let a = 0; a < dim; a++)
      y += (this.axis[a] as number) * ((x[a] as number) - (this.mean[a] as number));
    this.smooth[this.smoothIdx] = y;
    this.smoothIdx = (this.smoothIdx + 1) % this.smooth.length;
    this.smoothFill = Math.min(this.smoothFill + 1, this.smooth.length);
    let z = 0;
    for (let i = 0; i < this.smoothFill; i++) z += this.smooth[i] as number;
    z /= this.smoothFill;

    const p = this.params;
    if (++this.sincePeriod >= Math.max(1, Math.round(p.periodEveryS * p.rateHz))) {
      this.sincePeriod = 0;
      this.updatePeriod();
    }
    if (n < p.rateHz * 0.5 || sigma < p.minAmplitude) return null;
    if (!this.armed) {
      if (z < p.low * sigma) this.armed = true;
      return null;
    }
    if (z <= p.high * sigma) return null;
    this.armed = false;
    const sinceLast = (endNs - this.lastRepNs) / 1e9;
    if (sinceLast < p.minPeriodS) return null;
    if (
      p.gating === 'autocorrelation' &&
      this.periodicityValue >= p.minPeriodicity &&
      sinceLast < p.periodGate * this.periodS
    ) {
      return null;
    }
    this.lastRepNs = endNs;
    this.repsCounted++;
    return { tNs: endNs, periodicity: this.periodicityValue, periodS: this.periodS };
  }

  private resetWindow(): void {
    this.count = 0;
    this.head = 0;
    this.sinceRecompute = 0;
    this.sum.fill(0);
    this.outer.fill(0);
    this.smoothFill = 0;
    this.smoothIdx = 0;
    this.armed = true;
    this.periodBins = NaN;
    this.periodicityValue = 0;
  }

  private recomputeSums(): void {
    const { dim, ring, sum, outer } = this;
    this.sinceRecompute = 0;
    sum.fill(0);
    outer.fill(0);
    for (let i = 0; i < this.count; i++) {
      const o = i * dim;
      for (let a = 0; a < dim; a++) {
        const xa = ring[o + a] as number;
        sum[a] = (sum[a] as number) + xa;
        for (let b = 0; b < dim; b++)
          outer[a * dim + b] = (outer[a * dim + b] as number) + xa * (ring[o + b] as number);
      }
    }
  }

  /** Refines `axis` towards the covariance's principal eigenvector; returns the variance along it. */
  private powerIteration(steps: number): number {
    const { dim, cov, axis } = this;
    if (dim === 1) return cov[0] as number;
    const next = this.powerNext;
    for (let s = 0; s < steps; s++) {
      let norm = 0;
      for (let a = 0; a < dim; a++) {
        let v = 0;
        for (let b = 0; b < dim; b++) v += (cov[a * dim + b] as number) * (axis[b] as number);
        next[a] = v;
        norm += v * v;
      }
      norm = Math.sqrt(norm);
      if (!(norm > 1e-12)) break;
      for (let a = 0; a < dim; a++) axis[a] = (next[a] as number) / norm;
    }
    let variance = 0;
    for (let a = 0; a < dim; a++) {
      let v = 0;
      for (let b = 0; b < dim; b++) v += (cov[a * dim + b] as number) * (axis[b] as number);
      variance += (axis[a] as number) * v;
    }
    return variance;
  }

  /** Autocorrelation of the window projected on the current axis → period and periodicity. */
  private updatePeriod(): void {
    const { dim, capacity, ring, projected } = this;
    const n = this.count;
    const p = this.params;
    const minLag = Math.max(2, Math.round(p.minPeriodS * p.rateHz));
    const maxLag = Math.min(Math.round(p.maxPeriodS * p.rateHz), Math.floor(n * 0.6));
    if (maxLag <= minLag + 1) return;
    const start = this.count === capacity ? this.head : 0;
    for (let i = 0; i < n; i++) {
      const o = ((start + i) % capacity) * dim;
      let y = 0;
      for (let a = 0; a < dim; a++)
        y += (this.axis[a] as number) * ((ring[o + a] as number) - (this.mean[a] as number));
      projected[i] = y;
    }
    // Local maxima of the autocorrelation; the period is the shortest lag whose peak is nearly
    // as high as the highest (a clean periodic signal peaks as high at 2T, 3T, … as at T).
    const peaks: number[] = [];
    const values: number[] = [];
    let prev = this.correlation(n, minLag - 1);
    let cur = this.correlation(n, minLag);
    for (let lag = minLag; lag <= maxLag; lag++) {
      const next = this.correlation(n, lag + 1);
      if (cur >= prev && cur >= next) {
        peaks.push(lag);
        values.push(cur);
      }
      prev = cur;
      cur = next;
    }
    const top = values.length > 0 ? Math.max(...values) : -Infinity;
    const k = values.findIndex((v) => v >= SUBHARMONIC_SHARE * top);
    const best = k >= 0 ? (values[k] as number) : -Infinity;
    const bestLag = k >= 0 ? (peaks[k] as number) : NaN;
    this.periodBins = bestLag;
    this.periodicityValue = Number.isFinite(best) ? Math.max(0, best) : 0;
  }

  private correlation(n: number, lag: number): number {
    const y = this.projected;
    let xy = 0;
    let xx = 0;
    let yy = 0;
    for (let i = 0; i + lag < n; i++) {
      const a = y[i] as number;
      const b = y[i + lag] as number;
      xy += a * b;
      xx += a * a;
      yy += b * b;
    }
    return xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : 0;
  }
}
