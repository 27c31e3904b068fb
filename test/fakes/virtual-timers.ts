import type { TimerHandle, Timers } from '../../gateway/clock/timers.ts';
import type { Clock } from '../../gateway/domain/time.ts';

interface Entry {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

/**
 * Virtual time for anything that runs on injected `Timers` (BLE stack, sinks, sources, SSE):
 * timers fire only when the test advances time. Between timers the microtask queue and one
 * macrotask turn are drained, so promise chains (noble callbacks → adapter promises →
 * manager; a drain waiting on a queue) run to completion before time moves on, as they would
 * on a real event loop where timeouts dwarf CPU time. `clock` is a gateway clock that agrees.
 */
export class VirtualTimers implements Timers {
  private nowMs = 0;
  /** The gateway clock (ns since the epoch) that moves with these timers from `originNs`. */
  readonly clock: Clock;

  constructor(originNs = 1_700_000_000_000_000_000) {
    this.clock = { nowNs: () => originNs + this.nowMs * 1e6 };
  }
  private seq = 0;
  private readonly entries = new Map<number, Entry>();
  /** Timers created, for reports. */
  created = 0;

  now(): number {
    return this.nowMs;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.created++;
    this.entries.set(id, { id, at: this.nowMs + Math.max(0, ms), fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.entries.delete((handle as { id: number }).id);
  }

  /** Timers armed and not yet fired or cleared. */
  get pending(): number {
    return this.entries.size;
  }

  private next(limit: number): Entry | undefined {
    let best: Entry | undefined;
    for (const e of this.entries.values()) {
      if (e.at > limit) continue;
      if (!best || e.at < best.at || (e.at === best.at && e.id < best.id)) best = e;
    }
    return best;
  }

  /** Runs every timer due within `ms`, in time order, settling promises after each instant. */
  async advance(ms: number): Promise<void> {
    const target = this.nowMs + ms;
    await settle();
    for (;;) {
      const e = this.next(target);
      if (!e) break;
      this.nowMs = e.at;
      // Everything due at this instant runs before the event loop turns.
      for (let d = this.next(this.nowMs); d && d.at === this.nowMs; d = this.next(this.nowMs)) {
        this.entries.delete(d.id);
        d.fn();
      }
      await settle();
    }
    this.nowMs = target;
    await settle();
  }
}

export async function settle(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}
