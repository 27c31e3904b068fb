import { PAYLOAD_VERSION } from '../../domain/events.ts';

/**
 * `<base>/<gw>/subjects/<subject>/reps` payload (config/schemas/mqtt-reps.schema.json).
 * Nothing produces repetitions yet; the topic and payload are fixed so consumers can be
 * written against them.
 */
export interface RepsEvent {
  readonly v: typeof PAYLOAD_VERSION;
  readonly gateway: string;
  readonly subject: string;
  readonly activity: string;
  /** Repetitions of `activity` since it started. */
  readonly count: number;
  /** When the last repetition completed (ISO 8601 and ns, gateway clock). */
  readonly time: string;
  readonly timeNs: number;
  readonly seq: number;
}

/** What the app knows about the model it is serving, for the status message. */
export interface GatewayStatusInfo {
  readonly model: { readonly name: string; readonly version: string } | null;
  /** One entry per encoder: the execution provider that loaded it. */
  readonly encoders: ReadonlyArray<{
    readonly name: string;
    readonly modality: string;
    readonly provider: string;
  }>;
  /** More facts the app wants on the status topic (JSON-serialisable). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** `<base>/<gw>/status` payload, retained (config/schemas/mqtt-status.schema.json). */
export interface GatewayStatus extends GatewayStatusInfo {
  readonly v: typeof PAYLOAD_VERSION;
  readonly gateway: string;
  readonly state: 'online' | 'offline';
  readonly software: { readonly name: string; readonly version: string };
  readonly startedAt: string;
  readonly uptimeS: number;
  readonly updated: string;
}
