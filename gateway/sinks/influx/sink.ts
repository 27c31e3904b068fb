// Long file: one sink's lifecycle (batching, retries with backoff, disk spool, durability ticks, drain) around one client; owned by the influx work, to be split there (queue items and request bodies are the next seam).
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { InfluxDB } from '@influxdata/influxdb-client';
import type { Registry } from 'prom-client';
import type { ActivityEvent, DeviceState, SubjectState } from '../../domain/events.ts';
import type { ImuChunk } from '../../domain/samples.ts';
import { systemClock, type Clock, type TimeNs } from '../../domain/time.ts';
import { GatewayError, errorMessage } from '../../observability/errors.ts';
import type { HealthRegistry } from '../../observability/health.ts';
import type { Logger } from '../../observability/logger.ts';
import { redactUrl } from '../../observability/redact.ts';
import { SegmentLog, type LogPosition } from '../../spool/segment-log.ts';
import { ImuDownsampler } from './imu-downsampler.ts';
import {
  PointSerializer,
  imuSampleLines,
  pipelineLine,
  type PipelineStats,
  type RepsRecord,
} from './line-protocol.ts';
import { LineSlabs, type SlabRange } from './line-slabs.ts';
import { InfluxMetrics } from './metrics.ts';
import type { InfluxTarget } from './options.ts';
import { ProbeTurn } from './probe-turn.ts';
import { classifyWriteError, retryDelayMs, type WriteFailure } from './retry.ts';

export interface InfluxSinkOptions {
  /** Tag `gateway` of every point. */
  readonly gatewayId: string;
  /** Server base URL (http:// or https://, no /api/v2). */
  readonly url: string;
  readonly target: InfluxTarget;
  readonly tls?: { readonly ca?: string; readonly rejectUnauthorized?: boolean };
  /** Points per request at most (default 5000). */
  readonly batchSize?: number;
  /**
   * A partial batch waits at most this long (default 1000), and at most a quarter of
   * syncIntervalMs, so it reaches a server that keeps up before the durability bound spills it.
   */
  readonly flushIntervalMs?: number;
  /**
   * Write requests in flight at once (default 4). Points carry their own timestamps, so
   * batches may land in any order. Until the server has accepted a write, and while writes
   * fail, one at a time. 1 = the single-request design of earlier versions.
   */
  readonly maxInFlight?: number;
  readonly timeoutMs?: number;
  /** Retries of a refusal that may pass before the batch is dropped (default 5). */
  readonly maxRetries?: number;
  readonly minRetryDelayMs?: number;
  readonly maxRetryDelayMs?: number;
  /** Memory-only points held before everything is spilled to disk (default 50000). */
  readonly memoryQueuePoints?: number;
  readonly spoolDir: string;
  readonly maxSpoolBytes?: number;
  readonly segmentBytes?: number;
  /**
   * Durability bound: a point accepted this long ago and not yet written to the server is
   * on disk (spilled and fdatasynced), so a kill -9 loses at most this much (default 1000; 0 = off).
   */
  readonly syncIntervalMs?: number;
  /** 0 (default): no averaged `imu` points. */
  readonly imuDownsampleHz?: number;
  /** Every IMU sample as its own `imu` point at its own time (takes precedence over imuDownsampleHz). */
  readonly imuRaw?: boolean;
  /** Period of the sink's own `pipeline` point (stage sink:influx); 0 (default) writes none. */
  readonly statsIntervalMs?: number;
  /** How long stop() keeps writing before spooling the rest (default 5000). */
  readonly drainTimeoutMs?: number;
  /** Request bodies larger than this are gzipped (default 1000 bytes). */
  readonly gzipThresholdBytes?: number;
  /**
   * zlib level of the gzipped bodies (default 1; 0 sends them uncompressed, 6 is zlib's and the
   * client's default). On a batch of raw IMU lines (bench/influx) level 1 makes 11 % of the
   * raw size for 0.4 µs of CPU per point, level 6 7 % for 1.1 µs; the compression runs on
   * libuv's thread pool, off the main thread.
   */
  readonly gzipLevel?: number;
  /**
   * Raw IMU lines written as bytes into large buffers (LineSlabs), and what one write call
   * brings (a chunk's IMU lines, an event's lines) queued as one item (default true). false:
   * a string and a queued item per point, as earlier versions did (for before/after benchmarks).
   */
  readonly lineBlocks?: boolean;
  /**
   * Points spilled by the durability bound while the server keeps up stay in memory too, so
   * they are sent from memory instead of read back from disk (default true). They count
   * against memoryQueuePoints; during an outage, or past that bound, spilled points leave
   * memory as before. false: every spill empties the memory queue, as earlier versions did.
   */
  readonly keepSpilledInMemory?: boolean;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly health?: HealthRegistry;
  readonly clock?: Clock;
}

/**
 * Points on their way, queued together: the lines one write call brought (a chunk's IMU
 * samples, an event's lines), or records read back from the spool. In memory, and once
 * spilled, also on disk, one spool record per line at `pos`.
 */
