import { prng } from './prng.ts';

/** Synthetic rep signals of known count, for the rep counter's tests and bench/reps. */

/** Gaussian noise from the seeded PRNG (Box-Muller). */
function gauss(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

export interface Synthetic {
  tNs: Float64Array;
  values: Float32Array;
  reps: number;
}

export interface SyntheticOptions {
  reps: number;
  periodS: number;
  noise: number;
  jitter: number;
  restS: number;
  rateHz: number;
}

/**
 * A wrist IMU doing `reps` reps along a random direction: each rep one cycle of a smooth
 * bump (one sine period of acceleration), period jittered ±`jitter`, optional rests between
 * reps, gravity on a random axis, white noise of `noise` m/s² — at `rateHz` with jittered timestamps.
 */
export function syntheticImu(seed: number, o: SyntheticOptions): Synthetic {
  const rand = prng(seed);
  const dir = [gauss(rand), gauss(rand), gauss(rand)];
  const norm = Math.hypot(...dir);
  const g = [gauss(rand), gauss(rand), gauss(rand)];
  const gn = Math.hypot(...g);
  const segments: { start: number; len: number }[] = [];
  let t = 1.5; // still before the first rep
  for (let k = 0; k < o.reps; k++) {
    const len = o.periodS * (1 + o.jitter * (2 * rand() - 1));
    segments.push({ start: t, len });
    t += len + o.restS * rand();
  }
  const total = t + 2;
  const n = Math.floor(total * o.rateHz);
  const tNs = new Float64Array(n);
  const values = new Float32Array(n * 6);
  let seg = 0;
  for (let i = 0; i < n; i++) {
    const ts = (i + 0.3 * (rand() - 0.5)) / o.rateHz;
    tNs[i] = 1.7e18 + ts * 1e9;
    while (
      seg < segments.length - 1 &&
      ts > (segments[seg] as { start: number; len: number }).start + (segments[seg] as { len: number }).len
    )
      seg++;
    const s = segments[seg] ?? { start: -1, len: 0.5 };
    const phase = (ts - s.start) / s.len;
    const a = phase >= 0 && phase <= 1 ? 4 * Math.sin(2 * Math.PI * phase) : 0;
    for (let j = 0; j < 3; j++) {
      values[i * 6 + j] =
        (9.81 * (g[j] as number)) / gn + (a * (dir[j] as number)) / norm + o.noise * gauss(rand);
      values[i * 6 + 3 + j] = 0.05 * gauss(rand);
    }
  }
  return { tNs, values, reps: o.reps };
}
