/**
 * Backpressure vocabulary of the pipeline. Every edge between stages names one of these
 * policies (see README.md); whatever an edge refuses is counted in
 * `mujo_pipeline_dropped_total{edge, policy, reason}`, never dropped silently.
 */
export type BackpressurePolicy =
  /** The stage runs synchronously inside the producer's call: no queue exists to grow. */
  | 'synchronous'
  /** Bounded FIFO; when full the oldest item is evicted to make room for the newest. */
  | 'drop-oldest'
  /** Items that arrive after their slot was already decided are discarded. */
  | 'drop-late'
  /** Input that violates the stage's contract (unassigned, out of order, unknown encoder). */
  | 'reject-invalid'
  /** Bounded set of open slots; when full the oldest is decided early with what it has. */
  | 'flush-oldest';

/**
 * Fixed-capacity FIFO over a circular array. `push` on a full queue evicts and returns the
 * oldest item, so a slow consumer costs stale data, never memory.
 */
export class RingQueue<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private length = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`RingQueue capacity must be a positive integer, got ${capacity}`);
    }
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.length;
  }

  /** Appends `item`; returns the evicted oldest item when the queue was full. */
  push(item: T): T | undefined {
    let evicted: T | undefined;
    if (this.length === this.capacity) {
      evicted = this.shift();
    }
    this.items[(this.head + this.length) % this.capacity] = item;
    this.length++;
    return evicted;
  }

  peek(): T | undefined {
    return this.length === 0 ? undefined : this.items[this.head];
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.length--;
    return item;
  }

  /** Removes and returns up to `n` oldest items, oldest first. */
  take(n: number): T[] {
    const count = Math.min(n, this.length);
    const out = new Array<T>(count);
    for (let i = 0; i < count; i++) out[i] = this.shift() as T;
    return out;
  }
}