interface Item {
  /** The lines as a string, one `\n` between them (events, spool records)… */
  readonly text: string | undefined;
  /** …or as bytes: `slab[start, end)`, each line ending in `\n` (raw IMU, see LineSlabs). */
  readonly slab: Buffer | undefined;
  readonly start: number;
  readonly end: number;
  /** Points (lines) in it. */
  readonly count: number;
  /** Order of acceptance of its first point (1, 2, …), for the durability bound; 0 when read from the spool. */
  readonly n: number;
  /** Once spilled: where each of its lines is in the spool. */
  pos: LogPosition[] | undefined;
  done: boolean;
}

/** A batch out for delivery: its items, how many points are not settled yet, and how many of those are only in memory. */
interface Batch {
  items: Item[];
  left: number;
  memoryOnly: number;
}

const gzip = promisify(gzipCallback);
const GZIP_CHUNK_BYTES = 256 * 1024;

/** One queued item per this many points at most (so a batch can be filled close to batchSize). */
const MAX_BLOCK_POINTS = 500;

const HEALTH_COMPONENT = 'influx';

/**
 * Writes the gateway's points to InfluxDB (or anything that accepts /api/v2/write).
 *
 * Up to maxInFlight batches are out at once (workers taking batches from one queue): every
 * point carries its own timestamp, so the order batches land in does not matter, and one
 * request at a time (the ceiling of earlier versions, about the full load of 1,000 devices)
 * is no longer the limit. The disk spool is written first, then the memory queue. Until
 * the server has accepted a write, and while writes fail, one batch at a time goes out and
 * the batches held from before the failure wait their turn to retry ({@link ProbeTurn}).
 *
 * The memory queue holds items, not points: the lines of one write call (a chunk's raw IMU
 * as a range of a LineSlabs buffer, an event's lines as one string), so 50,000 IMU points/s
 * are 5,000 queued items/s and a batch's body is mostly one contiguous buffer range.
 *
 * The spool keeps what the server has not taken in time: a spill appends every memory-only
 * point, one record per line (those in flight marked read, because they are still held).
 * While the server takes writes, the queued points spilled by the durability bound stay in
 * memory too (`kept`, marked read, sent first): a slow server costs an append, not a read
 * back as well. Invariant: a batch is taken from the memory-only points only while the spool
 * has nothing unread, so the points held in flight (and kept) are always the next records a
 * spill appends (SegmentLog.markRead needs that). While the server keeps up, nothing is
 * spilled: a partial batch goes out well within the durability bound (see flushIntervalMs).
 *
 * Never blocks and never throws at the caller for a missing server: the write methods only
 * queue.
 */
export class InfluxSink {
  readonly metrics: InfluxMetrics;
  private readonly spool: SegmentLog;
  private readonly client: InfluxDB;
  private readonly path: string;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxRetries: number;
  private readonly backoff: { minDelayMs: number; maxDelayMs: number };
  private readonly memoryQueuePoints: number;
  private readonly maxInFlight: number;
  private readonly downsampler: ImuDownsampler | undefined;
  /**
   * Items in memory, oldest first: `kept` items at the front are also in the spool (spilled
   * by the durability bound and marked read there, see keepSpilledInMemory), the rest are
   * only here.
   */
  private memory: Item[] = [];
  private kept = 0;
  private keptPoints = 0;
  /** Points of the memory items that are only in memory. */
  private memoryOnlyPoints = 0;
  private readonly blockPoints: number;
  /** Raw IMU lines as bytes (lineBlocks); undefined: a string per line as earlier versions. */
  private readonly slabs: LineSlabs | undefined;
  private readonly gzipLevel: number;
  /** Batches out for delivery, in the order they were taken. */
  private readonly inFlight = new Set<Batch>();
  /** Delivery loops running now, each holding at most one batch. */
  private readonly workers = new Set<Promise<void>>();
  private readonly probe = new ProbeTurn();
  /** True once the server has accepted a write: only then more than one request at a time. */
  private everWritten = false;
  private pumpFailed = false;
  private flushDue = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  /** Points accepted so far, and that count at the previous durability tick. */
  private accepted = 0;
  private acceptedAtLastTick = 0;
  /** Set while the disk under the spool refuses writes. */
  private diskFull: { code: string; message: string; at: string } | undefined;
  private readonly sleepers = new Set<() => void>();
  /** The requests in flight, aborted by stop(); one controller per request (the client adds a listener to its signal and never removes it). */
  private readonly requests = new Set<AbortController>();
  private idleWaiters: Array<() => void> = [];
  private started = false;
  private stopping = false;
  private stopped = false;
  private connectedNow: boolean | undefined;
  /** The last error seen; stays visible in /health after recovery. */
  private lastError: { code: string; message: string; at: string } | undefined;
  /** Set while writes fail (server away or refusing); cleared by the next successful write. */
  private failing = false;
  private droppedTotal = 0;
  private warnedStopped = false;
  private readonly points: PointSerializer;

