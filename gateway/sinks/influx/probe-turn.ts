/**
 * One turn to retry at a time. While the server fails, the batches that were in flight when
 * it went away wait here, and only the holder of the turn retries (with backoff): a server
 * that is down sees one request per backoff period, and one that comes back is not hit by
 * every held batch at once before it has answered one of them.
 */
export class ProbeTurn {
  private held = false;
  private readonly waiting: Array<() => void> = [];

  /** Resolves once the caller holds the turn (at once when nobody does). */
  acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Hands the turn to the next waiter, oldest first, or frees it. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held = false;
  }

  /** Wakes every waiter (on stop); each then finds the sink stopped and gives up. */
  releaseAll(): void {
    for (const w of this.waiting.splice(0)) w();
    this.held = false;
  }
}
