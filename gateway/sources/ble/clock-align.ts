import { DriftEstimator, type DriftFitOptions } from '../../clock/drift-estimator.ts';

/*
 * Puts one BLE stream's samples on the gateway clock.
 *
 * - Devices that stamp samples (Polar, Movesense): device time → gateway time through the
 *   gateway's DriftEstimator (gateway/clock/) (lower envelope of arrival − device time, so transport delay
 *   never leaks into sample times, and crystal drift is followed).
 * - Devices that do not (WitMotion, Thingy, MetaWear streams): samples are numbered at the
 *   nominal rate and that count is the "device clock" fed to the same estimator, so arrival
 *   jitter (connection-interval bunching) is smoothed away and a slightly fast or slow
 *   crystal shows up as drift.
 *
 * The estimator's least-squares line runs through the middle of the arrival offsets; with
 * BLE's quantised delivery (samples wait for the next connection event) those form a
 * staircase, and the middle of it lies later than the earliest arrivals. So only the
 * estimator's slope is used, and the line is lowered onto the lower envelope: the smallest
 * offset seen per second over the last minute. Mapped times then never run ahead of when
 * the data arrived, and stay evenly spaced.
 *
 * Gaps: a device-time step of more than `gapFactor` periods, or (arrival-time streams) data
 * arriving later than `gapAfterMs` beyond its predicted time, counts the missing samples as
 * lost and moves the time base past them. Time never runs backwards: a sample that would map
 * at or before the previous one is placed just after it, and a duplicate device time is dropped.
 */

export interface ClockAlignOptions {
  readonly nominalRateHz: number;
  readonly drift?: DriftFitOptions;
  /** Device-time steps above this many periods are gaps. Default 1.5. */
  readonly gapFactor?: number;
  /** Arrival-time streams: lateness beyond prediction that counts as loss, ms. Default max(100, 4 periods). */
  readonly gapAfterMs?: number;
}

export interface AlignedRun {
  /** Gateway-clock times of the kept samples. */
  readonly tNs: Float64Array;
  /** Indices (into the input run) of the kept samples; identity unless some were dropped. */
  readonly kept: Int32Array | null;
  /** Samples the device sent that never arrived (estimated from the gap). */
  readonly lost: number;
  /** Samples dropped here because their device time did not advance. */
  readonly notAscending: number;
}

/** Smallest step between consecutive output times: time is strictly increasing. */
const MIN_STEP_NS = 1e3;

export class StreamClockAligner {
  private readonly periodNs: number;
  private readonly gapFactor: number;
  private readonly gapAfterNs: number;
  private readonly driftOptions: DriftFitOptions | undefined;
  private estimator: DriftEstimator;
  private lastOutNs = -Infinity;
  private lastDeviceNs: number | undefined;
  /** Arrival-time streams: index of the next sample on the virtual device clock. */
  private counter = 0;
  /** Smoothed delay of arrivals behind the envelope (connection-interval wait), ns. */
  private usualLateNs = 0;
  private started = false;
  lostTotal = 0;
  /** Lower envelope: per-second minimum of arrival − device time, and its device time. */
  private envX: number[] = [];
  private envY: number[] = [];
  private envSecond: number[] = [];
  private intercept = 0;
  private originDeviceNs: number | undefined;
  private readonly spanS: number;

  constructor(options: ClockAlignOptions) {
    this.periodNs = 1e9 / options.nominalRateHz;
    this.gapFactor = options.gapFactor ?? 1.5;
    this.gapAfterNs = (options.gapAfterMs ?? Math.max(100, (4 * this.periodNs) / 1e6)) * 1e6;
    this.driftOptions = options.drift;
    this.estimator = new DriftEstimator(options.drift);
    this.spanS = options.drift?.spanS ?? 60;
  }

  /** Drift of the device clock against the gateway's, ppm (device fast = positive). */
  get driftPpm(): number {
    return this.estimator.driftPpm;
  }

  /**
   * A new link: device counters restart, so the arrival-time base must restart too. Output
   * times still never go back past what was already emitted.
   */
  newLink(): void {
    this.counter = 0;
    this.usualLateNs = 0;
    this.started = false;
    this.lastDeviceNs = undefined;
    this.estimator = new DriftEstimator(this.driftOptions);
    this.originDeviceNs = undefined;
    this.envX = [];
    this.envY = [];
    this.envSecond = [];
  }

  /** Slope of gateway − device time per device second, ns/s. */
  private get slope(): number {
    return -this.estimator.driftPpm * 1e3;
  }

