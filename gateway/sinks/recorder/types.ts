import type { Timers } from '../../clock/timers.ts';
import type { Registry } from 'prom-client';
import type { Placement } from '../../domain/samples.ts';
import type { Clock, TimeNs } from '../../domain/time.ts';
import type { HealthRegistry } from '../../observability/health.ts';
import type { Logger } from '../../observability/logger.ts';
import type { RecorderOptions } from './options.ts';

/* What the recorder's callers see: requests, summaries, status. */

export type StopReason = 'requested' | 'shutdown' | 'max_bytes' | 'disk_full' | 'write_failed';

export interface RecorderDeps {
  readonly gatewayId: string;
  readonly registry: Registry;
  readonly health?: HealthRegistry;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** The drain timeout at stop runs on these. Default: real timers; tests pass virtual ones. */
  readonly timers?: Timers;
  readonly options?: Partial<RecorderOptions>;
}

export interface RecordingDeviceSpec {
  readonly id: string;
  /** 'camera' entries are taken as cameras (so replay/BLE device lists can be passed as they are). */
  readonly kind?: 'imu' | 'camera';
  readonly subject?: string | null;
  readonly placement?: Placement | null;
  readonly placementNote?: string;
  /** Nominal rate; recording.json gets the measured one when there are two rows or more. */
  readonly rateHz?: number;
}

export interface RecordingCameraSpec {
  readonly id: string;
  readonly rateHz?: number;
  /** Track id → subject id, where known before the tracks appear. */
  readonly tracks?: Readonly<Record<string, string>>;
}

export interface RecordingSubjectSpec {
  readonly id: string;
  readonly name?: string;
}

export interface StartRequest {
  /** The recording directory itself. Default: `<options.dir>/<time>-<name>`. */
  readonly dir?: string;
  /** Letters, digits, `.`, `_`, `-`. Default options.name. */
  readonly name?: string;
  readonly description?: string;
  readonly subjects?: readonly (string | RecordingSubjectSpec)[];
  readonly devices?: readonly RecordingDeviceSpec[];
  readonly cameras?: readonly RecordingCameraSpec[];
  /** The model active while recording. */
  readonly model?: { readonly name: string; readonly version: string } | null;
}

/** A label on the gateway clock (what the live page and commands send). */
export interface LabelRequest {
  readonly subject: string;
  readonly startNs: TimeNs;
  readonly endNs: TimeNs;
  readonly activity: string;
}

export interface RecordingSummary {
  readonly dir: string;
  readonly name: string;
  readonly startTime: string;
  readonly endTime: string;
  readonly reason: StopReason;
  readonly rows: { readonly imu: number; readonly pose: number; readonly labels: number };
  /** CSV bytes on disk. */
  readonly bytes: number;
  readonly dropped: Readonly<Record<string, number>>;
  /** Streams with at least one row (files listed in recording.json). */
  readonly devices: readonly string[];
  readonly cameras: readonly string[];
  /** The first write error, if any (the recording holds every row written before it). */
  readonly error?: { readonly code: string; readonly message: string };
  /** Set when the final recording.json could not be written (the last checkpoint stays). */
  readonly manifestError?: string;
}

export interface RecorderStatus {
  readonly state: 'idle' | 'starting' | 'recording' | 'stopping';
  readonly dir?: string;
  readonly name?: string;
  readonly startTime?: string;
  readonly rows?: { readonly imu: number; readonly pose: number; readonly labels: number };
  readonly bytes?: number;
  readonly queuedBytes?: number;
  readonly dropped?: Readonly<Record<string, number>>;
  readonly openLabels?: readonly {
    readonly subject: string;
    readonly activity: string;
    readonly startNs: TimeNs;
  }[];
  readonly last?: RecordingSummary;
}
