import { createWriteStream, type WriteStream } from 'node:fs';
import { truncate } from 'node:fs/promises';
import { settlesWithin, type Timers } from '../../clock/timers.ts';

/**
 * One CSV file of a recording, appended through a write stream.
 *
 * Rows are counted at three points: accepted (handed to the stream), confirmed (the
 * operating system took the bytes: the write callback succeeded) and dropped (the write
 * failed, or was abandoned when draining timed out). `confirmedBytes` always ends on a row
 * boundary, so after a failure the file can be cut back to complete rows and stays readable.
 */
export interface CsvFileEvents {
  /** The OS accepted `rows` rows (`bytes` bytes, headers have rows = 0). */
  readonly written: (file: CsvFile, rows: number, bytes: number) => void;
  /** `rows` rows will never reach the file. */
  readonly dropped: (file: CsvFile, rows: number, cause: Error) => void;
  /** The first error of this file; no later write can succeed. */
  readonly failed: (file: CsvFile, cause: NodeJS.ErrnoException) => void;
}

export class DrainTimeoutError extends Error {
  constructor(path: string, timeoutMs: number) {
    super(`${path}: the disk did not take the queued rows within ${timeoutMs} ms`);
    this.name = 'DrainTimeoutError';
  }
}

export class CsvFile {
  readonly path: string;
  /** Path inside the recording directory, as recording.json names it. */
  readonly relative: string;
  confirmedBytes = 0;
  confirmedRows = 0;
  acceptedRows = 0;
  droppedRows = 0;

  private readonly stream: WriteStream;
  private readonly closed: Promise<void>;
  private error: Error | undefined;
  private abandoned = false;
  /** Writes handed to the stream whose callback has not run yet. */
  private pendingWrites = 0;
  private settledWaiters: (() => void)[] = [];

  constructor(
    path: string,
    relative: string,
    header: string,
    private readonly maxQueuedBytes: number,
    private readonly events: CsvFileEvents,
    /** The drain timeout at close runs on these. */
    private readonly timers: Timers,
  ) {
    this.path = path;
    this.relative = relative;
    this.stream = createWriteStream(path, { flags: 'w', encoding: 'utf8' });
    this.closed = new Promise((resolve) => this.stream.once('close', () => resolve()));
    this.stream.on('error', (err: NodeJS.ErrnoException) => this.fail(err));
    this.append(`${header}\n`, 0);
  }

  /** The first error of this file (a failed file takes no more rows). */
  get failure(): Error | undefined {
    return this.error;
  }

  /** Bytes handed to the stream and not yet taken by the OS. */
  get queuedBytes(): number {
    return this.abandoned || this.stream.destroyed ? 0 : this.stream.writableLength;
  }

  /**
   * Whether `bytes` more fit the write queue. An empty queue always takes a batch, or a
   * batch larger than the limit could never be written.
   */
  hasRoomFor(bytes: number): boolean {
    if (this.error !== undefined) return false;
    const queued = this.stream.writableLength;
    return queued === 0 || queued + bytes <= this.maxQueuedBytes;
  }

  append(text: string, rows: number): void {
    if (this.error !== undefined) {
      this.droppedRows += rows;
      this.events.dropped(this, rows, this.error);
      return;
    }
    this.acceptedRows += rows;
    const bytes = Buffer.byteLength(text);
    this.pendingWrites++;
    this.stream.write(text, (err) => {
      if (this.abandoned) return;
      if (err) {
        this.fail(err);
        this.droppedRows += rows;
        this.events.dropped(this, rows, this.error ?? err);
      } else {
        this.confirmedBytes += bytes;
        this.confirmedRows += rows;
        this.events.written(this, rows, bytes);
      }
      if (--this.pendingWrites === 0) this.wakeSettled();
    });
  }

  /** Resolves once every row appended so far is written, dropped or abandoned. */
  settled(): Promise<void> {
    if (this.pendingWrites === 0 || this.abandoned) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  private wakeSettled(): void {
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Ends the file: waits up to `timeoutMs` for queued rows to reach the OS, then gives up on
   * them (counted as dropped). Resolves once nothing more will be counted.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.error === undefined && !this.stream.writableEnded) this.stream.end();
    if (await settlesWithin(this.timers, this.closed, timeoutMs)) return;
    // A write blocked in the kernel keeps its thread; the stream closes when it returns.
    const cause = new DrainTimeoutError(this.path, timeoutMs);
    this.error ??= cause;
    this.abandoned = true;
    this.wakeSettled();
    const pending = this.acceptedRows - this.confirmedRows - this.droppedRows;
    if (pending > 0) {
      this.droppedRows += pending;
      this.events.dropped(this, pending, cause);
    }
    this.stream.destroy();
  }

  /** After a failure: cut a partly written last row, so readers see whole rows only. */
  async truncateToConfirmed(): Promise<void> {
    await truncate(this.path, this.confirmedBytes);
  }

  private fail(err: NodeJS.ErrnoException): void {
    if (this.error !== undefined) return;
    this.error = err;
    this.events.failed(this, err);
  }
}
