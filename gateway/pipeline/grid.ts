import type { Modality } from '../domain/samples.ts';
import type { TimeNs } from '../domain/time.ts';

/**
 * The absolute sample grid: sample k of a stream resampled at `rateHz` sits at
 * k / rateHz seconds since the Unix epoch. Anchoring every stream to the epoch (not to its
 * first sample) is what lets IMU and pose windows of one subject end at the same instants.
 */
export function gridTimeNs(k: number, rateHz: number): TimeNs {
  const periodNs = 1e9 / rateHz;
  // One correctly rounded multiplication when the period is a whole number of ns, so two
  // grids that share an instant (k·2e7 and j·5e7) compute bit-identical times.
  return Number.isInteger(periodNs) ? k * periodNs : (k * 1e9) / rateHz;
}

/** Smallest grid index whose time is ≥ t. */
export function gridIndexAtOrAfter(t: TimeNs, rateHz: number): number {
  let k = Math.ceil((t * rateHz) / 1e9);
  while (gridTimeNs(k - 1, rateHz) >= t) k--;
  while (gridTimeNs(k, rateHz) < t) k++;
  return k;
}

/** Duration of `samples` grid periods, ns (a hop or a window length). */
export function samplesToNs(samples: number, rateHz: number): number {
  return (samples * 1e9) / rateHz;
}

/**
 * Key of a hop slot: window ends rounded to whole microseconds, so ends computed from
 * different grids (50 Hz and 20 Hz) that denote the same instant land in the same slot even
 * where float64 cannot represent the instant exactly.
 */
export function slotKey(endNs: TimeNs): number {
  return Math.round(endNs / 1e3);
}

/**
 * A run of evenly spaced samples of one source on the absolute grid: sample i is at grid
 * index `firstIndex + i`.
 */
export interface GridChunk {
  readonly modality: Modality;
  readonly sourceId: string;
  readonly subjectId: string | undefined;
  readonly rateHz: number;
  readonly firstIndex: number;
  readonly count: number;
  /** count × values-per-sample, interleaved per sample as in the source chunk. */
  readonly values: Float32Array;
  /** True when this run does not continue the source's previous run (first run, or after a gap). */
  readonly restart: boolean;
}