  constructor(private readonly opts: InfluxSinkOptions) {
    this.metrics = new InfluxMetrics(opts.registry);
    this.points = new PointSerializer(opts.gatewayId);
    this.logger = opts.logger.child({ component: 'influx' });
    this.clock = opts.clock ?? systemClock;
    this.batchSize = opts.batchSize ?? 5000;
    const syncMs = opts.syncIntervalMs ?? 1000;
    this.flushIntervalMs = Math.min(
      opts.flushIntervalMs ?? 1000,
      syncMs > 0 ? Math.max(1, Math.floor(syncMs / 4)) : Number.POSITIVE_INFINITY,
    );
    this.maxRetries = opts.maxRetries ?? 5;
    this.backoff = { minDelayMs: opts.minRetryDelayMs ?? 500, maxDelayMs: opts.maxRetryDelayMs ?? 30000 };
    this.memoryQueuePoints = opts.memoryQueuePoints ?? 50000;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 4);
    this.downsampler = opts.imuDownsampleHz ? new ImuDownsampler(opts.imuDownsampleHz) : undefined;
    this.blockPoints =
      opts.lineBlocks === false ? 1 : Math.max(1, Math.min(this.batchSize, MAX_BLOCK_POINTS));
    this.gzipLevel = opts.gzipLevel ?? 1;
    this.slabs = opts.lineBlocks === false ? undefined : new LineSlabs(opts.gatewayId);
    const transportOptions: Record<string, unknown> = {};
    if (opts.tls?.ca !== undefined) {
      try {
        transportOptions['ca'] = readFileSync(opts.tls.ca);
      } catch (err) {
        throw new GatewayError(
          'INFLUX_TLS_CA',
          `influx.tls.ca ${opts.tls.ca}: cannot read the CA certificate file`,
          { cause: err },
        );
      }
    }
    if (opts.tls?.rejectUnauthorized !== undefined)
      transportOptions['rejectUnauthorized'] = opts.tls.rejectUnauthorized;
    if (!/^https?:\/\//.test(opts.url))
      throw new GatewayError(
        'INFLUX_CONFIG',
        `influx.url ${JSON.stringify(redactUrl(opts.url))}: expected http:// or https://`,
      );
    this.client = new InfluxDB({
      url: opts.url,
      ...(opts.target.token !== undefined ? { token: opts.target.token } : {}),
      timeout: opts.timeoutMs ?? 10000,
      transportOptions,
    });
    const q = new URLSearchParams({ org: opts.target.org, bucket: opts.target.bucket, precision: 'ns' });
    this.path = `/api/v2/write?${q.toString()}`;
    this.spool = new SegmentLog({
      dir: opts.spoolDir,
      prefix: 'influx',
      maxBytes: opts.maxSpoolBytes ?? 256 * 1024 * 1024,
      segmentBytes: Math.max(
        4096,
        Math.min(
          opts.segmentBytes ?? 4 * 1024 * 1024,
          Math.floor((opts.maxSpoolBytes ?? 256 * 1024 * 1024) / 4),
        ),
      ),
      codePrefix: 'INFLUX',
      maxBytesKey: 'influx.maxSpoolBytes',
      logger: this.logger,
      onEvicted: (r) => {
        this.metrics.evicted.inc(r.records);
        this.metrics.dropped.inc({ reason: r.reason }, r.records);
        this.droppedTotal += r.records;
        this.noteError(
          'INFLUX_SPOOL_EVICTED',
          r.reason === 'disk_full'
            ? `disk full: ${r.records} oldest points evicted from the spool`
            : `spool full: ${r.records} oldest points evicted`,
        );
      },
      onDiskFull: (r) => {
        this.metrics.spoolDiskFull.set(r.full ? 1 : 0);
        this.diskFull = r.full
          ? { code: r.code, message: r.message, at: new Date().toISOString() }
          : undefined;
        if (this.started && !this.stopped) this.reportHealth('up');
      },
      onCorrupt: (r) => {
        this.metrics.spoolCorrupt.inc({ reason: r.reason });
        this.noteError(
          'INFLUX_SPOOL_CORRUPT',
          `spool segment ${r.segment} unreadable from byte ${r.offset} (${r.reason}); the rest of it was skipped`,
        );
      },
      onBytes: (b) => this.metrics.spoolBytes.set(b),
    });
  }

  /** Reads what a previous run left in the spool and starts delivering it. */
  async start(): Promise<void> {
    if (this.started) return;
    this.reportHealth('starting');
    const found = this.spool.open();
    if (found.records > 0)
      this.logger.info(
        { points: found.records, bytes: found.bytes, dir: this.opts.spoolDir },
        'resuming points spooled by a previous run',
      );
    this.started = true;
    if (this.memoryOnlyPoints > this.memoryQueuePoints) this.spill(false);
    const statsMs = this.opts.statsIntervalMs ?? 0;
    if (statsMs > 0) {
      this.statsTimer = setInterval(() => this.writeOwnStats(), statsMs);
      this.statsTimer.unref();
    }
    this.startDurabilityTicks();
    this.updateGauges();
    this.reportHealth('up');
    this.kick();
  }

  // ---- what the gateway writes ------------------------------------------------------------

  writeActivity(e: ActivityEvent): void {
    this.enqueue(this.points.activity(e));
  }

  writeReps(r: RepsRecord): void {
    this.enqueue(this.points.reps(r));
  }

  writeSubjectState(s: SubjectState): void {
    this.enqueue(this.points.subjectState(s));
  }

  /** `timeNs` defaults to now on the sink's clock (device states carry no time of their own). */
  writeDevice(d: DeviceState, timeNs: TimeNs = this.clock.nowNs()): void {
    this.enqueue(this.points.device(d, timeNs));
  }

