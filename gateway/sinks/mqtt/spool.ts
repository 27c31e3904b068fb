import {
  closeSync,
  fdatasyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../observability/logger.ts';
import { GatewayError } from '../../observability/errors.ts';
import type { MqttMetrics } from './metrics.ts';

/*
 * Disk spool: append-only segment files holding outgoing MQTT messages in publish order.
 *
 * File `seg-<first seq, 16 digits>.spool`:
 *   header   8 bytes  "MJSP" · u8 version (1) · 3 reserved zero bytes
 *   records  repeated:
 *     u32 LE  body length
 *     u32 LE  CRC-32 (IEEE) of body
 *     body    u64 LE seq · u8 flags (bits 0-1 QoS, bit 2 retain) · u8 kind length · kind (ASCII)
 *             · u16 LE topic length · topic (UTF-8) · payload (rest of body)
 *
 * Synchronous I/O on purpose: writes are batched (one write per spill), and the ordering of
 * append / read / delete / evict stays trivially correct without interleaved callbacks.
 * A record whose length or CRC does not check out ends its segment: what follows cannot be
 * trusted to be framed correctly. A torn last record after a crash looks the same.
 *
 * File `delivered` (u64 LE): every seq at or below it was acknowledged. A segment is deleted
 * only when all its records are; this mark keeps a restart from re-sending the delivered head
 * of a partly delivered segment. It is written at most every DELIVERED_WRITE_MS, so a kill -9
 * can re-send what was acknowledged in that last interval (QoS 1 is at-least-once anyway).
 */

export interface SpoolRecord {
  readonly seq: number;
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  /** Metrics label (activity, subject_state, …). */
  readonly kind: string;
}

export interface Segment {
  readonly name: string;
  readonly path: string;
  readonly firstSeq: number;
  /** File size. */
  bytes: number;
  /** Readable records (a corrupt tail is not counted). */
  records: number;
  /** Records handed to the queue so far, from the start. */
  loaded: number;
  /** Byte offset of the first record not loaded yet. */
  readOffset: number;
  /** Records acknowledged or skipped. */
  done: number;
  /** Still open for appending. */
  open: boolean;
  /** Byte offset where unreadable data starts, when it does. */
  corruptAt?: number;
}

export interface SpoolScan {
  readonly records: number;
  readonly maxSeq: number;
  /** Latest seq of each retained topic on disk, for coalescing. */
  readonly latestRetained: Map<string, number>;
}

export interface SpoolOptions {
  readonly dir: string;
  /** Total size limit; beyond it whole segments are evicted, oldest first. */
  readonly maxBytes: number;
  /** A segment is closed and a new one started past this size. */
  readonly segmentBytes: number;
  readonly logger: Logger;
  readonly metrics: MqttMetrics;
  /** Told how many queued messages an eviction or a corrupt tail removed. */
  readonly onLost: (count: number) => void;
}

const FILE_MAGIC = Buffer.from('MJSP\u0001\u0000\u0000\u0000', 'latin1');
const HEADER_BYTES = FILE_MAGIC.length;
const RECORD_HEADER_BYTES = 8;
/** Anything larger than this is a corrupt length field, not a message (mosquitto's own limit is 256 MiB). */
const MAX_BODY_BYTES = 256 * 1024 * 1024;
const SEGMENT_RE = /^seg-(\d{16})\.spool$/;
const DELIVERED_FILE = 'delivered';
const DELIVERED_WRITE_MS = 100;

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

export function crc32(buf: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

export function encodeRecord(r: SpoolRecord): Buffer {
  const topic = Buffer.from(r.topic, 'utf8');
  const kind = Buffer.from(r.kind, 'latin1');
  if (kind.length > 255)
    throw new GatewayError('MQTT_SPOOL_RECORD', `kind ${JSON.stringify(r.kind)} is longer than 255 bytes`);
  if (topic.length > 0xffff)
    throw new GatewayError('MQTT_SPOOL_RECORD', `topic of ${topic.length} bytes is longer than 65535`);
  const bodyLength = 8 + 1 + 1 + kind.length + 2 + topic.length + r.payload.length;
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + bodyLength);
  let o = RECORD_HEADER_BYTES;
  out.writeBigUInt64LE(BigInt(r.seq), o);
  o += 8;
  out.writeUInt8((r.qos & 3) | (r.retain ? 4 : 0), o++);
  out.writeUInt8(kind.length, o++);
  kind.copy(out, o);
  o += kind.length;
  out.writeUInt16LE(topic.length, o);
  o += 2;
  topic.copy(out, o);
  o += topic.length;
  r.payload.copy(out, o);
  out.writeUInt32LE(bodyLength, 0);
  out.writeUInt32LE(crc32(out.subarray(RECORD_HEADER_BYTES)), 4);
  return out;
}

export type DecodeResult =
  | { readonly ok: true; readonly record: SpoolRecord; readonly next: number }
  | { readonly ok: false; readonly reason: 'truncated' | 'bad_length' | 'bad_crc' | 'bad_body' };

/** Decodes the record at `offset` of `buf`. */
export function decodeRecord(buf: Buffer, offset: number): DecodeResult {
  if (buf.length - offset < RECORD_HEADER_BYTES) return { ok: false, reason: 'truncated' };
  const bodyLength = buf.readUInt32LE(offset);
  if (bodyLength < 12 || bodyLength > MAX_BODY_BYTES) return { ok: false, reason: 'bad_length' };
  const start = offset + RECORD_HEADER_BYTES;
  if (buf.length - start < bodyLength) return { ok: false, reason: 'truncated' };
  const body = buf.subarray(start, start + bodyLength);
  if (crc32(body) !== buf.readUInt32LE(offset + 4)) return { ok: false, reason: 'bad_crc' };
  let o = 0;
  const seq = Number(body.readBigUInt64LE(o));
  o += 8;
  const flags = body.readUInt8(o++);
  const kindLength = body.readUInt8(o++);
  if (o + kindLength + 2 > body.length) return { ok: false, reason: 'bad_body' };
  const kind = body.toString('latin1', o, o + kindLength);
  o += kindLength;
  const topicLength = body.readUInt16LE(o);
  o += 2;
  if (o + topicLength > body.length || (flags & 3) === 3) return { ok: false, reason: 'bad_body' };
  const topic = body.toString('utf8', o, o + topicLength);
  o += topicLength;
  // Copy: the record outlives the read buffer of its segment.
  const payload = Buffer.from(body.subarray(o));
  return {
    ok: true,
    record: { seq, topic, payload, qos: (flags & 3) as 0 | 1 | 2, retain: (flags & 4) !== 0, kind },
    next: start + bodyLength,
  };
}

export class Spool {
  private readonly segments: Segment[] = [];
  private fd: number | undefined;
  private totalBytes = 0;
  private warnedOverCap = false;
  private delivered = 0;
  private deliveredWritten = 0;
  private deliveredWrittenAtMs = 0;

  constructor(private readonly opts: SpoolOptions) {}

  get bytes(): number {
    return this.totalBytes;
  }

  /** Records on disk not yet acknowledged. */
  get pending(): number {
    let n = 0;
    for (const s of this.segments) n += s.records - s.done;
    return n;
  }

  hasUnloaded(): boolean {
    return this.segments.some((s) => s.loaded < s.records);
  }

  segmentNames(): string[] {
    return this.segments.map((s) => s.name);
  }

  /** Reads what a previous run left, checking every record. */
  open(): SpoolScan {
    try {
      mkdirSync(this.opts.dir, { recursive: true });
    } catch (err) {
      throw new GatewayError(
        'MQTT_SPOOL_DIR',
        `mqtt.queue.spoolDir ${this.opts.dir}: cannot create directory`,
        { cause: err },
      );
    }
    const latestRetained = new Map<string, number>();
    let records = 0;
    let maxSeq = 0;
    const deliveredPath = join(this.opts.dir, DELIVERED_FILE);
    try {
      const mark = readFileSync(deliveredPath);
      if (mark.length === 8) this.delivered = this.deliveredWritten = Number(mark.readBigUInt64LE(0));
    } catch {
      // No mark yet: nothing was delivered from this spool.
    }
    const names = readdirSync(this.opts.dir)
      .filter((n) => SEGMENT_RE.test(n))
      .sort();
    for (const name of names) {
      const path = join(this.opts.dir, name);
      const buf = readFileSync(path);
      const firstSeq = Number(SEGMENT_RE.exec(name)![1]);
      const seg: Segment = {
        name,
        path,
        firstSeq,
        bytes: buf.length,
        records: 0,
        loaded: 0,
        readOffset: HEADER_BYTES,
        done: 0,
        open: false,
      };
      if (buf.length < HEADER_BYTES || !buf.subarray(0, HEADER_BYTES).equals(FILE_MAGIC)) {
        // An empty file is a crash between create and first write, not damage.
        if (buf.length > 0) this.reportCorrupt(seg, 0, 'bad_header', 0);
        unlinkSync(path);
        continue;
      }
      let offset = HEADER_BYTES;
      while (offset < buf.length) {
        const r = decodeRecord(buf, offset);
        if (!r.ok) {
          seg.corruptAt = offset;
          this.reportCorrupt(seg, offset, r.reason, 0);
          break;
        }
        seg.records++;
        maxSeq = Math.max(maxSeq, r.record.seq);
        if (r.record.seq <= this.delivered && seg.loaded === seg.records - 1) {
          // Delivered before the restart: skip it as if it had been loaded and acknowledged.
          seg.loaded++;
          seg.done++;
          seg.readOffset = r.next;
        } else if (r.record.retain) {
          latestRetained.set(r.record.topic, r.record.seq);
        }
        offset = r.next;
      }
      if (seg.records === seg.done) {
        unlinkSync(path);
        continue;
      }
      records += seg.records - seg.done;
      this.segments.push(seg);
      this.totalBytes += seg.bytes;
    }
    this.opts.metrics.spoolBytes.set(this.totalBytes);
    // New seqs must stay above the mark, even when every segment is gone.
    return { records, maxSeq: Math.max(maxSeq, this.delivered), latestRetained };
  }

  /**
   * Appends records (ascending seq, all newer than anything on disk) and returns, per
   * record, the segment it went to and the offset just past it.
   */
  append(records: readonly SpoolRecord[]): Array<{ segment: Segment; end: number }> {
    if (records.length === 0) return [];
    const encoded = records.map(encodeRecord);
    const incoming = encoded.reduce((n, b) => n + b.length, 0);
    this.evictFor(incoming);
    const placed: Array<{ segment: Segment; end: number }> = [];
    let batch: Buffer[] = [];
    let seg = this.openSegment(records[0]!.seq);
    const flush = () => {
      if (batch.length === 0) return;
      const buf = Buffer.concat(batch);
      writeAll(this.fd!, buf);
      batch = [];
    };
    for (let i = 0; i < encoded.length; i++) {
      const rec = encoded[i]!;
      if (seg.bytes >= this.opts.segmentBytes && seg.records > 0) {
        flush();
        this.sealOpen();
        seg = this.openSegment(records[i]!.seq);
      }
      batch.push(rec);
      seg.bytes += rec.length;
      seg.records++;
      this.totalBytes += rec.length;
      placed.push({ segment: seg, end: seg.bytes });
    }
    flush();
    this.opts.metrics.spoolBytes.set(this.totalBytes);
    return placed;
  }

  /** The record at `placed` is already in memory (it was spilled while queued): do not read it back. */
  markLoaded(placed: { segment: Segment; end: number }): void {
    placed.segment.loaded++;
    placed.segment.readOffset = placed.end;
  }

  /** Reads up to `max` not-yet-loaded records from the oldest segment that has some. */
  loadNext(max: number): Array<{ record: SpoolRecord; segment: Segment }> {
    const seg = this.segments.find((s) => s.loaded < s.records);
    if (!seg) return [];
    const length = seg.bytes - seg.readOffset;
    const buf = Buffer.allocUnsafe(length);
    const fd = openSync(seg.path, 'r');
    try {
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buf, got, length - got, seg.readOffset + got);
        if (n === 0) break;
        got += n;
      }
      if (got < length) return this.corruptTail(seg, seg.readOffset, 'truncated', []);
    } finally {
      closeSync(fd);
    }
    const out: Array<{ record: SpoolRecord; segment: Segment }> = [];
    let offset = 0;
    while (out.length < max && seg.loaded < seg.records) {
      const r = decodeRecord(buf, offset);
      if (!r.ok) return this.corruptTail(seg, seg.readOffset, r.reason, out);
      out.push({ record: r.record, segment: seg });
      seg.loaded++;
      seg.readOffset += r.next - offset;
      offset = r.next;
    }
    return out;
  }

  /** One record of `segment` was delivered or skipped; the file goes once all are. */
  ack(segment: Segment): void {
    segment.done++;
    this.maybeDelete(segment);
  }

  /** Every seq ≤ `seq` is acknowledged (see the `delivered` file above). */
  markDelivered(seq: number, force = false): void {
    if (seq <= this.delivered && !force) return;
    this.delivered = Math.max(this.delivered, seq);
    const now = Date.now();
    if (!force && now - this.deliveredWrittenAtMs < DELIVERED_WRITE_MS) return;
    if (this.delivered === this.deliveredWritten) return;
    // Only matters while something is on disk; an empty spool needs no mark.
    if (this.segments.length === 0 && !force) return;
    const buf = Buffer.alloc(8);
    buf.writeBigUInt64LE(BigInt(this.delivered));
    try {
      mkdirSync(this.opts.dir, { recursive: true });
      const tmp = join(this.opts.dir, `${DELIVERED_FILE}.tmp`);
      const fd = openSync(tmp, 'w');
      try {
        writeAll(fd, buf);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, join(this.opts.dir, DELIVERED_FILE));
      this.deliveredWritten = this.delivered;
      this.deliveredWrittenAtMs = now;
    } catch (err) {
      this.opts.logger.warn(
        { code: 'MQTT_SPOOL_WRITE', dir: this.opts.dir, err },
        'could not record delivery progress; a restart may re-send some messages',
      );
    }
  }

  /** fsync and close the open segment; the spool stays readable. */
  close(): void {
    this.sealOpen();
  }

  private maybeDelete(seg: Segment): void {
    if (seg.done < seg.records || seg.loaded < seg.records) return;
    if (seg.open) this.sealOpen();
    const i = this.segments.indexOf(seg);
    if (i < 0) return;
    this.segments.splice(i, 1);
    this.totalBytes -= seg.bytes;
    try {
      unlinkSync(seg.path);
    } catch (err) {
      this.opts.logger.warn(
        { code: 'MQTT_SPOOL_DELETE', file: seg.path, err },
        'could not delete a delivered spool segment',
      );
    }
    this.opts.metrics.spoolBytes.set(this.totalBytes);
  }

  private openSegment(firstSeq: number): Segment {
    const last = this.segments[this.segments.length - 1];
    if (last?.open) return last;
    const name = `seg-${String(firstSeq).padStart(16, '0')}.spool`;
    const path = join(this.opts.dir, name);
    try {
      mkdirSync(this.opts.dir, { recursive: true });
      this.fd = openSync(path, 'wx');
    } catch (err) {
      throw new GatewayError('MQTT_SPOOL_WRITE', `cannot create spool segment ${path}`, { cause: err });
    }
    writeAll(this.fd, FILE_MAGIC);
    const seg: Segment = {
      name,
      path,
      firstSeq,
      bytes: HEADER_BYTES,
      records: 0,
      loaded: 0,
      readOffset: HEADER_BYTES,
      done: 0,
      open: true,
    };
    this.segments.push(seg);
    this.totalBytes += HEADER_BYTES;
    return seg;
  }

  private sealOpen(): void {
    const last = this.segments[this.segments.length - 1];
    if (this.fd !== undefined) {
      try {
        fdatasyncSync(this.fd);
      } finally {
        closeSync(this.fd);
        this.fd = undefined;
      }
    }
    if (last?.open) {
      last.open = false;
      this.maybeDelete(last);
    }
  }

  /**
   * Evicts whole segments, oldest first, until `incoming` more bytes fit. Segments whose
   * records are partly in memory (being delivered) are not evicted, so the limit can be
   * exceeded by the segment being replayed.
   */
  private evictFor(incoming: number): void {
    while (this.totalBytes + incoming > this.opts.maxBytes) {
      const victim = this.segments.find((s) => s.loaded === 0);
      if (!victim) {
        if (!this.warnedOverCap) {
          this.warnedOverCap = true;
          this.opts.logger.warn(
            { code: 'MQTT_SPOOL_OVER_LIMIT', bytes: this.totalBytes, maxBytes: this.opts.maxBytes },
            'spool above mqtt.queue.maxSpoolBytes: every segment is being delivered; nothing more can be evicted',
          );
        }
        return;
      }
      if (victim.open) this.sealOpen();
      const lost = victim.records - victim.done;
      const i = this.segments.indexOf(victim);
      if (i >= 0) this.segments.splice(i, 1);
      this.totalBytes -= victim.bytes;
      try {
        unlinkSync(victim.path);
      } catch {
        // Already gone: nothing more to free.
      }
      this.opts.metrics.evicted.inc(lost);
      this.opts.onLost(lost);
      this.opts.logger.warn(
        { code: 'MQTT_SPOOL_EVICTED', file: victim.path, messages: lost, maxBytes: this.opts.maxBytes },
        `spool full: evicted the oldest segment (${lost} messages lost)`,
      );
    }
    this.warnedOverCap = false;
  }

  private corruptTail<T>(seg: Segment, offset: number, reason: string, loadedSoFar: T[]): T[] {
    const lost = seg.records - seg.loaded;
    seg.records = seg.loaded;
    seg.corruptAt = offset;
    this.reportCorrupt(seg, offset, reason, lost);
    this.opts.onLost(lost);
    this.maybeDelete(seg);
    return loadedSoFar;
  }

  private reportCorrupt(seg: Segment, offset: number, reason: string, lostRecords: number): void {
    this.opts.metrics.spoolCorrupt.inc({ reason });
    this.opts.logger.error(
      { code: 'MQTT_SPOOL_CORRUPT', file: seg.path, offset, reason, lostRecords },
      `spool segment ${seg.name} is unreadable from byte ${offset} (${reason}); the rest of it is skipped`,
    );
  }
}

function writeAll(fd: number, buf: Buffer): void {
  let written = 0;
  while (written < buf.length) written += writeSync(fd, buf, written, buf.length - written);
}
