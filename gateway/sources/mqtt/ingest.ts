import { Subject, type Observable } from 'rxjs';
import type { Counter, Registry } from 'prom-client';
import { counter, gauge } from '../../observability/metrics.ts';
import type { ImuChunk } from '../../domain/samples.ts';
import { NS_PER_MS, systemClock, type Clock, type TimeNs } from '../../domain/time.ts';
import type { Logger } from '../../observability/logger.ts';
import { decodeImuMessage, type IngestRejectReason } from './imu-decode.ts';
import { ArrivalStamps } from '../../clock/arrival-stamps.ts';
import { DeviceClockMapper } from '../../clock/device-clock-mapper.ts';
import type { DriftFitOptions } from '../../clock/drift-estimator.ts';

/** What the ingest needs of the MQTT connection (MqttSink provides it). */
export interface MqttSubscriber {
  subscribe(filter: string, qos: 0 | 1 | 2, handler: (topic: string, payload: Buffer) => void): () => void;
}

/** The ingest topics (MqttSink.topics provides them). */
export interface IngestTopics {
  /** `<base>/<gw>/ingest/+/imu` */
  readonly ingestImuFilter: string;
  ingestDeviceOf(topic: string): string | undefined;
}

/** One decoded message. */
export interface IngestedImu {
  readonly deviceId: string;
  /**
   * The samples, on the gateway clock: mapped from the device's own clock (drift corrected)
   * when the message carried a t0, else stamped at arrival (last sample = arrival).
   */
  readonly chunk: ImuChunk;
  /** Which clock the message's own times were on, before mapping. */
  readonly clock: 'device' | 'gateway';
  /** The message's own sample times on the device clock, ns, when it carried them. */
  readonly deviceTNs?: Float64Array;
  /** Gateway clock when the message arrived. */
  readonly receivedNs: TimeNs;
  readonly format: 'json' | 'binary';
  /** The device's message counter, when sent. */
  readonly seq?: number;
}

export interface MqttImuIngestOptions {
  readonly subscriber: MqttSubscriber;
  readonly topics: IngestTopics;
  /** The subject a device is assigned to in the configuration; undefined: unknown device. */
  readonly subjectForDevice: (deviceId: string) => string | undefined;
  readonly maxSamplesPerMessage: number;
  /** JSON messages: one-pass scan first, JSON.parse + Ajv for the rest (default true). */
  readonly jsonFastPath?: boolean;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly clock?: Clock;
  /** At most one rejection log line per device per this interval (default 10 s). */
  readonly rejectLogIntervalMs?: number;
  /** QoS of the ingest subscription (default 0: samples are perishable). */
  readonly qos?: 0 | 1;
  /** Fit of each device clock onto the gateway clock. */
  readonly drift?: DriftFitOptions;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
const JSON_LABELS = { format: 'json' } as const;
const BINARY_LABELS = { format: 'binary' } as const;

/** Bounds the per-device bookkeeping: topics come from the network, device ids are unbounded. */
const MAX_TRACKED_DEVICES = 4096;

/**
 * IMU samples from phones and watches over MQTT (`<base>/<gw>/ingest/<device>/imu`, JSON or
 * MJI1 binary). Bad messages are counted by reason and logged at most once per device per
 * interval; they never throw out of the handler. A device not assigned to a subject is
 * reported once and its samples still flow (subjectId undefined), so the pipeline can
 * associate it by other means.
 */
export class MqttImuIngest {
  private readonly subject = new Subject<IngestedImu>();
  readonly samples$: Observable<IngestedImu> = this.subject.asObservable();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly accepted: Counter<'format'>;
  private readonly samples: Counter;
  private readonly rejected: Counter<'reason'>;
  private readonly unknownDevices: Counter;
  private readonly unassigned: Counter;
  private readonly lastRejectLog = new Map<string, { atMs: number; suppressed: number }>();
  private readonly reportedUnknown = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private readonly clockMapper: DeviceClockMapper;
  /** Messages without device time: consecutive chunks of a device never overlap. */
  private readonly arrivalStamps = new ArrivalStamps();

