import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  statfsSync,
  truncateSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { GatewayError } from '../observability/errors.ts';
import type { Logger } from '../observability/logger.ts';

/*
 * Long file: one on-disk format and the invariants every operation on it shares (framing,
 *   rotation, crash repair, eviction, disk-full rollback); tested as one unit.
 *
 * A durable, append-only log of opaque byte records, kept as numbered segment files in one
 * directory. Sinks use it to keep what their server has not acknowledged yet.
 *
 * File `<prefix>-<segment number, 16 digits>.seg`:
 *   header   8 bytes  "MJSL" · u8 format version (1) · 3 reserved zero bytes
 *   records  repeated:  u32 LE body length · u32 LE CRC-32 (IEEE) of body · body
 *
 * Delivery is at least once: acknowledgements live in memory, so after a restart a segment
 * that was partly acknowledged is delivered again from its start. Consumers make replays
 * harmless (InfluxDB points carry their own timestamps; MQTT consumers see the seq).
 *
 * Synchronous I/O on purpose: appends are batched into one write, and the ordering of
 * append / read / ack / evict stays trivially correct without interleaved callbacks.
 * A record whose length or CRC does not check out ends its segment: nothing after it can be
 * trusted to be framed correctly. A torn last record after a crash looks the same.
 *
 * A full disk (ENOSPC, EDQUOT, EFBIG) never escapes as an exception from `tryAppend`: the
 * failed write is rolled back (partial bytes truncated, files it created deleted — no empty
 * segment is left behind), the oldest segment not out for delivery is evicted (reason
 * `disk_full`) and the write tried again, until it fits or nothing is left to evict. Then the
 * log is "disk full": `tryAppend` returns undefined (the caller keeps the records in memory,
 * bounded, or drops them, counted) and does not touch the disk again for `diskFullRetryMs`.
 * The first success afterwards ends the state. One log line per `logEveryMs` at most.
 */

export type LossReason = 'size_limit' | 'disk_full';

export type CorruptReason = 'bad_header' | 'truncated' | 'bad_length' | 'bad_crc';

export interface SegmentInfo {
  readonly name: string;
  readonly path: string;
  /** Order of segments: ascending, never reused within one directory. */
  readonly number: number;
}

/** Where one record lives; pass it back to `ack` (or `markRead`). */
export interface LogPosition {
  readonly segment: SegmentInfo;
  /** Byte offset just past the record. */
  readonly end: number;
}

export interface LogEntry {
  readonly payload: Buffer;
  readonly position: LogPosition;
}

export interface EvictionReport {
  readonly segment: string;
  /** Records in it that had not been acknowledged (now lost). */
  readonly records: number;
  readonly bytes: number;
  /** Why: the configured size limit, or a disk that refused a write. */
  readonly reason: LossReason;
}

/** The disk refused a write (`full`), or accepts them again (`!full`). */
export interface DiskFullReport {
  readonly full: boolean;
  /** `<codePrefix>_SPOOL_DISK_FULL`, or `<codePrefix>_SPOOL_WRITE` for other write errors. */
  readonly code: string;
  readonly message: string;
}

export interface CorruptionReport {
  readonly segment: string;
  readonly offset: number;
  readonly reason: CorruptReason;
  /** Bytes from `offset` to the end of the file, which are skipped. */
  readonly skippedBytes: number;
  /**
   * Records counted by an earlier scan that are now lost (damage found while reading back);
   * 0 when found by the scan in `open`, where nothing past the damage was ever counted.
   */
  readonly lostRecords: number;
}

export interface SegmentLogOptions {
  readonly dir: string;
  /** File name prefix (letters, digits, - and _). */
  readonly prefix?: string;
  /** Total size limit; beyond it whole segments are evicted, oldest first. */
  readonly maxBytes: number;
  /** A segment is sealed and a new one started past this size. */
  readonly segmentBytes: number;
  /** fdatasync after every append instead of only when a segment is sealed. */
  readonly syncEveryAppend?: boolean;
  /** Error codes are `<codePrefix>_SPOOL_<WHAT>` (e.g. INFLUX_SPOOL_CORRUPT). */
  readonly codePrefix: string;
  /** Config key of the size limit, named in messages (e.g. `influx.maxSpoolBytes`). */
  readonly maxBytesKey: string;
  readonly logger: Logger;
  readonly onEvicted?: (report: EvictionReport) => void;
  readonly onCorrupt?: (report: CorruptionReport) => void;
  /** Called whenever the total size changes. */
  readonly onBytes?: (bytes: number) => void;
  /** The disk refused a write / accepts writes again (see the file comment). */
  readonly onDiskFull?: (report: DiskFullReport) => void;
  /** While the disk is full, appends fail at once for this long before trying again (default 1000). */
  readonly diskFullRetryMs?: number;
  /** At most one disk-full log line per this period (default 60000). */
  readonly logEveryMs?: number;
  /** Wall clock in ms (injected by tests). */
  readonly nowMs?: () => number;
}

