/** The modalities the joint space knows. Text lives only in the model (class prototypes). */
export type Modality = 'imu' | 'pose';
export const MODALITIES: readonly Modality[] = ['imu', 'pose'];

/** Where an IMU is worn (the list: config/schemas/recording.schema.json, see ./placement.ts). */
import type { Placement } from './placement.ts';
export type { Placement };

/** Number of values per IMU sample: ax, ay, az (m/s²), gx, gy, gz (rad/s). */
export const IMU_CHANNELS = 6;
/** The COCO-17 keypoint order every pose stream, recording and encoder uses. */
export const COCO17_KEYPOINTS = [
  'nose',
  'left_eye',
  'right_eye',
  'left_ear',
  'right_ear',
  'left_shoulder',
  'right_shoulder',
  'left_elbow',
  'right_elbow',
  'left_wrist',
  'right_wrist',
  'left_hip',
  'right_hip',
  'left_knee',
  'right_knee',
  'left_ankle',
  'right_ankle',
] as const;
export type CocoKeypoint = (typeof COCO17_KEYPOINTS)[number];

/** COCO-17 keypoints × (x, y in normalised image coordinates 0..1, score 0..1). */
export const POSE_KEYPOINTS = COCO17_KEYPOINTS.length;
export const POSE_VALUES_PER_KEYPOINT = 3;
export const POSE_VALUES_PER_FRAME = POSE_KEYPOINTS * POSE_VALUES_PER_KEYPOINT;

/**
 * Which clock a chunk's `tNs` is on. Every source of the gateway maps device clocks where
 * samples enter (gateway/clock/DeviceClockMapper: BLE, MQTT ingest), so every consumer sees
 * 'gateway' or absent (the gateway clock: replay, camera). 'device' is only for streams fed
 * straight into the pipeline, whose clock-mapping stage then maps them.
 */
export type ClockDomain = 'device' | 'gateway';

/**
 * A run of IMU samples from one device, in canonical units on the gateway clock.
 * Samples travel in chunks (typed arrays), never one object per sample.
 */
export interface ImuChunk {
  readonly modality: 'imu';
  /** Stable id of the stream: the device id. */
  readonly sourceId: string;
  /** Subject this device is assigned to, when known. */
  readonly subjectId?: string;
  readonly placement?: Placement;
  readonly clockDomain?: ClockDomain;
  /** Sample times, ascending, gateway clock (ns). Length n. */
  readonly tNs: Float64Array;
  /** Interleaved per sample: ax, ay, az [m/s²], gx, gy, gz [rad/s]. Length 6·n. */
  readonly values: Float32Array;
}

/**
 * A run of pose frames for one tracked person of one camera: COCO-17 keypoints, 2D,
 * normalised image coordinates (x right, y down, 0..1) and a score per keypoint.
 */
export interface PoseChunk {
  readonly modality: 'pose';
  /** Stable id of the stream: `<camera>/<track>`. */
  readonly sourceId: string;
  readonly subjectId?: string;
  readonly clockDomain?: ClockDomain;
  readonly tNs: Float64Array;
  /** Per frame 17 × (x, y, score). Length 51·n. */
  readonly values: Float32Array;
}

export type SampleChunk = ImuChunk | PoseChunk;

export function valuesPerSample(modality: Modality): number {
  return modality === 'imu' ? IMU_CHANNELS : POSE_VALUES_PER_FRAME;
}

export function chunkLength(chunk: SampleChunk): number {
  return chunk.tNs.length;
}