  constructor(private readonly opts: MqttImuIngestOptions) {
    this.clock = opts.clock ?? systemClock;
    // Same gauge as the pipeline's clock-mapping stage: one metric for every mapped source.
    const drift = gauge(
      opts.registry,
      'mujo_pipeline_clock_drift_ratio',
      'Estimated device clock drift relative to the gateway clock, as a ratio (1e-6 = 1 ppm).',
      ['source'],
    );
    this.clockMapper = new DeviceClockMapper(opts.drift === undefined ? {} : { drift: opts.drift }, {
      clock: this.clock,
      onDrift: (source, ppm) => drift.set({ source }, ppm / 1e6),
    });
    this.logger = opts.logger.child({ component: 'mqtt-ingest' });
    const r = opts.registry;
    this.accepted = counter(r, 'mujo_ingest_messages_total', 'IMU ingest messages decoded, by format.', [
      'format',
    ]);
    this.samples = counter(r, 'mujo_ingest_samples_total', 'IMU samples decoded from ingest messages.');
    this.rejected = counter(r, 'mujo_ingest_rejected_total', 'IMU ingest messages refused, by reason.', [
      'reason',
    ]);
    this.unknownDevices = counter(
      r,
      'mujo_ingest_unknown_devices_total',
      'Distinct devices seen on ingest that no subject lists (each counted once).',
    );
    this.unassigned = counter(
      r,
      'mujo_ingest_unassigned_messages_total',
      'Ingest messages from devices no subject lists (still decoded and emitted).',
    );
  }

  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.opts.subscriber.subscribe(
      this.opts.topics.ingestImuFilter,
      this.opts.qos ?? 0,
      (topic, payload) => this.onMessage(topic, payload),
    );
  }

  /** Unsubscribes and completes samples$. */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.subject.complete();
  }

  /** Decodes one message; exposed so the benchmark and tests can drive it without a broker too. */
  onMessage(topic: string, payload: Buffer): void {
    const receivedNs = this.clock.nowNs();
    const deviceId = this.opts.topics.ingestDeviceOf(topic);
    if (deviceId === undefined) {
      this.refuse(
        '(bad topic)',
        'bad_topic',
        `topic ${JSON.stringify(topic)} is not <base>/<gw>/ingest/<device>/imu`,
      );
      return;
    }
    const result = decodeImuMessage(payload, {
      receivedNs,
      maxSamples: this.opts.maxSamplesPerMessage,
      jsonFastPath: this.opts.jsonFastPath ?? true,
    });
    if (!result.ok) {
      this.refuse(deviceId, result.reason, result.message);
      return;
    }
    const subjectId = this.opts.subjectForDevice(deviceId);
    if (subjectId === undefined) {
      this.unassigned.inc();
      if (!this.reportedUnknown.has(deviceId) && this.reportedUnknown.size < MAX_TRACKED_DEVICES) {
        this.reportedUnknown.add(deviceId);
        this.unknownDevices.inc();
        this.logger.warn(
          { code: 'INGEST_UNKNOWN_DEVICE', device: deviceId, topic },
          `device ${deviceId} sends IMU data but no subject lists it in subjects[].devices; its samples are kept unassigned`,
        );
      }
    }
    const imu = result.imu;
    // Built once, optional fields assigned rather than spread from temporary objects: this
    // runs for every message of every device.
    const chunk: Mutable<ImuChunk> = {
      modality: 'imu',
      sourceId: deviceId,
      tNs: imu.deviceClock
        ? this.clockMapper.mapTimes(deviceId, imu.tNs, receivedNs)
        : this.arrivalStamps.place(deviceId, imu.tNs),
      values: imu.values,
      clockDomain: 'gateway',
    };
    if (subjectId !== undefined) chunk.subjectId = subjectId;
    if (imu.placement !== undefined) chunk.placement = imu.placement;
    this.accepted.inc(imu.format === 'json' ? JSON_LABELS : BINARY_LABELS);
    this.samples.inc(imu.tNs.length);
    const ingested: Mutable<IngestedImu> = {
      deviceId,
      chunk,
      clock: imu.deviceClock ? 'device' : 'gateway',
      receivedNs,
      format: imu.format,
    };
    if (imu.deviceClock) ingested.deviceTNs = imu.tNs;
    if (imu.seq !== undefined) ingested.seq = imu.seq;
    this.subject.next(ingested);
  }

  private refuse(deviceKey: string, reason: IngestRejectReason, message: string): void {
    this.rejected.inc({ reason });
    const nowMs = this.clock.nowNs() / NS_PER_MS;
    const interval = this.opts.rejectLogIntervalMs ?? 10000;
    const last = this.lastRejectLog.get(deviceKey);
    if (last && nowMs - last.atMs < interval) {
      last.suppressed++;
      return;
    }
    if (!last && this.lastRejectLog.size >= MAX_TRACKED_DEVICES) {
      const oldest = this.lastRejectLog.keys().next().value;
      if (oldest !== undefined) this.lastRejectLog.delete(oldest);
    }
    this.lastRejectLog.set(deviceKey, { atMs: nowMs, suppressed: 0 });
    this.logger.warn(
      { code: 'INGEST_REJECTED', device: deviceKey, reason, suppressedSinceLast: last?.suppressed ?? 0 },
      `IMU ingest message from ${deviceKey} refused (${reason}): ${message}`,
    );
  }
}
