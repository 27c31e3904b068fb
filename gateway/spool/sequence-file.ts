import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../observability/logger.ts';

/*
 * A sequence number that never repeats across restarts, kill -9 included: the file holds the
 * highest number this or an earlier run may have handed out (`reserved`). A start continues
 * above it and reserves the next `block` numbers with one fsynced write; so does running out
 * of a block. A clean close writes back the last number handed out, so the next run continues
 * without a gap; after a crash the next run skips what was reserved but not used (< block).
 *
 * File (JSON, written to a temporary file, fsynced, renamed over):
 *   {"v":1,"reserved":<highest number that may have been handed out>,"boot":<starts so far>}
 */

export interface SequenceFileOptions {
  readonly path: string;
  /** Numbers reserved per fsynced write (default 1000). */
  readonly block?: number;
  readonly logger: Logger;
}

interface Persisted {
  readonly v: 1;
  readonly reserved: number;
  readonly boot: number;
}

export class SequenceFile {
  private last = 0;
  private reserved = 0;
  private bootValue = 0;
  private readonly block: number;

  constructor(private readonly opts: SequenceFileOptions) {
    this.block = Math.max(1, opts.block ?? 1000);
  }

  /** How many times this file has been opened (1 on a fresh install). */
  get boot(): number {
    return this.bootValue;
  }

  /** The last number handed out (0 before the first). */
  get current(): number {
    return this.last;
  }

  /** Reads the file (a missing one starts at 0) and reserves the first block. */
  open(): void {
    const found = this.read();
    this.last = found.reserved;
    this.reserved = found.reserved;
    this.bootValue = found.boot + 1;
    this.reserve();
  }

  next(): number {
    if (this.last >= this.reserved) this.reserve();
    return ++this.last;
  }

  /** Gives back the unused rest of the block: the next run starts right after `current`. */
  close(): void {
    this.reserved = this.last;
    this.write();
  }

  private reserve(): void {
    this.reserved = this.last + this.block;
    this.write();
  }

  private read(): Persisted {
    try {
      const parsed = JSON.parse(readFileSync(this.opts.path, 'utf8')) as Partial<Persisted>;
      const reserved = Number(parsed.reserved);
      const boot = Number(parsed.boot);
      if (Number.isSafeInteger(reserved) && reserved >= 0)
        return { v: 1, reserved, boot: Number.isSafeInteger(boot) && boot >= 0 ? boot : 0 };
      throw new Error('no valid "reserved" number');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.opts.logger.error(
          { code: 'SEQUENCE_FILE_UNREADABLE', file: this.opts.path, err },
          'event sequence file unreadable: numbering starts again at 1, so consumers may see repeated seq values',
        );
      return { v: 1, reserved: 0, boot: 0 };
    }
  }

  private write(): void {
    const body = JSON.stringify({ v: 1, reserved: this.reserved, boot: this.bootValue } satisfies Persisted);
    const tmp = `${this.opts.path}.tmp`;
    try {
      mkdirSync(dirname(this.opts.path), { recursive: true });
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, body);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.opts.path);
    } catch (err) {
      // Numbering goes on in memory; only a crash before the next successful write could repeat.
      this.opts.logger.error(
        { code: 'SEQUENCE_FILE_WRITE', file: this.opts.path, err },
        'cannot write the event sequence file: a crash now could make the next run repeat seq values',
      );
    }
  }
}
