import type { Modality } from './samples.ts';

/** Version of every JSON payload the gateway publishes; bump on breaking change. */
export const PAYLOAD_VERSION = 1;

export interface ClassScore {
  /** Class id from the manifest (stable, snake_case). */
  readonly activity: string;
  readonly confidence: number;
}

/** What the fusion stage used for one decision. */
export interface ModalitySet {
  readonly modalities: readonly Modality[];
  /** Stream ids that contributed (device ids, `<camera>/<track>`). */
  readonly sources: readonly string[];
}

/** Fused class probabilities for one subject at one hop (before smoothing). */
export interface SubjectScores extends ModalitySet {
  readonly subjectId: string;
  readonly startNs: number;
  readonly endNs: number;
  /** Probability per manifest class, manifest order. */
  readonly probabilities: Float32Array;
  /** Latest window close → fused scores, ms. */
  readonly latencyMs: number;
}

export type ActivityTransition = 'started' | 'changed' | 'ended';

/** `mujo/<gw>/subjects/<subject>/activity` payload. */
export interface ActivityEvent extends ModalitySet {
  readonly v: typeof PAYLOAD_VERSION;
  readonly gateway: string;
  readonly subject: string;
  readonly transition: ActivityTransition;
  /** Current activity (for `ended`: the activity that ended). */
  readonly activity: string;
  readonly activityName: string;
  readonly confidence: number;
  readonly topK: readonly ClassScore[];
  /** Start of the activity and, for `ended`/`changed`, the end of the previous one (ISO 8601 and ns). */
  readonly start: string;
  readonly startNs: number;
  readonly end?: string;
  readonly endNs?: number;
  readonly previous?: string;
  readonly model: string;
  readonly modelVersion: string;
  /** Window close → event emitted, ms. */
  readonly latencyMs: number;
  /** Per-gateway sequence number, never repeated across restarts: (gateway, seq) is the dedupe key. */
  readonly seq: number;
}

/** `mujo/<gw>/subjects/<subject>/state` payload (retained). */
export interface SubjectState extends ModalitySet {
  readonly v: typeof PAYLOAD_VERSION;
  readonly gateway: string;
  readonly subject: string;
  readonly activity: string | null;
  readonly activityName: string | null;
  readonly confidence: number;
  readonly since: string | null;
  readonly reps: number;
  readonly updated: string;
}

/** `mujo/<gw>/devices/<device>/state` payload (retained). */
export interface DeviceState {
  readonly v: typeof PAYLOAD_VERSION;
  readonly gateway: string;
  readonly device: string;
  readonly kind: 'imu' | 'camera';
  readonly subject: string | null;
  readonly connected: boolean;
  readonly battery: number | null;
  readonly rssi: number | null;
  readonly rateHz: number | null;
  readonly dropped: number;
  readonly reconnects: number;
  readonly lastSeen: string | null;
}
