/**
 * Per-source state (rings, resampler tails) would otherwise live forever for streams that
 * end — camera track ids are never reused. Every `every` calls, entries whose last data time
 * is more than `idleNs` behind the newest data time seen are deleted.
 */
export class IdleSweep<S extends { lastDataNs: number }> {
  private calls = 0;
  private newestNs = -Infinity;

  constructor(
    private readonly states: Map<string, S>,
    private readonly idleNs: number = 60e9,
    private readonly every: number = 1024,
  ) {}

  touch(dataNs: number): void {
    if (dataNs > this.newestNs) this.newestNs = dataNs;
    if (++this.calls < this.every) return;
    this.calls = 0;
    const horizon = this.newestNs - this.idleNs;
    for (const [key, s] of this.states) if (s.lastDataNs < horizon) this.states.delete(key);
  }
}