export interface OpenReport {
  readonly segments: number;
  readonly records: number;
  readonly bytes: number;
}

interface Segment extends SegmentInfo {
  /** File size as far as this process knows. */
  bytes: number;
  /** Readable records (a corrupt tail is not counted). */
  records: number;
  /** Records handed out (read or marked read), from the start. */
  read: number;
  /** Byte offset of the first record not handed out yet. */
  readOffset: number;
  acked: number;
  open: boolean;
}

export const SEGMENT_LOG_MAGIC = Buffer.from('MJSL\u0001\u0000\u0000\u0000', 'latin1');
export const SEGMENT_HEADER_BYTES = SEGMENT_LOG_MAGIC.length;
export const RECORD_HEADER_BYTES = 8;
/** A length field above this is corruption, not a record. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** Bytes read from a segment at a time when reading records back. */
const READ_CHUNK_BYTES = 256 * 1024;

export function frameRecord(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  out.set(payload, RECORD_HEADER_BYTES);
  return out;
}

export type DecodeResult =
  | { readonly ok: true; readonly payload: Buffer; readonly next: number }
  | { readonly ok: false; readonly reason: 'truncated' | 'bad_length' | 'bad_crc' };

/** Decodes the framed record at `offset` of `buf` (the payload is a view into `buf`). */
export function decodeRecord(buf: Buffer, offset: number): DecodeResult {
  if (buf.length - offset < RECORD_HEADER_BYTES) return { ok: false, reason: 'truncated' };
  const length = buf.readUInt32LE(offset);
  if (length > MAX_RECORD_BYTES) return { ok: false, reason: 'bad_length' };
  const start = offset + RECORD_HEADER_BYTES;
  if (buf.length - start < length) return { ok: false, reason: 'truncated' };
  const payload = buf.subarray(start, start + length);
  if (crc32(payload) !== buf.readUInt32LE(offset + 4)) return { ok: false, reason: 'bad_crc' };
  return { ok: true, payload, next: start + length };
}

export class SegmentLog {
  private readonly segments: Segment[] = [];
  private readonly prefix: string;
  private readonly nameRe: RegExp;
  private fd: number | undefined;
  private totalBytes = 0;
  /** Kept as counters: sinks ask on every write. */
  private unreadRecords = 0;
  private pendingRecords = 0;
  private nextNumber = 1;
  private opened = false;
  private backgroundSync = false;
  private warnedOverCap = false;
  /** Disk-full state: appends fail without touching the disk until `fullRetryAtMs`. */
  private full: DiskFullReport | undefined;
  private fullRetryAtMs = 0;
  private lastFullLogMs = Number.NEGATIVE_INFINITY;
  /**
   * Segment size in use: segmentBytes, but at most a sixteenth of the file system, so on a
   * small disk a full-disk eviction drops a small slice of the oldest data, not all of it.
   */
  private segmentLimit: number;
  /** Records evicted or refused for a full disk since the last log line. */
  private fullEvictedSinceLog = 0;
  private fullRefusedSinceLog = 0;

  constructor(private readonly opts: SegmentLogOptions) {
    this.prefix = opts.prefix ?? 'seg';
    if (!/^[A-Za-z0-9_-]+$/.test(this.prefix))
      throw new RangeError(
        `segment log prefix ${JSON.stringify(this.prefix)}: letters, digits, - and _ only`,
      );
    if (!(opts.segmentBytes > SEGMENT_HEADER_BYTES))
      throw new RangeError(`segmentBytes must exceed ${SEGMENT_HEADER_BYTES}`);
    this.nameRe = new RegExp(`^${this.prefix}-(\\d{16})\\.seg$`);
    this.segmentLimit = opts.segmentBytes;
  }

