import { COCO17_KEYPOINTS } from './samples.ts';

/**
 * CSV headers of the recording format (docs/recording-format.md): one definition for the
 * writer (sinks/recorder) and the reader (sources/replay), so they cannot disagree.
 */
export const IMU_HEADER = ['t_ns', 'ax', 'ay', 'az', 'gx', 'gy', 'gz'] as const;
export const POSE_HEADER = [
  't_ns',
  'track',
  ...COCO17_KEYPOINTS.flatMap((k) => [`${k}_x`, `${k}_y`, `${k}_score`]),
] as const;
export const LABELS_HEADER = ['subject', 'start_ns', 'end_ns', 'activity'] as const;
