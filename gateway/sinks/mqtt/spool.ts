import { mkdirSync, openSync, closeSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../observability/logger.ts';
import { SegmentLog, type DiskFullReport, type LogPosition } from '../../spool/segment-log.ts';
import type { MqttMetrics } from './metrics.ts';
import { deleteLegacySpool, readLegacySpool } from './spool-legacy.ts';
import { decodeSpoolRecord, encodeSpoolRecord, type SpoolRecord } from './spool-record.ts';

/*
 * The MQTT disk spool: outgoing messages in publish (seq) order, kept in a SegmentLog
 * (gateway/spool/segment-log.ts: segment files, CRC framing, eviction, corrupt tails), each
 * record one message (spool-record.ts). What this adds on top is MQTT's own:
 *
 * File `delivered` (u64 LE): every seq at or below it was acknowledged. SegmentLog deletes a
 * segment only once all its records are acknowledged and, after a restart, hands a partly
 * acknowledged segment out again from its start; this mark lets the next run skip that
 * delivered head instead of re-sending it. It is written at most every DELIVERED_WRITE_MS, so
 * a kill -9 can re-send what was acknowledged in that last interval (QoS 1 is at least once
 * anyway). Seqs on disk only ever grow, so "seq ≤ mark" is always a prefix of the log.
 *
 * Spool files of the previous format (`seg-*.spool`) are carried over once, at open
 * (spool-legacy.ts), then deleted.
 */

export type { SpoolRecord } from './spool-record.ts';
export type SpoolPosition = LogPosition;

export interface SpoolScan {
  /** Messages waiting on disk (not delivered before the restart). */
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
  /** Told how many queued messages an eviction, a corrupt tail or a bad record removed. */
  readonly onLost: (count: number) => void;
  /** The disk refused a write, or accepts them again. */
  readonly onDiskFull?: (report: DiskFullReport) => void;
}

const DELIVERED_FILE = 'delivered';
const DELIVERED_WRITE_MS = 100;
const WARN_EVERY_MS = 60_000;

export class Spool {
  private readonly log: SegmentLog;
  private delivered = 0;
  private deliveredWritten = 0;
  private deliveredWrittenAtMs = 0;
  private markWarnedAtMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: SpoolOptions) {
    this.log = new SegmentLog({
      dir: opts.dir,
      prefix: 'seg',
      maxBytes: opts.maxBytes,
      segmentBytes: opts.segmentBytes,
      codePrefix: 'MQTT',
      maxBytesKey: 'mqtt.queue.maxSpoolBytes',
      logger: opts.logger,
      onEvicted: (r) => {
        opts.metrics.evicted.inc(r.records);
        opts.metrics.dropped.inc({ reason: r.reason }, r.records);
        opts.onLost(r.records);
      },
      onCorrupt: (r) => {
        opts.metrics.spoolCorrupt.inc({ reason: r.reason });
        if (r.lostRecords > 0) opts.onLost(r.lostRecords);
      },
      onBytes: (bytes) => opts.metrics.spoolBytes.set(bytes),
      onDiskFull: (report) => {
        opts.metrics.spoolDiskFull.set(report.full ? 1 : 0);
        opts.onDiskFull?.(report);
      },
    });
  }

  get bytes(): number {
    return this.log.bytes;
  }

  hasUnread(): boolean {
    return this.log.unread > 0;
  }

  segmentNames(): string[] {
    return this.log.segmentNames();
  }

  /** Reads what a previous run left (carrying over old-format files), checking every record. */
  open(): SpoolScan {
    this.delivered = this.deliveredWritten = this.readDeliveredMark();
    const latestRetained = new Map<string, number>();
    let maxSeq = 0;
    /** Already delivered (or unreadable) records in front of the first one to send. */
    let head = 0;
    let live = false;
    let records = 0;
    const visit = (body: Buffer): void => {
      const r = this.decode(body, true);
      if (r) maxSeq = Math.max(maxSeq, r.seq);
      if (!live && (!r || r.seq <= this.delivered)) {
        head++;
        return;
      }
      live = true;
      records++; // an unreadable one too: it is dropped (and uncounted) when read back
      if (r?.retain) latestRetained.set(r.topic, r.seq);
    };
    this.log.open(visit);

    const legacy = readLegacySpool(this.opts.dir, (file, offset, reason) => {
      this.opts.metrics.spoolCorrupt.inc({ reason });
      this.opts.logger.error(
        { code: 'MQTT_SPOOL_CORRUPT', file, offset, reason },
        `old-format spool file ${file} is unreadable from byte ${offset} (${reason}); the rest of it is skipped`,
      );
    });
    if (legacy.files.length > 0) {
      // A crash during an earlier carry-over left some of them in the new log already.
      const after = Math.max(maxSeq, this.delivered);
      const carried = legacy.bodies.filter((b) => (this.decode(b, true)?.seq ?? 0) > after);
      for (const b of carried) visit(b);
      this.log.append(carried);
      this.log.close(); // fsync before the only other copy goes
      deleteLegacySpool(legacy.files);
      this.opts.logger.warn(
        { code: 'MQTT_SPOOL_LEGACY', files: legacy.files, messages: carried.length },
        `carried ${carried.length} messages over from ${legacy.files.length} old-format spool files into the new spool, and deleted them`,
      );
    }

    // Skip the delivered head now rather than when read back: its segment then counts as
    // being delivered, and an eviction never reports those records as lost.
    while (head > 0) {
      const got = this.log.read(head);
      if (got.length === 0) break;
      for (const e of got) this.log.ack(e.position);
      head -= got.length;
    }
    // New seqs must stay above the mark, even when every segment is gone.
    return { records, maxSeq: Math.max(maxSeq, this.delivered), latestRetained };
  }

  /**
   * Appends messages (ascending seq, all newer than anything on disk); returns where each
   * went, or undefined when the disk refused them (nothing written; see SegmentLog).
   */
  append(records: readonly SpoolRecord[]): SpoolPosition[] | undefined {
    return this.log.tryAppend(records.map(encodeSpoolRecord));
  }

  /** fdatasync what was appended so far. */
  sync(): void {
    this.log.sync();
  }

  get diskFull(): boolean {
    return this.log.diskFull !== undefined;
  }

  /** The message at `position` is already in memory (it was spilled while in flight): do not read it back. */
  markRead(position: SpoolPosition): void {
    this.log.markRead(position);
  }

  /** Up to `max` messages not read back yet, oldest first. */
  read(max: number): Array<{ record: SpoolRecord; position: SpoolPosition }> {
    const out: Array<{ record: SpoolRecord; position: SpoolPosition }> = [];
    for (const e of this.log.read(max)) {
      const record = this.decode(e.payload, false);
      if (record && record.seq > this.delivered) {
        out.push({ record, position: e.position });
      } else {
        // Reported when the spool was opened (this run only writes what it can read).
        this.log.ack(e.position);
        this.opts.onLost(1);
      }
    }
    return out;
  }

  /** The message at `position` was delivered or skipped; its segment goes once all are. */
  ack(position: SpoolPosition): void {
    this.log.ack(position);
  }

  /** Every seq ≤ `seq` is acknowledged (see the `delivered` file above). */
  markDelivered(seq: number, force = false): void {
    if (seq <= this.delivered && !force) return;
    this.delivered = Math.max(this.delivered, seq);
    const now = Date.now();
    if (!force && now - this.deliveredWrittenAtMs < DELIVERED_WRITE_MS) return;
    if (this.delivered === this.deliveredWritten) return;
    // Only matters while something is on disk; an empty spool needs no mark.
    if (this.log.segmentNames().length === 0 && !force) return;
    const buf = Buffer.alloc(8);
    buf.writeBigUInt64LE(BigInt(this.delivered));
    try {
      mkdirSync(this.opts.dir, { recursive: true });
      const tmp = join(this.opts.dir, `${DELIVERED_FILE}.tmp`);
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, buf); // 8 bytes: one write
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, join(this.opts.dir, DELIVERED_FILE));
      this.deliveredWritten = this.delivered;
      this.deliveredWrittenAtMs = now;
    } catch (err) {
      // Rate-limited: on a full disk this fails on every acknowledgement.
      if (now - this.markWarnedAtMs >= WARN_EVERY_MS) {
        this.markWarnedAtMs = now;
        this.opts.logger.warn(
          { code: 'MQTT_SPOOL_WRITE', dir: this.opts.dir, err },
          'could not record delivery progress; a restart may re-send some messages (at most one such line a minute)',
        );
      }
    }
  }

  /** fsync and close the open segment; the spool stays readable. */
  close(): void {
    this.log.close();
  }

  private readDeliveredMark(): number {
    try {
      const mark = readFileSync(join(this.opts.dir, DELIVERED_FILE));
      return mark.length === 8 ? Number(mark.readBigUInt64LE(0)) : 0;
    } catch {
      return 0; // no mark yet: nothing was delivered from this spool
    }
  }

  /** The record in `body` (its payload a view into it); undefined, reported if `report`, when unreadable. */
  private decode(body: Buffer, report: boolean): SpoolRecord | undefined {
    const r = decodeSpoolRecord(body);
    if (!r && report) {
      this.opts.metrics.spoolCorrupt.inc({ reason: 'bad_body' });
      this.opts.logger.error(
        { code: 'MQTT_SPOOL_CORRUPT', dir: this.opts.dir, reason: 'bad_body', bytes: body.length },
        `a spool record in ${this.opts.dir} passed its CRC but its fields do not fit together; it is skipped`,
      );
    }
    return r;
  }
}