  get dir(): string {
    return this.opts.dir;
  }

  /** Size of every segment file together. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Records on disk not acknowledged yet. */
  get pending(): number {
    return this.pendingRecords;
  }

  /** Records on disk not handed out by `read` yet. */
  get unread(): number {
    return this.unreadRecords;
  }

  /** Set while the disk refuses writes (see the file comment). */
  get diskFull(): DiskFullReport | undefined {
    return this.full;
  }

  segmentNames(): string[] {
    return this.segments.map((s) => s.name);
  }

  /**
   * Scans what a previous run left, checking every record; `visit` sees each readable one
   * in order (for consumers that rebuild an index). Segments without a readable record are
   * deleted. Call once, before anything else.
   */
  open(visit?: (payload: Buffer) => void): OpenReport {
    if (this.opened) throw new Error('SegmentLog.open called twice');
    this.opened = true;
    try {
      mkdirSync(this.opts.dir, { recursive: true });
    } catch (err) {
      throw this.error('DIR', `spool directory ${this.opts.dir}: cannot create it`, err);
    }
    try {
      const fs = statfsSync(this.opts.dir);
      const diskBytes = fs.blocks * fs.bsize;
      if (diskBytes > 0)
        this.segmentLimit = Math.min(this.opts.segmentBytes, Math.max(64 * 1024, Math.floor(diskBytes / 16)));
    } catch {
      // statfs unsupported here: keep segmentBytes
    }
    let records = 0;
    const names = readdirSync(this.opts.dir)
      .filter((n) => this.nameRe.test(n))
      .sort();
    for (const name of names) {
      const path = join(this.opts.dir, name);
      const number = Number(this.nameRe.exec(name)![1]);
      this.nextNumber = Math.max(this.nextNumber, number + 1);
      const buf = readFileSync(path);
      const seg: Segment = {
        name,
        path,
        number,
        bytes: buf.length,
        records: 0,
        read: 0,
        readOffset: SEGMENT_HEADER_BYTES,
        acked: 0,
        open: false,
      };
      if (
        buf.length < SEGMENT_HEADER_BYTES ||
        !buf.subarray(0, SEGMENT_HEADER_BYTES).equals(SEGMENT_LOG_MAGIC)
      ) {
        // An empty file is a crash between create and header write, not damage.
        if (buf.length > 0) this.reportCorrupt(seg, 0, 'bad_header', 0);
        this.unlink(seg);
        continue;
      }
      let offset = SEGMENT_HEADER_BYTES;
      while (offset < buf.length) {
        const r = decodeRecord(buf, offset);
        if (!r.ok) {
          this.reportCorrupt(seg, offset, r.reason, 0);
          break;
        }
        seg.records++;
        visit?.(r.payload);
        offset = r.next;
      }
      if (seg.records === 0) {
        this.unlink(seg);
        continue;
      }
      records += seg.records;
      this.unreadRecords += seg.records;
      this.pendingRecords += seg.records;
      this.segments.push(seg);
      this.totalBytes += seg.bytes;
    }
    this.opts.onBytes?.(this.totalBytes);
    return { segments: this.segments.length, records, bytes: this.totalBytes };
  }

  /**
   * Appends records after everything already in the log, evicting the oldest segments
   * first if the size limit requires it, and returns where each one went. Throws
   * `<prefix>_SPOOL_DISK_FULL` where `tryAppend` returns undefined.
   */
  append(payloads: readonly (Uint8Array | string)[]): LogPosition[] {
    const placed = this.tryAppend(payloads);
    if (!placed)
      throw new GatewayError(
        this.full?.code ?? this.code('WRITE'),
        this.full?.message ?? 'spool write refused',
      );
    return placed;
  }

