/**
 * The reorder window of one camera's pose rows. A camera's tracks arrive in separate chunks,
 * so rows of different tracks interleave out of time order; they are held for the window
 * and handed to the CSV file in time order. Pure bookkeeping: no I/O, no clock.
 */

/** Above this many held rows, the oldest are released regardless of the window. */
const MAX_HELD_ROWS = 20000;

interface HeldRow {
  readonly t: number;
  readonly line: string;
}

export class PoseReorderBuffer {
  private rows: HeldRow[] = [];
  private sorted = true;
  private maxSeen = -1;
  /** Time of the last row released: nothing older may follow. */
  private releasedT = -1;
  /** Bytes of the rows held. */
  bytes = 0;

  /** A row this old would be written after a newer one already released. */
  isLate(t: number): boolean {
    return t < this.releasedT;
  }

  hold(t: number, line: string): void {
    const last = this.rows[this.rows.length - 1];
    if (last !== undefined && last.t > t) this.sorted = false;
    this.rows.push({ t, line });
    this.bytes += line.length;
    if (t > this.maxSeen) this.maxSeen = t;
  }

  /**
   * The held rows older than `windowNs` behind the newest (every row with 'all'), in time
   * order, as one text; undefined when none is due.
   */
  release(windowNs: number | 'all'): { readonly text: string; readonly rows: number } | undefined {
    if (this.rows.length === 0) return undefined;
    if (!this.sorted) {
      this.rows.sort((a, b) => a.t - b.t); // stable: equal times keep arrival order
      this.sorted = true;
    }
    const threshold = windowNs === 'all' ? Infinity : this.maxSeen - windowNs;
    let count = 0;
    while (count < this.rows.length && (this.rows[count] as HeldRow).t <= threshold) count++;
    count = Math.max(count, this.rows.length - MAX_HELD_ROWS);
    if (count === 0) return undefined;
    const released = this.rows.slice(0, count);
    this.rows = this.rows.slice(count);
    this.releasedT = (released[released.length - 1] as HeldRow).t;
    let text = '';
    for (const row of released) text += row.line;
    this.bytes -= text.length;
    return { text, rows: released.length };
  }
}
