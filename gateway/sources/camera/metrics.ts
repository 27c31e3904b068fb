import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counter as counterOn, gauge as gaugeOn, histogram } from '../../observability/metrics.ts';

/** The camera path's Prometheus instruments; registered once per registry and reused. */
export interface CameraMetrics {
  /** Frames decoded by ffmpeg and sliced off its pipe. */
  readonly frames: Counter<'camera'>;
  /** Frames not estimated, by reason: superseded (estimator busy), fps_cap, partial (stream cut mid-frame). */
  readonly dropped: Counter<'camera' | 'reason'>;
  readonly reconnects: Counter<'camera' | 'code'>;
  /** Time without frames between the last frame before an outage and the first after it. */
  readonly gapSeconds: Counter<'camera'>;
  /** Frames the stream would have delivered during those gaps at its measured rate. */
  readonly gapFrames: Counter<'camera'>;
  readonly connected: Gauge<'camera'>;
  readonly firstFrameSeconds: Gauge<'camera'>;
  readonly rateHz: Gauge<'camera'>;
  readonly estimateSeconds: Histogram<'camera'>;
  readonly persons: Counter<'camera'>;
  readonly tracks: Gauge<'camera'>;
  readonly poseFrames: Counter<'camera' | 'assigned'>;
  readonly matchAssignments: Counter<'result'>;
}

export function cameraMetrics(registry: Registry): CameraMetrics {
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    counterOn(registry, name, help, labelNames);
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    gaugeOn(registry, name, help, labelNames);
  return {
    frames: counter('mujo_camera_frames_total', 'Frames decoded from a camera.', ['camera']),
    dropped: counter(
      'mujo_camera_frames_dropped_total',
      'Decoded frames not estimated, by reason (superseded: estimator busy, latest frame wins; fps_cap; partial: stream cut mid-frame).',
      ['camera', 'reason'],
    ),
    reconnects: counter(
      'mujo_camera_reconnects_total',
      'ffmpeg restarts of a camera, by the error code that caused them.',
      ['camera', 'code'],
    ),
    gapSeconds: counter(
      'mujo_camera_gap_seconds_total',
      'Seconds without frames across outages that the reader recovered from.',
      ['camera'],
    ),
    gapFrames: counter(
      'mujo_camera_gap_frames_total',
      'Frames missed during outages, at the rate measured before them.',
      ['camera'],
    ),
    connected: gauge('mujo_camera_connected', '1 while a camera delivers frames.', ['camera']),
    firstFrameSeconds: gauge(
      'mujo_camera_first_frame_seconds',
      'ffmpeg start → first frame of the latest connection, s.',
      ['camera'],
    ),
    rateHz: gauge('mujo_camera_rate_hz', 'Decoded frames per second over the last 5 s.', ['camera']),
    estimateSeconds: histogram(
      registry,
      'mujo_camera_estimate_seconds',
      'Pose estimation time per frame, seconds.',
      ['camera'],
      [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
    ),
    persons: counter('mujo_camera_persons_total', 'People detected, summed over frames.', ['camera']),
    tracks: gauge('mujo_camera_tracks', 'Confirmed person tracks currently held.', ['camera']),
    poseFrames: counter(
      'mujo_camera_pose_frames_total',
      'Pose frames emitted, by whether a subject was known.',
      ['camera', 'assigned'],
    ),
    matchAssignments: counter(
      'mujo_camera_match_changes_total',
      'Wearable ↔ track pairings made or released by automatic matching (result: locked, switched, released).',
      ['result'],
    ),
  };
}