  /**
   * As `append`, but a disk that refuses the write (after evicting everything it could,
   * reason `disk_full`) yields undefined: nothing of `payloads` was written.
   */
  tryAppend(payloads: readonly (Uint8Array | string)[]): LogPosition[] | undefined {
    if (!this.opened) throw new Error('SegmentLog.append before open');
    if (payloads.length === 0) return [];
    // Frame everything into one buffer (strings encoded as UTF-8 in place): a spill of tens
    // of thousands of records makes one allocation, not three per record.
    const lengths = payloads.map((p) => (typeof p === 'string' ? Buffer.byteLength(p, 'utf8') : p.length));
    let total = 0;
    for (const n of lengths) {
      if (n > MAX_RECORD_BYTES)
        throw this.error('RECORD', `a record of ${n} bytes is larger than ${MAX_RECORD_BYTES}`);
      total += RECORD_HEADER_BYTES + n;
    }
    const now = this.now();
    if (this.full && now < this.fullRetryAtMs) {
      this.refused(payloads.length, now);
      return undefined;
    }
    const framed = Buffer.allocUnsafe(total);
    let o = 0;
    for (let i = 0; i < payloads.length; i++) {
      const p = payloads[i]!;
      const n = lengths[i]!;
      if (typeof p === 'string') framed.write(p, o + RECORD_HEADER_BYTES, n, 'utf8');
      else framed.set(p, o + RECORD_HEADER_BYTES);
      framed.writeUInt32LE(n, o);
      framed.writeUInt32LE(
        crc32(framed.subarray(o + RECORD_HEADER_BYTES, o + RECORD_HEADER_BYTES + n)),
        o + 4,
      );
      o += RECORD_HEADER_BYTES + n;
    }
    this.evictFor(total);
    for (;;) {
      const before = this.snapshot();
      try {
        const placed = this.writeFramed(framed, lengths);
        if (this.full) this.recovered();
        this.opts.onBytes?.(this.totalBytes);
        return placed;
      } catch (err) {
        this.rollback(before);
        const cause = (err as { cause?: unknown }).cause ?? err;
        const errno = (cause as NodeJS.ErrnoException).code;
        const space = errno === 'ENOSPC' || errno === 'EDQUOT' || errno === 'EFBIG';
        if (space) {
          // Oldest first, as for the size limit: make room for the newest data.
          const victim = this.segments.find((seg) => seg.read === 0);
          if (victim) {
            this.evict(victim, 'disk_full');
            continue;
          }
        }
        this.enterFull(space, cause, now);
        this.refused(payloads.length, now);
        this.opts.onBytes?.(this.totalBytes);
        return undefined;
      }
    }
  }

  /** fdatasync the open segment: what was appended survives a power loss too. */
  sync(): void {
    if (this.fd === undefined) return;
    try {
      fdatasyncSync(this.fd);
    } catch (err) {
      this.enterFull(false, err, this.now());
    }
  }

  /**
   * As `sync`, on libuv's thread pool: the caller goes on while the disk syncs (a sink's
   * periodic durability sync is then off its event loop). One at a time; a call while one is
   * running is folded into it. A segment sealed meanwhile was synced by `sealOpen` itself, so
   * a descriptor closed under the pending call (EBADF) is no error.
   */
  syncInBackground(): void {
    if (this.fd === undefined || this.backgroundSync) return;
    this.backgroundSync = true;
    fdatasync(this.fd, (err) => {
      this.backgroundSync = false;
      if (err && err.code !== 'EBADF') this.enterFull(false, err, this.now());
    });
  }

  private writeFramed(framed: Buffer, lengths: readonly number[]): LogPosition[] {
    const placed: LogPosition[] = [];
    let from = 0; // start of the bytes not written yet
    let o = 0;
    let seg = this.openSegment();
    for (const n of lengths) {
      const size = RECORD_HEADER_BYTES + n;
      if (seg.bytes >= this.segmentLimit && seg.records > 0) {
        this.writeAll(framed.subarray(from, o));
        from = o;
        this.sealOpen();
        seg = this.openSegment();
      }
      seg.bytes += size;
      seg.records++;
      this.unreadRecords++;
      this.pendingRecords++;
      this.totalBytes += size;
      o += size;
      placed.push({ segment: seg, end: seg.bytes });
    }
    this.writeAll(framed.subarray(from, o));
    if (this.opts.syncEveryAppend && this.fd !== undefined) fdatasyncSync(this.fd);
    return placed;
  }

  private snapshot(): AppendSnapshot {
    const last = this.segments[this.segments.length - 1];
    const open = last?.open ? last : undefined;
    return {
      segments: this.segments.length,
      open,
      openBytes: open?.bytes ?? 0,
      openRecords: open?.records ?? 0,
      totalBytes: this.totalBytes,
      unread: this.unreadRecords,
      pending: this.pendingRecords,
    };
  }

