import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counter, gauge, histogram } from '../../observability/metrics.ts';

/** Everything the MQTT sink counts. Names are part of the documented interface (docs/mqtt.md). */
export class MqttMetrics {
  readonly published: Counter<'kind'>;
  readonly publishSeconds: Histogram<'kind'>;
  readonly queued: Gauge;
  readonly queuedInMemory: Gauge;
  readonly spoolBytes: Gauge;
  readonly evicted: Counter;
  readonly dropped: Counter<'reason'>;
  readonly spoolDiskFull: Gauge;
  readonly coalesced: Counter;
  readonly spoolCorrupt: Counter<'reason'>;
  readonly publishErrors: Counter<'reason'>;
  readonly connected: Gauge;
  readonly reconnects: Counter;
  readonly commands: Counter<'action' | 'outcome'>;

  constructor(registry: Registry) {
    this.published = counter(
      registry,
      'mujo_mqtt_messages_published_total',
      'Messages the broker acknowledged (QoS 1/2) or that were written (QoS 0), by kind.',
      ['kind'],
    );
    this.publishSeconds = histogram(
      registry,
      'mujo_mqtt_publish_seconds',
      'From queued by the gateway to acknowledged by the broker (QoS 1/2) or written (QoS 0), by kind: the time a message spends in the queue, in flight and in the broker. Messages restored from the spool after a restart are not observed.',
      ['kind'],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    );
    this.queued = gauge(
      registry,
      'mujo_mqtt_queue_messages',
      'Outgoing messages not yet acknowledged (memory + disk spool).',
    );
    this.queuedInMemory = gauge(
      registry,
      'mujo_mqtt_queue_memory_messages',
      'Outgoing messages held only in memory.',
    );
    this.spoolBytes = gauge(
      registry,
      'mujo_mqtt_spool_bytes',
      'Bytes of the disk spool (all segment files).',
    );
    this.evicted = counter(
      registry,
      'mujo_mqtt_evicted_total',
      'Messages dropped, oldest first, because the disk spool reached its size limit.',
    );
    this.dropped = counter(
      registry,
      'mujo_mqtt_spool_dropped_total',
      'Messages lost because the spool could not keep them, by reason: size_limit (the spool reached maxSpoolBytes, oldest evicted), disk_full (the disk refused writes: oldest evicted, then the oldest of memory beyond memoryMessages).',
      ['reason'],
    );
    this.spoolDiskFull = gauge(
      registry,
      'mujo_mqtt_spool_disk_full',
      '1 while the disk under the spool refuses writes (messages then stay in memory, bounded), else 0.',
    );
    this.coalesced = counter(
      registry,
      'mujo_mqtt_coalesced_total',
      'Retained state messages not sent because a newer one for the same topic was queued.',
    );
    this.spoolCorrupt = counter(
      registry,
      'mujo_mqtt_spool_corrupt_total',
      'Spool segments (or their tails) skipped because they failed their checks, by reason.',
      ['reason'],
    );
    this.publishErrors = counter(
      registry,
      'mujo_mqtt_publish_errors_total',
      'Publishes that failed, by reason (rejected messages are dropped; connection losses are retried).',
      ['reason'],
    );
    this.connected = gauge(registry, 'mujo_mqtt_connected', '1 while connected to the broker, else 0.');
    this.reconnects = counter(registry, 'mujo_mqtt_reconnects_total', 'Reconnection attempts to the broker.');
    this.commands = counter(
      registry,
      'mujo_mqtt_commands_total',
      'Requests received on <base>/<gw>/request/<action>, by action and outcome.',
      ['action', 'outcome'],
    );
  }
}
