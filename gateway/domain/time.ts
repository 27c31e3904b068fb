/**
 * Time on the gateway's clock, in nanoseconds since the Unix epoch.
 *
 * Stored as a JS number (float64), not bigint: near 1.8e18 a double resolves 256 ns, far
 * finer than any sensor period here (≥ 1 ms at 1 kHz), and plain numbers keep the
 * per-sample arithmetic of resampling and windowing fast. Values crossing a boundary that
 * needs exact integers (InfluxDB timestamps, CSV files) go through `nsToBigInt`.
 */
export type TimeNs = number;

export const NS_PER_MS = 1e6;
export const NS_PER_S = 1e9;

export function nsToBigInt(t: TimeNs): bigint {
  return BigInt(Math.round(t));
}

export function msToNs(ms: number): TimeNs {
  return ms * NS_PER_MS;
}

export function nsToIso(t: TimeNs): string {
  return new Date(t / NS_PER_MS).toISOString();
}

/** The clock every stage reads; tests inject a virtual one. */
export interface Clock {
  nowNs(): TimeNs;
}

export const systemClock: Clock = {
  nowNs: () => Date.now() * NS_PER_MS,
};