  /** Undoes a failed append: its bytes are cut off, the segments it started deleted. */
  private rollback(before: AppendSnapshot): void {
    for (const seg of this.segments.splice(before.segments)) {
      if (seg.open && this.fd !== undefined) {
        closeSync(this.fd);
        this.fd = undefined;
      }
      this.unlink(seg);
    }
    const seg = before.open;
    if (seg) {
      try {
        if (seg.open && this.fd !== undefined) ftruncateSync(this.fd, before.openBytes);
        else truncateSync(seg.path, before.openBytes);
      } catch (err) {
        // The bytes past openBytes stay, unreferenced; a later open sees a torn tail at most.
        this.opts.logger.warn(
          { code: this.code('WRITE'), file: seg.path, err },
          `could not cut a failed write off spool segment ${seg.name}`,
        );
        if (seg.open && this.fd !== undefined) {
          closeSync(this.fd);
          this.fd = undefined;
          seg.open = false;
        }
      }
      seg.bytes = before.openBytes;
      seg.records = before.openRecords;
    }
    this.totalBytes = before.totalBytes;
    this.unreadRecords = before.unread;
    this.pendingRecords = before.pending;
  }

  private enterFull(space: boolean, cause: unknown, now: number): void {
    const was = this.full;
    this.full = {
      full: true,
      code: this.code(space ? 'DISK_FULL' : 'WRITE'),
      message: space
        ? `disk full under spool directory ${this.opts.dir}: oldest data evicted, new data kept in memory (bounded) until space returns`
        : `cannot write to spool directory ${this.opts.dir}: ${(cause as Error)?.message ?? String(cause)}`,
    };
    this.fullRetryAtMs = now + (this.opts.diskFullRetryMs ?? 1000);
    if (!was || was.code !== this.full.code) this.opts.onDiskFull?.(this.full);
    if (!was) this.logFull(now, cause);
  }

  private refused(records: number, now: number): void {
    this.fullRefusedSinceLog += records;
    if (now - this.lastFullLogMs >= (this.opts.logEveryMs ?? 60000)) this.logFull(now);
  }

  private logFull(now: number, cause?: unknown): void {
    if (!this.full) return;
    this.opts.logger.error(
      {
        code: this.full.code,
        dir: this.opts.dir,
        evictedRecords: this.fullEvictedSinceLog,
        refusedRecords: this.fullRefusedSinceLog,
        ...(cause ? { err: cause } : {}),
      },
      `${this.full.message} (since the last report: ${this.fullEvictedSinceLog} records evicted, ${this.fullRefusedSinceLog} not written; at most one such line per ${this.opts.logEveryMs ?? 60000} ms)`,
    );
    this.lastFullLogMs = now;
    this.fullEvictedSinceLog = 0;
    this.fullRefusedSinceLog = 0;
  }

  private recovered(): void {
    const was = this.full!;
    this.full = undefined;
    this.opts.logger.warn(
      {
        code: this.code('DISK_OK'),
        previous: was.code,
        evictedRecords: this.fullEvictedSinceLog,
        refusedRecords: this.fullRefusedSinceLog,
      },
      `spool directory ${this.opts.dir} accepts writes again`,
    );
    this.fullEvictedSinceLog = 0;
    this.fullRefusedSinceLog = 0;
    this.lastFullLogMs = Number.NEGATIVE_INFINITY;
    this.opts.onDiskFull?.({ full: false, code: was.code, message: 'spool writes succeed again' });
  }

  private now(): number {
    return this.opts.nowMs ? this.opts.nowMs() : Date.now();
  }

  /**
   * The caller still holds the record at `position` in memory (it was appended while being
   * delivered): count it as read so `read` does not hand it out again. Must be the next
   * unread record.
   */
  markRead(position: LogPosition): void {
    const seg = position.segment as Segment;
    const next = this.segments.find((s) => s.read < s.records);
    if (next !== seg) throw new Error(`markRead: ${seg.name} is not the oldest segment with unread records`);
    seg.read++;
    this.unreadRecords--;
    seg.readOffset = position.end;
  }

  /**
   * Hands out up to `maxRecords` unread records (and about `maxBytes` of payload), oldest
   * first, across segments. A corrupt record ends its segment; reading goes on with the next.
   */
  read(maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): LogEntry[] {
    const out: LogEntry[] = [];
    let bytes = 0;
    // A copy: a corrupt segment may be dropped from the list while reading.
    for (const seg of [...this.segments]) {
      if (out.length >= maxRecords || bytes >= maxBytes) break;
      if (seg.read >= seg.records) continue;
      bytes += this.readSegment(seg, maxRecords - out.length, maxBytes - bytes, out);
    }
    return out;
  }