  writePipeline(stats: PipelineStats | readonly PipelineStats[]): void {
    this.enqueue(
      this.points.pipeline(
        Array.isArray(stats) ? (stats as readonly PipelineStats[]) : [stats as PipelineStats],
      ),
    );
  }

  /** Raw IMU: every sample (imuRaw), or averaged to imuDownsampleHz; ignored when neither is on. */
  writeImu(chunk: ImuChunk): void {
    if (this.opts.imuRaw) {
      if (this.slabs && chunk.tNs.length <= this.blockPoints && !this.stopped) {
        const range = this.slabs.imuChunk(chunk);
        this.countSkipped(range.skipped);
        if (range.count > 0) this.enqueueRange(range);
        return;
      }
      const { lines, skipped } = imuSampleLines(this.opts.gatewayId, chunk);
      this.countSkipped(skipped);
      this.enqueue(lines);
      return;
    }
    if (!this.downsampler) return;
    this.enqueue(this.points.imu(this.downsampler.push(chunk)));
  }

  private countSkipped(skipped: number): void {
    if (skipped === 0) return;
    this.metrics.failed.inc({ reason: 'no_finite_value' }, skipped);
    this.droppedTotal += skipped;
  }

  /** Line protocol the caller made itself (nanosecond timestamps). */
  writeLines(lines: readonly string[]): void {
    this.enqueue(lines);
  }

  // ---- state ------------------------------------------------------------------------------

  /** Points not written yet: in memory, on disk and in flight. */
  get queued(): number {
    return this.keptPoints + this.memoryOnlyPoints + this.inFlightCount() + this.spool.unread;
  }

  get spoolBytes(): number {
    return this.spool.bytes;
  }

  get connected(): boolean {
    return this.connectedNow === true;
  }

  /** Sends what is queued now without waiting for a full batch, and resolves once nothing is left (or after `timeoutMs`). */
  async flush(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    this.flushDue = true;
    this.kick();
    return this.waitIdle(timeoutMs);
  }

