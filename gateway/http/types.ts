import type { Timers } from '../clock/timers.ts';
import type { Observable } from 'rxjs';
import type { RecordingControl } from '../sinks/recorder/control.ts';
import type { EnrollmentService } from '../enrollment/service.ts';
import type { Registry } from 'prom-client';
import type { DeviceChangeResult } from '../devices/device-service.ts';
import type { NearbyReport, ScanStatus } from '../sources/ble/ble-source.ts';
import type { ActivityEvent, DeviceState, RepsEvent, SubjectState } from '../domain/events.ts';
import type { LiveScores, PosePreview } from './live-streams.ts';
import type { Modality } from '../domain/samples.ts';
import type { Logger } from '../observability/logger.ts';
import type { ComponentHealth, ComponentStatus } from '../observability/health.ts';

/** `GET /health` body. Build it from a HealthRegistry with `healthReport()` (health.ts). */
export interface HealthReport {
  readonly status: ComponentStatus;
  readonly components: Readonly<Record<string, ComponentHealth>>;
}

/** `GET /api/model` body: the loaded model as a client needs to know it. */
export interface ModelInfo {
  readonly name: string;
  readonly version: string;
  readonly classes: readonly { readonly id: string; readonly name: string }[];
  readonly encoders: readonly {
    readonly name: string;
    readonly modality: Modality;
    /** Execution provider that loaded (tensorrt, cuda, cpu). */
    readonly provider: string;
    readonly sampleRateHz: number;
    readonly windowSamples: number;
    readonly hopSamples: number;
  }[];
  /** Anything else worth showing (fusion, training metrics, manifest path…). */
  readonly [extra: string]: unknown;
}

/** `GET /api/info` body: who this gateway is and how to reach its MQTT output. */
export interface GatewayInfo {
  readonly gateway: string;
  readonly version: string;
  /** Where events are published; null when MQTT is disabled. */
  readonly mqtt: {
    readonly host: string;
    readonly port: number;
    readonly baseTopic: string;
    /** The embedded broker speaks MQTT 3.1.1 only: clients must say so (`-V mqttv311`). */
    readonly mqtt311Only?: boolean;
  } | null;
  /** Display names of configured subjects (`subjects[].name`), by subject id. */
  readonly subjectNames?: Readonly<Record<string, string>>;
}

/**
 * What the HTTP server reads from the running gateway. app.ts implements it; tests script it.
 * Every method is called per request and must be cheap and non-blocking.
 */
export interface GatewayView {
  info(): GatewayInfo;
  health(): HealthReport;
  /** The app's prom-client registry; `/metrics` renders it and the HTTP server adds its own metrics to it. */
  readonly metricsRegistry: Registry;
  subjects(): readonly SubjectState[];
  devices(): readonly DeviceState[];
  /** null while no model is loaded. */
  model(): ModelInfo | null;
  /** Hot streams: every activity event, every subject state update, every device state update. */
  readonly activity$: Observable<ActivityEvent>;
  readonly states$: Observable<SubjectState>;
  readonly deviceStates$?: Observable<DeviceState>;
  /** Every repetition and set summary: SSE `reps` events. */
  readonly reps$?: Observable<RepsEvent>;
  /** Newest tracked pose per subject, throttled (live-streams.ts): SSE `pose` events. */
  readonly poses$?: Observable<PosePreview>;
  /** Top three classes per subject and hop, throttled (live-streams.ts): SSE `scores` events. */
  readonly scores$?: Observable<LiveScores>;
  /** The model serving after each swap (reload, enrollment, activation): SSE `model` events. */
  readonly model$?: Observable<ModelInfo>;
  /** The last `n` activity events, oldest first. */
  recentEvents(n: number): readonly ActivityEvent[];
  /**
   * Now on the gateway clock, ms since the epoch: the page measures its own clock against it,
   * so a tablet whose clock is off still draws "the last hour" of the gateway. Absent: the
   * page trusts its own clock.
   */
  nowMs?(): number;
  /**
   * Loads the model again from disk. Rejects (ideally with a GatewayError naming the
   * problem) when the new model is bad; the old one must keep serving.
   */
  reloadModel(): Promise<ModelInfo>;
  /*
   * Device management (BLE wearables). Absent: the routes answer 501. Each takes untrusted
   * input, validates it and rejects with a GatewayError whose code decides the HTTP status
   * (DEVICE_INVALID/BLE_BAD_DEVICE/BLE_UNKNOWN_FAMILY 400, BLE_UNKNOWN_DEVICE 404,
   * BLE_DUPLICATE_DEVICE/BLE_DISABLED 409, anything else 500).
   */
  /** `POST /api/devices`: body is one `ble.devices` entry. */
  addDevice?(entry: unknown): Promise<DeviceChangeResult>;
  /** `DELETE /api/devices/:id`. */
  removeDevice?(id: string): Promise<DeviceChangeResult>;
  /** `PATCH /api/devices/:id`: body `{ subject?: string | null, placement?: string }`. */
  assignDevice?(id: string, assignment: unknown): Promise<DeviceChangeResult>;
  /** `POST /api/ble/scan`: body `{ seconds? }`; BLE_DISABLED/BLE_NOT_READY 409, DEVICE_INVALID 400. */
  scanDevices?(request: unknown): ScanStatus;
  /** `GET /api/ble/nearby`: the scan list. */
  nearbyDevices?(): NearbyReport;
  /** False when BLE is disabled (the page then offers no scan). Absent: true when nearbyDevices is. */
  bleEnabled?(): boolean;
  /** Recording for the trainer (`/api/recording/*`); absent when the recorder is disabled. */
  readonly recording?: RecordingControl;
  /** Enrollment and model versions (`/api/model/classes|versions|enroll|activate|rollback`); absent: 501. */
  readonly enrollment?: Pick<
    EnrollmentService,
    'enroll' | 'classes' | 'versions' | 'activate' | 'rollback' | 'removeClass'
  >;
}

export interface SseOptions {
  /** A comment line every this many ms keeps proxies and the browser from timing out. Default 15 000. */
  readonly heartbeatMs?: number;
  /**
   * Bytes a client may have queued unsent before it is dropped as too slow (its socket
   * is not draining). Bounds memory per client. Default 1 MiB.
   */
  readonly maxBufferedBytes?: number;
  /** Recent events sent to a newly connected client. Default 20. */
  readonly recentOnConnect?: number;
  /** What the heartbeat runs on. Default: real timers; tests pass virtual ones. */
  readonly timers?: Timers;
}

export interface HttpServerOptions {
  /** Interface to bind; loopback unless the operator opens it up. Default 127.0.0.1. */
  readonly host?: string;
  /** 0 picks a free port. Default 8080. */
  readonly port?: number;
  /** Bearer token for endpoints that change anything; without one they answer 403. */
  readonly token?: string;
  /** Reads (page, SSE, REST, metrics) need the token too (read-auth.ts). Requires `token`. */
  readonly readAuth?: boolean;
  /** HTTPS: PEM certificate chain and private key (file contents). */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly logger: Logger;
  readonly view: GatewayView;
  readonly sse?: SseOptions;
  /** Directory of the live page (index.html, app.js, style.css). Default: ./public beside this module. */
  readonly publicDir?: string;
}
