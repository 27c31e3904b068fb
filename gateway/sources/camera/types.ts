import type { TimeNs } from '../../domain/time.ts';

/*
 * The contracts between the camera stages: reader → estimator → tracker → matching.
 * Keypoints are COCO-17, laid out as in PoseChunk: per keypoint (x, y, score), x right and
 * y down, normalised to the ORIGINAL image (0..1), whatever crop or letterbox the model used.
 */

/** One decoded picture from a camera: packed RGB24, row-major, `width·height·3` bytes. */
export interface Frame {
  readonly cameraId: string;
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
  /** Gateway-clock time at which the frame's last byte arrived from the decoder. */
  readonly tNs: TimeNs;
  /** Frame number since the reader started, over all reconnects (gaps show as jumps only in `tNs`). */
  readonly seq: number;
}

/** One person the estimator found in a frame. */
export interface DetectedPerson {
  /** 17 × (x, y, score), normalised image coordinates. */
  readonly keypoints: Float32Array;
  /** Bounding box [x0, y0, x1, y1], normalised image coordinates, when the model gives one. */
  readonly box?: readonly [number, number, number, number];
  /** Person confidence 0..1 (single-pose models: the mean keypoint score). */
  readonly score: number;
}

export interface PoseEstimator {
  estimate(frame: Buffer, width: number, height: number): Promise<DetectedPerson[]>;
  /** Frees the ONNX session; optional so simple estimators need not implement it. */
  close?(): Promise<void>;
}

/** MoveNet variants the estimator offers. */
export type PoseModelName = 'lightning' | 'thunder' | 'multipose';

/** Makes the estimator for a camera's model; the camera source calls it once per distinct model. */
export type PoseEstimatorFactory = (model: PoseModelName) => Promise<PoseEstimator>;