  /**
   * Writes for up to drainTimeoutMs, then keeps whatever is left in the spool for the next
   * start and closes it.
   */
  async stop(): Promise<void> {
    if (!this.started || this.stopped || this.stopping) return;
    this.stopping = true;
    if (this.statsTimer) clearInterval(this.statsTimer);
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.downsampler) this.enqueueInternal(this.points.imu(this.downsampler.flush()));
    const drained = await this.flush(this.opts.drainTimeoutMs ?? 5000);
    this.stopped = true;
    for (const r of this.requests) r.abort();
    for (const wake of [...this.sleepers]) wake();
    this.probe.releaseAll();
    await Promise.all(this.workers);
    const left = this.keptPoints + this.memoryOnlyPoints + this.inFlightCount();
    const lost = this.spill(false) ? 0 : this.dropMemory(this.memoryOnlyPoints, 'disk_full');
    this.spool.close();
    if (lost > 0)
      this.logger.error(
        {
          code: 'INFLUX_STOP_LOST',
          points: this.spool.pending,
          lost,
          dir: this.opts.spoolDir,
        },
        `stopped with the spool's disk refusing writes: ${lost} points lost, ${this.spool.pending} kept in the spool for the next start`,
      );
    else if (!drained)
      this.logger.warn(
        {
          code: 'INFLUX_STOP_SPOOLED',
          points: this.spool.pending,
          inMemoryBefore: left,
          dir: this.opts.spoolDir,
        },
        'stopped before every point was written; the rest is in the spool for the next start',
      );
    this.updateGauges();
    this.metrics.connected.set(0);
    this.reportHealth('stopped');
  }

  // ---- queueing ---------------------------------------------------------------------------

  private enqueue(lines: readonly string[]): void {
    if (lines.length === 0) return;
    if (this.stopped) {
      this.metrics.failed.inc({ reason: 'stopped' }, lines.length);
      this.droppedTotal += lines.length;
      if (!this.warnedStopped) {
        this.warnedStopped = true;
        this.logger.warn(
          { code: 'INFLUX_WRITE_AFTER_STOP', points: lines.length },
          'points written after the InfluxDB sink stopped are dropped (counted as failed, reason stopped)',
        );
      }
      return;
    }
    this.enqueueInternal(lines);
  }

  private enqueueInternal(lines: readonly string[]): void {
    if (lines.length === 0) return;
    if (this.blockPoints === 1 || lines.length === 1) {
      for (const line of lines) this.push(line, 1);
    } else {
      for (let i = 0; i < lines.length; i += this.blockPoints) {
        const part = lines.length <= this.blockPoints ? lines : lines.slice(i, i + this.blockPoints);
        this.push(part.join('\n'), part.length);
      }
    }
    this.afterEnqueue();
  }

  /** A chunk's IMU lines as bytes (count ≤ blockPoints). */
  private enqueueRange(r: SlabRange): void {
    this.memory.push({
      text: undefined,
      slab: r.slab,
      start: r.start,
      end: r.end,
      count: r.count,
      n: this.accepted + 1,
      pos: undefined,
      done: false,
    });
    this.accepted += r.count;
    this.memoryOnlyPoints += r.count;
    this.afterEnqueue();
  }

  private push(text: string, count: number): void {
    this.memory.push(textItem(text, count, this.accepted + 1, undefined));
    this.accepted += count;
    this.memoryOnlyPoints += count;
  }

  private afterEnqueue(): void {
    // Before start() the spool is not open yet; start() spills if the bound was passed.
    if (this.memoryOnlyPoints > this.memoryQueuePoints && this.started) this.spill(false);
    if (this.hasWork()) this.kick();
    else this.armFlushTimer();
    this.updateGauges();
  }

  /** A partial batch goes out flushIntervalMs after it started waiting. */
  private armFlushTimer(): void {
    if (this.memoryOnlyPoints === 0 || this.flushTimer || !this.started || this.stopped) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushDue = true;
      this.kick();
    }, this.flushIntervalMs);
    this.flushTimer.unref();
  }

  /**
   * Every syncIntervalMs/2, points accepted before the previous tick and still only in memory
   * are spilled and fdatasynced: nothing accepted stays off disk longer than syncIntervalMs.
   * While the server keeps up this finds nothing: batches go out within flushIntervalMs.
   */
  private startDurabilityTicks(): void {
    const intervalMs = this.opts.syncIntervalMs ?? 1000;
    if (intervalMs <= 0) return;
    this.syncTimer = setInterval(
      () => {
        if (this.stopped || this.stopping) return;
        const oldest = this.oldestMemoryOnly();
        if (oldest !== undefined && oldest <= this.acceptedAtLastTick) {
          this.spill(this.mayKeepSpilled());
          this.spool.syncInBackground();
        }
        this.acceptedAtLastTick = this.accepted;
      },
      Math.max(1, Math.floor(intervalMs / 2)),
    );
    this.syncTimer.unref();
  }

  /**
   * Spilled points may stay in memory (sent from there, not read back from disk) while the
   * server takes writes, the spool has nothing unread before them (they are marked read
   * there, which must go in order) and memory stays within memoryQueuePoints.
   */
  private mayKeepSpilled(): boolean {
    return (
      this.opts.keepSpilledInMemory !== false &&
      this.everWritten &&
      !this.failing &&
      this.spool.unread === 0 &&
      this.keptPoints + this.memoryOnlyPoints <= this.memoryQueuePoints
    );
  }

  /** Acceptance number of the oldest point held only in memory (in flight or queued). */
  private oldestMemoryOnly(): number | undefined {
    let oldest = this.memory[this.kept]?.n;
    for (const batch of this.inFlight) {
      if (batch.memoryOnly === 0) continue;
      const first = batch.items.find((i) => !i.done && i.pos === undefined)?.n;
      if (first !== undefined && (oldest === undefined || first < oldest)) oldest = first;
    }
    return oldest;
  }

  /**
   * Appends every memory-only point (in flight first: it is older) to the end of the spool,
   * one record per line. With `keep`, the queued ones stay in memory as well (marked read in
   * the spool, sent from memory); without, they leave memory and are read back from the
   * spool when their turn comes. False when the disk refused (see SegmentLog): the points
   * stay in memory, and the oldest beyond memoryQueuePoints are dropped, counted.
   */
  private spill(keep: boolean): boolean {
    const held: Item[] = [];
    for (const batch of this.inFlight) {
      if (batch.memoryOnly === 0) continue;
      for (const i of batch.items) if (!i.done && i.pos === undefined) held.push(i);
    }
    const queued = this.kept === 0 ? this.memory : this.memory.slice(this.kept);
    const items = held.length > 0 ? [...held, ...queued] : queued;
    if (items.length === 0) return true;
    const lines: Array<string | Uint8Array> = [];
    for (const item of items) {
      if (item.slab) pushLineViews(item.slab, item.start, item.end, lines);
      else for (const line of linesOf(item)) lines.push(line);
    }
    const positions = this.spool.tryAppend(lines);
    if (!positions) {
      const excess = this.memoryOnlyPoints - this.memoryQueuePoints;
      if (excess > 0) this.dropMemory(excess + Math.floor(this.memoryQueuePoints / 10), 'disk_full');
      this.updateGauges();
      return false;
    }
    this.metrics.spilled.inc(lines.length);
    let at = 0;
    for (const item of items) {
      item.pos = positions.slice(at, at + item.count);
      at += item.count;
    }
    let read = 0;
    for (let h = 0; h < held.length; h++) read += held[h]!.count;
    if (keep) read = positions.length;
    for (let i = 0; i < read; i++) this.spool.markRead(positions[i]!);
    for (const batch of this.inFlight) batch.memoryOnly = 0;
    if (keep) {
      this.kept = this.memory.length;
      this.keptPoints += this.memoryOnlyPoints;
    } else {
      this.memory = this.memory.slice(0, this.kept);
    }
    this.memoryOnlyPoints = 0;
    this.updateGauges();
    return true;
  }

  /** Drops the oldest memory-only points (not those in flight, nor those also on disk): at least `count`, whole items, counted; returns how many. */
  private dropMemory(count: number, reason: 'disk_full'): number {
    let n = 0;
    let items = 0;
    while (n < count && this.kept + items < this.memory.length) n += this.memory[this.kept + items++]!.count;
    if (n <= 0) return 0;
    this.memory.splice(this.kept, items);
    this.memoryOnlyPoints -= n;
    this.metrics.evicted.inc(n);
    this.metrics.dropped.inc({ reason }, n);
    this.droppedTotal += n;
    return n;
  }

  // ---- delivery ---------------------------------------------------------------------------

  /** Requests allowed in flight now: one until the server has accepted a write, and while writes fail. */
  private concurrency(): number {
    return this.everWritten && !this.failing ? this.maxInFlight : 1;
  }

  /** A worker would find a batch to take now. */
  private hasWork(): boolean {
    return (
      this.kept > 0 ||
      this.spool.unread > 0 ||
      this.memoryOnlyPoints >= this.batchSize ||
      ((this.flushDue || this.stopping) && this.memoryOnlyPoints > 0)
    );
  }

  /** Starts delivery loops up to the allowed concurrency while there is something to send. */
  private kick(): void {
    if (!this.started || this.stopped || this.pumpFailed) return;
    while (this.workers.size < this.concurrency() && this.hasWork()) {
      const before = this.inFlight.size;
      const done: Promise<void> = this.work().finally(() => {
        this.workers.delete(done);
        this.afterWorker();
      });
      this.workers.add(done);
      // The loop takes its batch synchronously; one that found nothing has ended already.
      if (this.inFlight.size === before) break;
    }
    if (this.workers.size === 0) this.resolveIdle();
  }

  private afterWorker(): void {
    this.updateGauges();
    this.resolveIdle();
    if (this.pumpFailed) {
      if (this.workers.size > 0) return;
      // A bug, not the server: try again later rather than spin.
      setTimeout(() => {
        this.pumpFailed = false;
        this.kick();
      }, this.backoff.maxDelayMs).unref();
      return;
    }
    // Something may have arrived between the last take and the end of the loop.
    if (!this.stopped && this.hasWork()) this.kick();
    else this.armFlushTimer();
  }

  /** One delivery loop: takes a batch, delivers it (retrying), and again, while it is allowed to. */
  private async work(): Promise<void> {
    try {
      for (;;) {
        if (this.stopped || this.workers.size > this.concurrency()) return;
        const items = this.takeBatch();
        if (!items) return;
        let points = 0;
        let memoryOnly = 0;
        for (const i of items) {
          points += i.count;
          if (i.pos === undefined) memoryOnly += i.count;
        }
        const batch: Batch = { items, left: points, memoryOnly };
        this.inFlight.add(batch);
        this.updateGauges();
        // A stopped sink keeps the batch in `inFlight`: stop() spills what it still holds.
        if (!(await this.deliver(batch, items))) return;
        this.inFlight.delete(batch);
      }
    } catch (err) {
      this.pumpFailed = true;
      this.logger.error({ code: 'INFLUX_INTERNAL', err }, 'InfluxDB sink delivery loop failed');
      this.noteError('INFLUX_INTERNAL', errorMessage(err));
    }
  }

  /**
   * The next batch: spilled points still held in memory first (the oldest), then what the
   * spool has unread, then memory-only points (only while the spool has nothing unread, so
   * that those in flight are the next records a spill appends).
   */
  private takeBatch(): Item[] | undefined {
    if (this.kept > 0) {
      const n = this.countFitting(this.kept);
      this.kept -= n;
      const batch = this.memory.splice(0, n);
      for (const i of batch) this.keptPoints -= i.count;
      return batch;
    }
    if (this.spool.unread > 0) {
      const entries = this.spool.read(this.batchSize);
      if (entries.length > 0) {
        if (this.blockPoints === 1)
          return entries.map((e) => textItem(e.payload.toString('utf8'), 1, 0, [e.position]));
        let text = '';
        for (let i = 0; i < entries.length; i++)
          text += (i === 0 ? '' : '\n') + entries[i]!.payload.toString('utf8');
        return [
          textItem(
            text,
            entries.length,
            0,
            entries.map((e) => e.position),
          ),
        ];
      }
    }
    if (this.memoryOnlyPoints === 0) {
      this.flushDue = false;
      return undefined;
    }
    if (this.memoryOnlyPoints < this.batchSize && !this.flushDue && !this.stopping) return undefined;
    const batch = this.memory.splice(0, this.countFitting(this.memory.length));
    for (const i of batch) this.memoryOnlyPoints -= i.count;
    if (this.memoryOnlyPoints === 0) this.flushDue = false;
    return batch;
  }

  /** How many of the first `limit` memory items make a batch: up to batchSize points, at least one item. */
  private countFitting(limit: number): number {
    let points = 0;
    let n = 0;
    while (n < limit && (n === 0 || points + this.memory[n]!.count <= this.batchSize))
      points += this.memory[n++]!.count;
    return n;
  }

  /**
   * The items of `items` that hold several lines, replaced by one item per line (in `batch`
   * too): a refused batch is halved down to single points.
   */
  private explode(batch: Batch, items: Item[]): Item[] {
    if (items.every((i) => i.count === 1)) return items;
    const split = new Map<Item, Item[]>();
    for (const item of items) {
      if (item.count === 1) continue;
      split.set(
        item,
        linesOf(item).map((text, k) =>
          textItem(text, 1, item.n === 0 ? 0 : item.n + k, item.pos ? [item.pos[k]!] : undefined),
        ),
      );
    }
    const replace = (list: Item[]): Item[] => list.flatMap((i) => split.get(i) ?? [i]);
    batch.items = replace(batch.items);
    return replace(items);
  }

  /**
   * Resolves true once every point of `items` (all or part of `batch`) is written or
   * dropped, false if stopped first. After a failure the batch retries only while it holds
   * the probe turn, so a failing server sees one request at a time.
   */
  private async deliver(batch: Batch, items: Item[]): Promise<boolean> {
    let holdsTurn = false;
    try {
      for (let attempt = 1; ; attempt++) {
        if (this.stopped) return false;
        let failure: WriteFailure;
        try {
          await this.post(items);
          this.delivered(batch, items);
          return true;
        } catch (err) {
          if (this.stopped) return false;
          failure = classifyWriteError(err);
        }
        this.metrics.requests.inc({ outcome: failure.kind });
        if (failure.kind === 'split') {
          items = this.explode(batch, items);
          if (items.length === 1) {
            this.drop(batch, items, failure);
            return true;
          }
          // The halves take their own turns if the server goes away meanwhile.
          if (holdsTurn) this.probe.release();
          holdsTurn = false;
          const half = items.length >> 1;
          return (
            (await this.deliver(batch, items.slice(0, half))) &&
            (await this.deliver(batch, items.slice(half)))
          );
        }
        if (failure.kind === 'limited' && attempt > this.maxRetries) {
          this.drop(batch, items, failure);
          return true;
        }
        this.setConnected(failure.kind !== 'away' && failure.reason.startsWith('http_'));
        this.failing = true;
        this.noteError(
          failure.kind === 'away' ? 'INFLUX_UNREACHABLE' : 'INFLUX_WRITE_REFUSED',
          `${failure.reason}: ${failure.message}`,
        );
        this.metrics.retries.inc({ reason: failure.reason });
        if (!holdsTurn) {
          await this.probe.acquire();
          holdsTurn = true;
          if (this.stopped) return false;
          // Another batch got through while this one waited: the server is back, go now.
          if (!this.failing) {
            this.probe.release();
            holdsTurn = false;
            continue;
          }
        }
        if (!(await this.sleep(retryDelayMs(attempt, failure, this.backoff)))) return false;
      }
    } finally {
      if (holdsTurn) this.probe.release();
    }
  }

  private async post(items: readonly Item[]): Promise<void> {
    const { bytes, gzipped } = await this.encode(requestBody(items));
    if (this.stopped) throw new Error('stopped');
    const request = new AbortController();
    this.requests.add(request);
    try {
      await new Promise<void>((resolve, reject) => {
        // The transport makes its request body with Buffer.from(body, 'utf-8'), which copies a
        // Buffer as it is: the body goes out already compressed (and gzipThreshold is left
        // unset so the client does not compress it again at its own level).
        this.client.transport.send(
          this.path,
          bytes as unknown as string,
          {
            method: 'POST',
            headers: {
              'content-type': 'text/plain; charset=utf-8',
              ...(gzipped ? { 'content-encoding': 'gzip' } : {}),
            },
            signal: request.signal,
          },
          { error: reject, complete: resolve },
        );
      });
    } finally {
      this.requests.delete(request);
    }
  }

  /**
   * The request body: gzipped at gzipLevel above gzipThresholdBytes, on libuv's thread pool
   * (the output chunk large enough that a batch comes back in a callback or two).
   */
  private async encode(raw: Buffer): Promise<{ bytes: Buffer; gzipped: boolean }> {
    if (this.gzipLevel === 0 || raw.length <= (this.opts.gzipThresholdBytes ?? 1000))
      return { bytes: raw, gzipped: false };
    const bytes = await gzip(raw, { level: this.gzipLevel, chunkSize: GZIP_CHUNK_BYTES });
    return { bytes, gzipped: true };
  }

  private delivered(batch: Batch, items: readonly Item[]): void {
    this.settle(batch, items);
    this.metrics.written.inc(countPoints(items));
    this.metrics.requests.inc({ outcome: 'ok' });
    this.setConnected(true);
    this.everWritten = true;
    if (this.failing) {
      this.failing = false;
      this.logger.info({ backlog: this.queued }, 'InfluxDB writes are going through again');
    }
    this.reportHealth('up');
    // More requests may go out now than while the server was unproven or failing.
    this.kick();
  }

  private drop(batch: Batch, items: readonly Item[], f: WriteFailure): void {
    this.settle(batch, items);
    const points = countPoints(items);
    this.metrics.failed.inc({ reason: f.reason }, points);
    this.droppedTotal += points;
    this.logger.error(
      {
        code: 'INFLUX_WRITE_REJECTED',
        reason: f.reason,
        points,
        first: items[0] ? linesOf(items[0])[0] : undefined,
        message: f.message,
      },
      `InfluxDB refused ${points} points (${f.reason}); they are dropped`,
    );
    this.noteError('INFLUX_WRITE_REJECTED', `${points} points refused (${f.reason}): ${f.message}`);
  }

  /** Items of a batch in flight are written or dropped: done, and off the spool. */
  private settle(batch: Batch, items: readonly Item[]): void {
    for (const item of items) {
      item.done = true;
      if (item.pos) for (const p of item.pos) this.spool.ack(p);
      else batch.memoryOnly -= item.count;
      batch.left -= item.count;
    }
  }

  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve(!this.stopped);
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  private inFlightCount(): number {
    let n = 0;
    for (const batch of this.inFlight) n += batch.left;
    return n;
  }

  private inFlightMemoryOnly(): number {
    let n = 0;
    for (const batch of this.inFlight) n += batch.memoryOnly;
    return n;
  }

  private isIdle(): boolean {
    return (
      this.workers.size === 0 &&
      this.memory.length === 0 &&
      this.spool.unread === 0 &&
      this.inFlightCount() === 0
    );
  }

  private waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.isIdle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = (): void => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(waiter);
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          this.idleWaiters = this.idleWaiters.filter((w) => w !== waiter);
          resolve(this.isIdle());
        }, timeoutMs);
      }
    });
  }

  private resolveIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  // ---- observability ----------------------------------------------------------------------

  private writeOwnStats(): void {
    const line = pipelineLine(this.opts.gatewayId, {
      stage: 'sink:influx',
      timeNs: this.clock.nowNs(),
      queueDepth: this.queued,
      dropped: this.droppedTotal,
      connected: this.connected,
    });
    if (line) this.enqueue([line]);
  }

  private setConnected(connected: boolean): void {
    if (this.connectedNow === connected) return;
    this.connectedNow = connected;
    this.metrics.connected.set(connected ? 1 : 0);
    if (!connected)
      this.logger.warn(
        { code: 'INFLUX_UNREACHABLE', url: redactUrl(this.opts.url) },
        'InfluxDB is unreachable; points are queued and spooled to disk',
      );
  }

  private noteError(code: string, message: string): void {
    this.lastError = { code, message, at: new Date().toISOString() };
    if (this.started && !this.stopped) this.reportHealth('up');
  }

  private updateGauges(): void {
    this.metrics.queuedInMemory.set(this.memoryOnlyPoints + this.inFlightMemoryOnly());
    this.metrics.queued.set(this.queued);
  }

  private reportHealth(status: 'starting' | 'up' | 'degraded' | 'stopped'): void {
    this.opts.health?.set(HEALTH_COMPONENT, {
      // Degraded while writes fail or a backlog from an outage is still being written.
      status:
        status === 'up' && (this.failing || this.spool.unread > 0 || this.diskFull) ? 'degraded' : status,
      ...(this.diskFull ? { error: this.diskFull } : this.lastError ? { error: this.lastError } : {}),
      details: {
        target: this.opts.target.flavour,
        url: redactUrl(this.opts.url),
        bucket: this.opts.target.bucket,
        connected: this.connected,
        queuedPoints: this.started ? this.queued : this.memoryOnlyPoints,
        spoolBytes: this.spool.bytes,
        spoolDiskFull: this.diskFull !== undefined,
      },
    });
  }
}