  /** The record at `position` was delivered (or given up on); a segment goes once all are. */
  ack(position: LogPosition): void {
    const seg = position.segment as Segment;
    seg.acked++;
    this.pendingRecords--;
    this.maybeDelete(seg);
  }

  /** fsync and close the open segment; what is on disk stays for the next open. */
  close(): void {
    try {
      this.sealOpen();
    } catch (err) {
      this.opts.logger.warn(
        { code: this.code('WRITE'), dir: this.opts.dir, err },
        'could not fsync the open spool segment at close',
      );
    }
  }

  private readSegment(seg: Segment, maxRecords: number, maxBytes: number, out: LogEntry[]): number {
    let fd: number;
    try {
      fd = openSync(seg.path, 'r');
    } catch (err) {
      this.reportCorrupt(seg, seg.readOffset, 'truncated', seg.records - seg.read, err);
      this.truncateAtRead(seg);
      return 0;
    }
    let payloadBytes = 0;
    let got = 0;
    try {
      let buf: Buffer = Buffer.alloc(0);
      let bufStart = seg.readOffset;
      while (got < maxRecords && payloadBytes < maxBytes && seg.read < seg.records) {
        let r = decodeRecord(buf, seg.readOffset - bufStart);
        if (!r.ok && r.reason === 'truncated') {
          // Refill from the next unread byte; once more if the record in front is larger.
          const remaining = seg.bytes - seg.readOffset;
          buf = readExactly(fd, seg.readOffset, Math.min(READ_CHUNK_BYTES, remaining));
          bufStart = seg.readOffset;
          r = decodeRecord(buf, 0);
          if (!r.ok && r.reason === 'truncated' && buf.length >= RECORD_HEADER_BYTES) {
            const need = RECORD_HEADER_BYTES + buf.readUInt32LE(0);
            if (need > buf.length && need <= remaining) {
              buf = readExactly(fd, seg.readOffset, need);
              r = decodeRecord(buf, 0);
            }
          }
        }
        if (!r.ok) {
          this.reportCorrupt(seg, seg.readOffset, r.reason, seg.records - seg.read);
          this.truncateAtRead(seg);
          break;
        }
        // Copy: the entry outlives the read buffer.
        out.push({ payload: Buffer.from(r.payload), position: { segment: seg, end: bufStart + r.next } });
        payloadBytes += r.payload.length;
        got++;
        seg.read++;
        this.unreadRecords--;
        seg.readOffset = bufStart + r.next;
      }
    } finally {
      closeSync(fd);
    }
    return payloadBytes;
  }

  /** The unread rest of `seg` is unreadable: forget it, and delete the file once the rest is acknowledged. */
  private truncateAtRead(seg: Segment): void {
    const lost = seg.records - seg.read;
    this.unreadRecords -= lost;
    this.pendingRecords -= lost;
    seg.records = seg.read;
    if (seg.open) this.sealOpen();
    this.maybeDelete(seg);
  }

  private maybeDelete(seg: Segment): void {
    if (seg.acked < seg.records || seg.read < seg.records) return;
    if (seg.open) {
      this.sealOpen();
      return; // sealOpen comes back here with the segment closed
    }
    const i = this.segments.indexOf(seg);
    if (i < 0) return;
    this.segments.splice(i, 1);
    this.totalBytes -= seg.bytes;
    this.unlink(seg);
    this.opts.onBytes?.(this.totalBytes);
  }

  private openSegment(): Segment {
    const last = this.segments[this.segments.length - 1];
    if (last?.open) return last;
    const number = this.nextNumber++;
    const name = `${this.prefix}-${String(number).padStart(16, '0')}.seg`;
    const path = join(this.opts.dir, name);
    try {
      mkdirSync(this.opts.dir, { recursive: true });
      this.fd = openSync(path, 'wx');
    } catch (err) {
      throw this.error('WRITE', `cannot create spool segment ${path}`, err);
    }
    try {
      this.writeAll(SEGMENT_LOG_MAGIC);
    } catch (err) {
      // No empty or headless file stays behind.
      closeSync(this.fd);
      this.fd = undefined;
      this.unlink({ name, path, number });
      throw err;
    }
    const seg: Segment = {
      name,
      path,
      number,
      bytes: SEGMENT_HEADER_BYTES,
      records: 0,
      read: 0,
      readOffset: SEGMENT_HEADER_BYTES,
      acked: 0,
      open: true,
    };
    this.segments.push(seg);
    this.totalBytes += SEGMENT_HEADER_BYTES;
    return seg;
  }

