import { PAYLOAD_VERSION } from '../../domain/events.ts';

/** `<base>/<gw>/subjects/<subject>/reps` payload (config/schemas/mqtt-reps.schema.json). */
export type { RepsEvent } from '../../domain/events.ts';

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
