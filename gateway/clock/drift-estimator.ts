import type { TimeNs } from '../domain/time.ts';

export interface DriftFitOptions {
  /** Device-time span the fit looks back over, s. */
  readonly spanS?: number;
  /** Width of the buckets whose minimum offset forms the lower envelope, s. */
  readonly bucketS?: number;
  /** An offset this far (ns) from the prediction means the device clock was reset. */
  readonly resetThresholdNs?: number;
}

/**
 * Online estimate of gateway time as a linear function of device time.
 *
 * Each observation pairs the device time of the newest sample of a chunk with the gateway
 * time the chunk arrived. Their difference is the clock offset plus a transport delay that
 * is never negative, so the true offset line is the lower envelope of the observations:
 * we keep the minimum offset per bucket of device time and fit a line through those minima
 * (least squares, then once more without the minima that still sit well above the line —
 * buckets where every packet was delayed).
 */
export class DriftEstimator {
  private readonly spanS: number;
  private readonly bucketS: number;
  private readonly resetThresholdNs: number;
  private originDeviceNs: number | undefined;
  private originOffsetNs = 0;
  /** Bucket minima: device time since origin (s) and offset relative to the origin offset (ns). */
  private xs: number[] = [];
  private ys: number[] = [];
  private buckets: number[] = [];
  /** offset(x) = intercept + slope·x, ns and ns/s. */
  private intercept = 0;
  private slope = 0;
  private resetCount = 0;

  constructor(options: DriftFitOptions = {}) {
    this.spanS = options.spanS ?? 60;
    this.bucketS = options.bucketS ?? 1;
    this.resetThresholdNs = options.resetThresholdNs ?? 2e9;
  }

  /** Device clock rate error relative to the gateway clock, ppm (device fast = positive). */
  get driftPpm(): number {
    return -this.slope / 1e3;
  }

  /** How often the fit started afresh (first observation, device clock reset): a new device timeline each time. */
  get resets(): number {
    return this.resetCount;
  }

  observe(deviceNs: TimeNs, arrivalNs: TimeNs): void {
    if (this.originDeviceNs === undefined) this.reset(deviceNs, arrivalNs);
    const x = (deviceNs - (this.originDeviceNs as number)) / 1e9;
    const y = arrivalNs - deviceNs - this.originOffsetNs;
    if (Math.abs(y - (this.intercept + this.slope * x)) > this.resetThresholdNs) {
      this.reset(deviceNs, arrivalNs);
      return;
    }
    const bucket = Math.floor(x / this.bucketS);
    const last = this.buckets.length - 1;
    if (last >= 0 && this.buckets[last] === bucket) {
      if (y < (this.ys[last] as number)) {
        this.ys[last] = y;
        this.xs[last] = x;
        if (this.buckets.length === 1) this.intercept = y;
      }
      return;
    }
    if (last >= 0 && bucket < (this.buckets[last] as number)) return; // device time went backwards: ignore
    this.buckets.push(bucket);
    this.xs.push(x);
    this.ys.push(y);
    const oldest = bucket - Math.ceil(this.spanS / this.bucketS);
    while ((this.buckets[0] as number) < oldest) {
      this.buckets.shift();
      this.xs.shift();
      this.ys.shift();
    }
    this.refit();
  }

  map(deviceNs: TimeNs): TimeNs {
    if (this.originDeviceNs === undefined) return deviceNs;
    const x = (deviceNs - this.originDeviceNs) / 1e9;
    return deviceNs + this.originOffsetNs + this.intercept + this.slope * x;
  }

  private reset(deviceNs: TimeNs, arrivalNs: TimeNs): void {
    this.resetCount++;
    this.originDeviceNs = deviceNs;
    this.originOffsetNs = arrivalNs - deviceNs;
    this.xs = [0];
    this.ys = [0];
    this.buckets = [0];
    this.intercept = 0;
    this.slope = 0;
  }

  private refit(): void {
    const n = this.xs.length;
    if (n < 3) {
      // Too short a span to tell drift from jitter: best offset so far, no slope.
      this.intercept = Math.min(...this.ys);
      this.slope = 0;
      return;
    }
    let fit = linearFit(this.xs, this.ys, null);
    const residuals = this.ys.map((y, i) => y - (fit.a + fit.b * (this.xs[i] as number)));
    const sorted = residuals.map(Math.abs).sort((p, q) => p - q);
    const mad = sorted[Math.floor(n / 2)] as number;
    const limit = Math.max(5e5, 3 * mad);
    const keep = residuals.map((r) => r <= limit);
    if (keep.filter(Boolean).length >= 3) fit = linearFit(this.xs, this.ys, keep);
    this.intercept = fit.a;
    this.slope = fit.b;
  }
}

function linearFit(xs: number[], ys: number[], keep: boolean[] | null): { a: number; b: number } {
  let n = 0,
    sx = 0,
    sy = 0;
  for (let i = 0; i < xs.length; i++) {
    if (keep && !keep[i]) continue;
    n++;
    sx += xs[i] as number;
    sy += ys[i] as number;
  }
  const mx = sx / n,
    my = sy / n;
  let sxx = 0,
    sxy = 0;
  for (let i = 0; i < xs.length; i++) {
    if (keep && !keep[i]) continue;
    const dx = (xs[i] as number) - mx;
    sxx += dx * dx;
    sxy += dx * ((ys[i] as number) - my);
  }
  const b = sxx > 0 ? sxy / sxx : 0;
  return { a: my - b * mx, b };
}
