import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../../observability/metrics.ts';

/** Everything the InfluxDB sink counts (documented in docs/influxdb.md). Reused when a sink is rebuilt on one registry. */
export class InfluxMetrics {
  readonly written: Counter;
  readonly failed: Counter<'reason'>;
  readonly retries: Counter<'reason'>;
  readonly queued: Gauge;
  readonly queuedInMemory: Gauge;
  readonly spoolBytes: Gauge;
  readonly evicted: Counter;
  readonly dropped: Counter<'reason'>;
  readonly spoolDiskFull: Gauge;
  readonly spoolCorrupt: Counter<'reason'>;
  readonly connected: Gauge;
  readonly requests: Counter<'outcome'>;
  readonly spilled: Counter;

  constructor(registry: Registry) {
    this.dropped = counter(
      registry,
      'mujo_influx_spool_dropped_total',
      'Points lost because the spool could not keep them, by reason: size_limit (the spool reached maxSpoolBytes, oldest evicted), disk_full (the disk refused writes: oldest evicted, then the oldest of memory beyond memoryQueuePoints).',
      ['reason'],
    );
    this.spoolDiskFull = gauge(
      registry,
      'mujo_influx_spool_disk_full',
      '1 while the disk under the spool refuses writes (points then stay in memory, bounded), else 0.',
    );
    this.written = counter(registry, 'mujo_influx_points_written_total', 'Points the server accepted.');
    this.failed = counter(
      registry,
      'mujo_influx_points_failed_total',
      'Points dropped because the server refused them (after retries where they may pass), or the spool could not take them, by reason.',
      ['reason'],
    );
    this.retries = counter(
      registry,
      'mujo_influx_retries_total',
      'Write requests repeated after a failure, by reason.',
      ['reason'],
    );
    this.queued = gauge(
      registry,
      'mujo_influx_queue_points',
      'Points not written yet (memory, disk spool and in flight).',
    );
    this.queuedInMemory = gauge(registry, 'mujo_influx_queue_memory_points', 'Points held only in memory.');
    this.spoolBytes = gauge(
      registry,
      'mujo_influx_spool_bytes',
      'Bytes of the disk spool (all segment files).',
    );
    this.evicted = counter(
      registry,
      'mujo_influx_evicted_total',
      'Points dropped, oldest first, because the disk spool reached influx.maxSpoolBytes.',
    );
    this.spoolCorrupt = counter(
      registry,
      'mujo_influx_spool_corrupt_total',
      'Spool segments (or their tails) skipped because they failed their checks, by reason.',
      ['reason'],
    );
    this.connected = gauge(
      registry,
      'mujo_influx_connected',
      '1 while the last write request reached the server, else 0.',
    );
    this.spilled = counter(
      registry,
      'mujo_influx_spilled_points_total',
      'Points written to the disk spool: the server was away, slower than the durability bound (syncIntervalMs), or the memory queue was full. 0 while the server keeps up.',
    );
    this.requests = counter(
      registry,
      'mujo_influx_requests_total',
      'Write requests, by outcome (ok, away, limited, split).',
      ['outcome'],
    );
  }
}
