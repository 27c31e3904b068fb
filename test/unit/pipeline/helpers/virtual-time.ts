import { VirtualTimeScheduler, type Subject } from 'rxjs';
import type { SubjectScores } from '../../../../gateway/domain/events.ts';
import type { Clock } from '../../../../gateway/domain/time.ts';

/** Lets promise callbacks (async encoder runs) settle before virtual time moves on. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Virtual time for pipeline tests: an rxjs VirtualTimeScheduler (1 frame = 1 ms) and a
 * Clock reading it, starting at a realistic epoch so grid arithmetic runs at real magnitudes.
 */
export class VirtualTime {
  readonly scheduler = new VirtualTimeScheduler();
  readonly clock: Clock = { nowNs: () => this.scheduler.now() * 1e6 };

  constructor(startMs = 1_767_225_600_000) {
    this.scheduler.frame = startMs;
  }

  get nowMs(): number {
    return this.scheduler.now();
  }

  get nowNs(): number {
    return this.clock.nowNs();
  }

  /** Runs every timer due up to `targetMs` in order, settling promises between them. */
  async advanceTo(targetMs: number): Promise<void> {
    const s = this.scheduler;
    for (;;) {
      await settle();
      const next = s.actions[0];
      if (!next || next.delay > targetMs) break;
      s.maxFrames = next.delay;
      s.flush();
    }
    if (targetMs > s.frame) s.frame = targetMs;
    s.maxFrames = Infinity;
    await settle();
  }

  advanceBy(ms: number): Promise<void> {
    return this.advanceTo(this.nowMs + ms);
  }
}

/**
 * Feeds one window's scores per hop into `input`, first moving virtual time to just past the
 * hop's end (as the pipeline would deliver them). Returns the window's end time.
 */
export function hopFeeder(
  vt: VirtualTime,
  input: Subject<SubjectScores>,
  hopNs = 5e8,
  windowNs = 2e9,
): (scores: Omit<SubjectScores, 'startNs' | 'endNs'>) => Promise<number> {
  const base = Math.ceil(vt.nowNs / hopNs) * hopNs;
  let hop = 0;
  return async (scores) => {
    const endNs = base + hop++ * hopNs;
    await vt.advanceTo(endNs / 1e6 + 30);
    input.next({ ...scores, startNs: endNs - windowNs, endNs });
    return endNs;
  };
}