function countPoints(items: readonly Item[]): number {
  let n = 0;
  for (const i of items) n += i.count;
  return n;
}

function textItem(text: string, count: number, n: number, pos: LogPosition[] | undefined): Item {
  return { text, slab: undefined, start: 0, end: 0, count, n, pos, done: false };
}

/** The lines of an item, one string each (to spill it, or to split a refused batch). */
function linesOf(item: Item): string[] {
  if (item.text !== undefined) return item.count === 1 ? [item.text] : item.text.split('\n');
  return item.slab!.toString('utf8', item.start, item.end - 1).split('\n');
}

/** Each line of `slab[start, end)` (lines ending in `\n`) as a view, without decoding it: a spill copies the bytes as they are. */
function pushLineViews(slab: Buffer, start: number, end: number, out: Array<string | Uint8Array>): void {
  let from = start;
  while (from < end) {
    const nl = slab.indexOf(10, from);
    const stop = nl < 0 || nl >= end ? end : nl;
    out.push(slab.subarray(from, stop));
    from = stop + 1;
  }
}

const NEWLINE = Buffer.from('\n', 'latin1');

/**
 * The lines of `items`, one `\n` between them. Slab ranges that follow one another in a slab
 * (consecutive chunks, the usual case) are one piece: a batch of raw IMU is mostly one or two
 * views of its slabs, not a copy. String items (events, earlier versions) are joined first.
 */
function requestBody(items: readonly Item[]): Buffer {
  const pieces: Buffer[] = [];
  let slab: Buffer | undefined;
  let start = 0;
  let end = 0;
  let texts: string[] = [];
  const flushSlab = (): void => {
    if (slab) pieces.push(slab.subarray(start, end));
    slab = undefined;
  };
  const flushTexts = (): void => {
    if (texts.length === 0) return;
    pieces.push(Buffer.from(texts.join('\n'), 'utf8'), NEWLINE);
    texts = [];
  };
  for (const item of items) {
    if (item.text !== undefined) {
      flushSlab();
      texts.push(item.text);
    } else if (slab === item.slab && end === item.start) {
      end = item.end;
    } else {
      flushTexts();
      flushSlab();
      slab = item.slab;
      start = item.start;
      end = item.end;
    }
  }
  flushSlab();
  flushTexts();
  // Every piece ends in `\n`; the last one is left out.
  const body = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  return body.subarray(0, body.length - 1);
}
