import { samplesToNs } from './grid.ts';

/** A subject's hop phase: its windows end at m · hop + phase (ns since the epoch). */
export type HopPhase = (subjectId: string) => number;

/** Every subject's windows end at multiples of the hop: one burst of windows per hop. */
export const ALIGNED_HOPS: HopPhase = () => 0;

/**
 * Spreads subjects' window ends over the hop instead of ending every subject's windows at
 * the same instant, so inference, fusion and events come in small groups all through the hop
 * rather than in one burst per hop (the burst is what queues windows, and events behind
 * them, at hundreds of subjects).
 *
 * A subject's phase is a whole number of `unit`s, the least common multiple of the
 * encoders' sample periods: every encoder's grid has a sample there, so all modalities of
 * one subject still end their windows at the same instants and fuse as before. With the
 * bundled model (IMU 50 Hz, pose 20 Hz, 0.5 s hops) that is 5 phases 100 ms apart; IMU only,
 * 25 phases 20 ms apart. The phase comes from a hash of the subject id: stable across
 * restarts and model reloads, no state to keep. Grids whose period is not a whole number of
 * ns get no stagger.
 */
export function staggeredHops(
  encoders: readonly { readonly sampleRateHz: number; readonly hopSamples: number }[],
): HopPhase {
  if (encoders.length === 0) return ALIGNED_HOPS;
  const periods = encoders.map((e) => 1e9 / e.sampleRateHz);
  if (!periods.every((p) => Number.isInteger(p))) return ALIGNED_HOPS;
  const unit = periods.reduce(lcm);
  const hopNs = Math.min(...encoders.map((e) => samplesToNs(e.hopSamples, e.sampleRateHz)));
  const phases = Math.floor(hopNs / unit);
  if (phases <= 1) return ALIGNED_HOPS;
  return (subjectId) => (fnv1a(subjectId) % phases) * unit;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/** 32-bit FNV-1a of the UTF-16 code units: cheap, and spreads similar ids (p0001, p0002…). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