  private sealOpen(): void {
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      try {
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    const last = this.segments[this.segments.length - 1];
    if (last?.open) {
      last.open = false;
      this.maybeDelete(last);
    }
  }

  /**
   * Evicts whole segments, oldest first, until `incoming` more bytes fit. A segment some of
   * whose records are out for delivery is not evicted (the caller holds them), so the limit
   * can be exceeded by that one segment.
   */
  private evictFor(incoming: number): void {
    while (this.totalBytes + incoming > this.opts.maxBytes) {
      const victim = this.segments.find((s) => s.read === 0);
      if (!victim) {
        if (!this.warnedOverCap) {
          this.warnedOverCap = true;
          this.opts.logger.warn(
            { code: this.code('OVER_LIMIT'), bytes: this.totalBytes, maxBytes: this.opts.maxBytes },
            `spool above ${this.opts.maxBytesKey}: every segment is being delivered, nothing more can be evicted`,
          );
        }
        return;
      }
      this.evict(victim, 'size_limit');
    }
    this.warnedOverCap = false;
  }

  private evict(victim: Segment, reason: LossReason): void {
    if (victim.open) {
      // Sealing first: the file is complete on disk before it is removed.
      if (this.fd !== undefined) {
        closeSync(this.fd);
        this.fd = undefined;
      }
      victim.open = false;
    }
    const lost = victim.records - victim.acked;
    this.unreadRecords -= victim.records - victim.read;
    this.pendingRecords -= lost;
    this.segments.splice(this.segments.indexOf(victim), 1);
    this.totalBytes -= victim.bytes;
    this.unlink(victim);
    if (reason === 'size_limit')
      this.opts.logger.warn(
        { code: this.code('EVICTED'), file: victim.path, records: lost, maxBytes: this.opts.maxBytes },
        `spool reached ${this.opts.maxBytesKey} (${this.opts.maxBytes} bytes): evicted the oldest segment ${victim.name} (${lost} records lost)`,
      );
    else this.fullEvictedSinceLog += lost; // in the rate-limited disk-full line
    this.opts.onEvicted?.({ segment: victim.name, records: lost, bytes: victim.bytes, reason });
  }

  private reportCorrupt(
    seg: Segment,
    offset: number,
    reason: CorruptReason,
    lostRecords: number,
    cause?: unknown,
  ): void {
    const skippedBytes = Math.max(0, seg.bytes - offset);
    this.opts.logger.error(
      {
        code: this.code('CORRUPT'),
        file: seg.path,
        offset,
        reason,
        skippedBytes,
        lostRecords,
        ...(cause ? { err: cause } : {}),
      },
      `spool segment ${seg.name} is unreadable from byte ${offset} (${reason}); the rest of that segment is skipped`,
    );
    this.opts.onCorrupt?.({ segment: seg.name, offset, reason, skippedBytes, lostRecords });
  }

  private unlink(seg: SegmentInfo): void {
    try {
      unlinkSync(seg.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.opts.logger.warn(
          { code: this.code('DELETE'), file: seg.path, err },
          `could not delete spool segment ${seg.name}`,
        );
    }
  }

  private writeAll(buf: Buffer): void {
    let written = 0;
    try {
      while (written < buf.length) written += writeSync(this.fd!, buf, written, buf.length - written);
    } catch (err) {
      throw this.error('WRITE', `cannot write to spool directory ${this.opts.dir}`, err);
    }
  }

  private code(what: string): string {
    return `${this.opts.codePrefix}_SPOOL_${what}`;
  }

  private error(what: string, message: string, cause?: unknown): GatewayError {
    return new GatewayError(this.code(what), message, cause === undefined ? {} : { cause });
  }
}

interface AppendSnapshot {
  readonly segments: number;
  readonly open: Segment | undefined;
  readonly openBytes: number;
  readonly openRecords: number;
  readonly totalBytes: number;
  readonly unread: number;
  readonly pending: number;
}

function readExactly(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got < length ? buf.subarray(0, got) : buf;
}