  private observe(deviceNs: number, arrivalNs: number): void {
    this.estimator.observe(deviceNs, arrivalNs);
    if (
      this.originDeviceNs === undefined ||
      Math.abs(arrivalNs - deviceNs - this.map(deviceNs) + deviceNs) > 2e9
    ) {
      // First point, or the device clock jumped (reset): start the envelope afresh.
      this.originDeviceNs = deviceNs;
      this.envX = [];
      this.envY = [];
      this.envSecond = [];
    }
    const x = (deviceNs - this.originDeviceNs) / 1e9;
    const y = arrivalNs - deviceNs;
    const second = Math.floor(x);
    const last = this.envSecond.length - 1;
    if (last >= 0 && this.envSecond[last] === second) {
      if (y < (this.envY[last] as number)) {
        this.envY[last] = y;
        this.envX[last] = x;
      }
    } else {
      this.envSecond.push(second);
      this.envX.push(x);
      this.envY.push(y);
      while ((this.envSecond[0] as number) < second - this.spanS) {
        this.envSecond.shift();
        this.envX.shift();
        this.envY.shift();
      }
    }
    const slope = this.slope;
    let intercept = Infinity;
    for (let i = 0; i < this.envX.length; i++)
      intercept = Math.min(intercept, (this.envY[i] as number) - slope * (this.envX[i] as number));
    this.intercept = intercept;
  }

  private map(deviceNs: number): number {
    if (this.originDeviceNs === undefined) return deviceNs;
    const x = (deviceNs - this.originDeviceNs) / 1e9;
    return deviceNs + this.intercept + this.slope * x;
  }

  /** Aligns `n` samples that arrived together at `arrivalNs`; `deviceTimeNs` when the device stamps them. */
  align(n: number, arrivalNs: number, deviceTimeNs?: Float64Array): AlignedRun {
    if (n === 0) return { tNs: new Float64Array(0), kept: null, lost: 0, notAscending: 0 };
    return deviceTimeNs ? this.alignDeviceTime(n, arrivalNs, deviceTimeNs) : this.alignArrival(n, arrivalNs);
  }

  private alignDeviceTime(n: number, arrivalNs: number, dev: Float64Array): AlignedRun {
    let lost = 0;
    let notAscending = 0;
    const keep: number[] = [];
    let prev = this.lastDeviceNs;
    for (let i = 0; i < n; i++) {
      const t = dev[i] as number;
      if (prev !== undefined) {
        if (t <= prev) {
          notAscending++;
          continue;
        }
        const step = t - prev;
        if (step > this.gapFactor * this.periodNs) lost += Math.max(0, Math.round(step / this.periodNs) - 1);
      }
      keep.push(i);
      prev = t;
    }
    if (keep.length === 0) return { tNs: new Float64Array(0), kept: new Int32Array(0), lost, notAscending };
    this.lastDeviceNs = prev;
    this.observe(prev as number, arrivalNs);
    const out = new Float64Array(keep.length);
    for (let k = 0; k < keep.length; k++)
      out[k] = this.place(this.map(dev[keep[k] as number] as number), arrivalNs);
    this.lostTotal += lost;
    return { tNs: out, kept: keep.length === n ? null : Int32Array.from(keep), lost, notAscending };
  }

  private alignArrival(n: number, arrivalNs: number): AlignedRun {
    let lost = 0;
    if (this.started) {
      // Where the last sample of this run should land if nothing went missing.
      const predicted = this.map((this.counter + n - 1) * this.periodNs);
      const late = arrivalNs - predicted;
      if (late - this.usualLateNs > this.gapAfterNs) {
        // Part of the lateness is the usual delivery delay, not missing samples.
        lost = Math.max(0, Math.round((late - this.usualLateNs) / this.periodNs));
        this.counter += lost;
      } else {
        this.usualLateNs += (Math.max(0, late) - this.usualLateNs) * 0.05;
      }
    }
    this.started = true;
    const first = this.counter;
    this.counter += n;
    this.observe((this.counter - 1) * this.periodNs, arrivalNs);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.place(this.map((first + i) * this.periodNs), arrivalNs);
    this.lostTotal += lost;
    return { tNs: out, kept: null, lost, notAscending: 0 };
  }

  /** A sample cannot have been taken after it arrived, nor before the previous one. */
  private place(mappedNs: number, arrivalNs: number): number {
    const t = Math.max(Math.min(mappedNs, arrivalNs), this.lastOutNs + MIN_STEP_NS);
    this.lastOutNs = t;
    return t;
  }
}
