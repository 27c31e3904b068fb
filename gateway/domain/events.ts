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

/** The open-set decision of one hop (models with `openSet` thresholds). */
export interface OpenSetScore {
  /** Index of the top class, manifest order. */
  readonly best: number;
  /** The top class's cosine (fused: mean over the windows present). */
  readonly score: number;
  /** Threshold for the modality set present; null when the model has none for it. */
  readonly threshold: number | null;
  /** score < threshold: no class is close enough, the hop is `unknown`. */
  readonly unknown: boolean;
}

/** Activity id announced when no class is close enough (open set); never a class id. */
export const UNKNOWN_ACTIVITY = 'unknown';

/** Open-set details carried by activity events of models with thresholds. */
export interface OpenSetInfo {
  /** The closest class at the latest hop and its cosine, with the threshold it was held to. */
  readonly candidate: string;
  readonly score: number;
  readonly threshold: number | null;
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
  readonly openSet?: OpenSetScore;
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
  /** Models with open-set thresholds: the closest class and its score (activity `unknown` when below). */
  readonly openSet?: OpenSetInfo;
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

/**
 * `mujo/<gw>/subjects/<subject>/reps` payload (config/schemas/mqtt-reps.schema.json): one
 * `rep` event per repetition as it is counted, and one `set` summary when a set ends (the
 * activity ended or changed, or no rep came for the rest time).
 */
export interface RepsEvent {
  readonly v: typeof PAYLOAD_VERSION;
  readonly gateway: string;
  readonly subject: string;
  readonly kind: 'rep' | 'set';
  readonly activity: string;
  /** Set number since the gateway started, per subject (1, 2, …). */
  readonly set: number;
  /** Repetitions of the set so far (`rep`: this rep's number in the set; `set`: the set's total). */
  readonly count: number;
  /** `rep`: when it was counted; `set`: when the set ended (ISO 8601 and ns, gateway clock). */
  readonly time: string;
  readonly timeNs: number;
  /** The modality whose signal counted the rep (for `set`: the one that counted most of them). */
  readonly modality: 'imu' | 'pose';
  /** Periodicity of the counted signal, 0..1. */
  readonly confidence: number;
  /** `rep`: rep time → published, ms (gateway clock). */
  readonly latencyMs?: number;
  /** `set`: first rep − one rep time → last rep, s; mean time per rep, s (null with one rep). */
  readonly start?: string;
  readonly startNs?: number;
  readonly durationS?: number;
  readonly meanRepS?: number | null;
  readonly seq: number;
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
