// Long file: one sink's lifecycle (batching, retries with backoff, disk spool, durability ticks, drain) around one client; owned by the influx work, to be split there.
import { readFileSync } from 'node:fs';
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
  readonly logger: Logger;
  readonly registry: Registry;
  readonly health?: HealthRegistry;
  readonly clock?: Clock;
}

/** One point on its way: in memory, and once spilled, also at `pos` in the spool. */
interface Item {
  readonly line: string;
  /** Order of acceptance (1, 2, …), for the durability bound. */
  readonly n: number;
  pos: LogPosition | undefined;
  done: boolean;
}

/** A batch out for delivery: its points, how many are not settled yet, and how many of those are only in memory. */
interface Batch {
  readonly items: Item[];
  left: number;
  memoryOnly: number;
}

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
 * The spool keeps what the server has not taken in time: a spill appends every memory-only
 * point (those in flight marked read, because they are still held) to the spool. Invariant:
 * a batch is taken from memory only while the spool has nothing unread, so the points held
 * in flight are always the next records a spill appends (SegmentLog.markRead needs that).
 * While the server keeps up, nothing is spilled: a partial batch goes out well within the
 * durability bound (see flushIntervalMs).
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
  private memory: Item[] = [];
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
    if (this.memory.length > this.memoryQueuePoints) this.spill();
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
      const { lines, skipped } = imuSampleLines(this.opts.gatewayId, chunk);
      if (skipped > 0) {
        this.metrics.failed.inc({ reason: 'no_finite_value' }, skipped);
        this.droppedTotal += skipped;
      }
      this.enqueue(lines);
      return;
    }
    if (!this.downsampler) return;
    this.enqueue(this.points.imu(this.downsampler.push(chunk)));
  }

  /** Line protocol the caller made itself (nanosecond timestamps). */
  writeLines(lines: readonly string[]): void {
    this.enqueue(lines);
  }

  // ---- state ------------------------------------------------------------------------------

  /** Points not written yet: in memory, on disk and in flight. */
  get queued(): number {
    return this.memory.length + this.inFlightCount() + this.spool.unread;
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
    const left = this.memory.length + this.inFlightCount();
    const lost = this.spill() ? 0 : this.dropMemory(this.memory.length, 'disk_full');
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
    for (const line of lines) this.memory.push({ line, n: ++this.accepted, pos: undefined, done: false });
    // Before start() the spool is not open yet; start() spills if the bound was passed.
    if (this.memory.length > this.memoryQueuePoints && this.started) this.spill();
    if (this.memory.length >= this.batchSize || this.spool.unread > 0) this.kick();
    else this.armFlushTimer();
    this.updateGauges();
  }

  /** A partial batch goes out flushIntervalMs after it started waiting. */
  private armFlushTimer(): void {
    if (this.memory.length === 0 || this.flushTimer || !this.started || this.stopped) return;
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
   */
  private startDurabilityTicks(): void {
    const intervalMs = this.opts.syncIntervalMs ?? 1000;
    if (intervalMs <= 0) return;
    this.syncTimer = setInterval(
      () => {
        if (this.stopped || this.stopping) return;
        const oldest = this.oldestMemoryOnly();
        if (oldest !== undefined && oldest <= this.acceptedAtLastTick) {
          this.spill();
          this.spool.sync();
        }
        this.acceptedAtLastTick = this.accepted;
      },
      Math.max(1, Math.floor(intervalMs / 2)),
    );
    this.syncTimer.unref();
  }

  /** Acceptance number of the oldest point held only in memory (in flight or queued). */
  private oldestMemoryOnly(): number | undefined {
    let oldest = this.memory[0]?.n;
    for (const batch of this.inFlight) {
      if (batch.memoryOnly === 0) continue;
      const first = batch.items.find((i) => !i.done && i.pos === undefined)?.n;
      if (first !== undefined && (oldest === undefined || first < oldest)) oldest = first;
    }
    return oldest;
  }

  /**
   * Moves every memory-only point (in flight first: it is older) to the end of the spool.
   * False when the disk refused (see SegmentLog): the points stay in memory, and the oldest
   * beyond memoryQueuePoints are dropped, counted.
   */
  private spill(): boolean {
    const held: Item[] = [];
    for (const batch of this.inFlight) {
      if (batch.memoryOnly === 0) continue;
      for (const i of batch.items) if (!i.done && i.pos === undefined) held.push(i);
    }
    const items = held.length > 0 ? [...held, ...this.memory] : this.memory;
    if (items.length === 0) return true;
    const positions = this.spool.tryAppend(items.map((i) => i.line));
    if (!positions) {
      const excess = this.memory.length - this.memoryQueuePoints;
      if (excess > 0) this.dropMemory(excess + Math.floor(this.memoryQueuePoints / 10), 'disk_full');
      this.updateGauges();
      return false;
    }
    this.metrics.spilled.inc(items.length);
    items.forEach((item, i) => (item.pos = positions[i]));
    for (let i = 0; i < held.length; i++) this.spool.markRead(positions[i]!);
    for (const batch of this.inFlight) batch.memoryOnly = 0;
    this.memory = [];
    this.updateGauges();
    return true;
  }

  /** Drops the `count` oldest memory-only points (not those in flight), counted; returns how many. */
  private dropMemory(count: number, reason: 'disk_full'): number {
    const n = Math.min(count, this.memory.length);
    if (n <= 0) return 0;
    this.memory.splice(0, n);
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
      this.spool.unread > 0 ||
      this.memory.length >= this.batchSize ||
      ((this.flushDue || this.stopping) && this.memory.length > 0)
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
        const batch: Batch = {
          items,
          left: items.length,
          memoryOnly: items[0]?.pos === undefined ? items.length : 0,
        };
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

  private takeBatch(): Item[] | undefined {
    if (this.spool.unread > 0) {
      const entries = this.spool.read(this.batchSize);
      if (entries.length > 0)
        return entries.map((e) => ({ line: e.payload.toString('utf8'), n: 0, pos: e.position, done: false }));
    }
    if (this.memory.length === 0) {
      this.flushDue = false;
      return undefined;
    }
    if (this.memory.length < this.batchSize && !this.flushDue && !this.stopping) return undefined;
    const batch = this.memory.splice(0, this.batchSize);
    if (this.memory.length === 0) this.flushDue = false;
    return batch;
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
    let body = '';
    for (let i = 0; i < items.length; i++) body += (i === 0 ? '' : '\n') + items[i]!.line;
    const request = new AbortController();
    this.requests.add(request);
    try {
      await this.client.transport.request(this.path, body, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        gzipThreshold: this.opts.gzipThresholdBytes ?? 1000,
        signal: request.signal,
      });
    } finally {
      this.requests.delete(request);
    }
  }

  private delivered(batch: Batch, items: readonly Item[]): void {
    this.settle(batch, items);
    this.metrics.written.inc(items.length);
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
    this.metrics.failed.inc({ reason: f.reason }, items.length);
    this.droppedTotal += items.length;
    this.logger.error(
      {
        code: 'INFLUX_WRITE_REJECTED',
        reason: f.reason,
        points: items.length,
        first: items[0]?.line,
        message: f.message,
      },
      `InfluxDB refused ${items.length} points (${f.reason}); they are dropped`,
    );
    this.noteError('INFLUX_WRITE_REJECTED', `${items.length} points refused (${f.reason}): ${f.message}`);
  }

  /** Items of a batch in flight are written or dropped: done, and off the spool. */
  private settle(batch: Batch, items: readonly Item[]): void {
    for (const item of items) {
      item.done = true;
      if (item.pos) this.spool.ack(item.pos);
      else batch.memoryOnly--;
    }
    batch.left -= items.length;
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
    this.metrics.queuedInMemory.set(this.memory.length + this.inFlightMemoryOnly());
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
        queuedPoints: this.started ? this.queued : this.memory.length,
        spoolBytes: this.spool.bytes,
        spoolDiskFull: this.diskFull !== undefined,
      },
    });
  }
}
