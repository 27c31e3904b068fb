import type { Modality } from './samples.ts';
import type { TimeNs } from './time.ts';

/**
 * A fixed-length, evenly sampled slice of one stream, ready for its encoder.
 * `input` is laid out exactly as the encoder's ONNX input without the batch axis
 * (IMU: [6, T] channel-major; pose: [T, 17, 3]).
 */
export interface SensorWindow {
  readonly subjectId: string;
  readonly sourceId: string;
  readonly modality: Modality;
  /** Name of the manifest encoder that consumes this window. */
  readonly encoder: string;
  readonly startNs: TimeNs;
  readonly endNs: TimeNs;
  /** Gateway-clock time at which the window was closed (for latency accounting). */
  readonly closedAtNs: TimeNs;
  readonly input: Float32Array;
}

/** The L2-normalised joint-space vector an encoder produced for one window. */
export interface WindowEmbedding {
  readonly window: SensorWindow;
  readonly vector: Float32Array;
  /** Size of the batch this window was run in, and that batch's run time. */
  readonly batchSize: number;
  readonly inferenceUs: number;
}
