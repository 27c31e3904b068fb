import type { Modality } from './samples.ts';

/** One class of the loaded model, manifest order. */
export interface ModelClass {
  readonly id: string;
  readonly name: string;
  readonly description: string;
}

/**
 * A loaded encoder: runs a batch of windows through its ONNX session.
 * `run` takes `batchSize` inputs concatenated in one Float32Array (each laid out as the
 * encoder's input without the batch axis) and resolves to [batchSize, embeddingDim]
 * L2-normalised rows, row-major.
 */
export interface EncoderRunner {
  readonly name: string;
  readonly modality: Modality;
  /** Execution provider that loaded (tensorrt, cuda, cpu). */
  readonly provider: string;
  readonly sampleRateHz: number;
  readonly windowSamples: number;
  readonly hopSamples: number;
  /** Number of float values of one input (6·T for IMU, T·17·3 for pose). */
  readonly inputSize: number;
  readonly embeddingDim: number;
  run(batch: Float32Array, batchSize: number): Promise<Float32Array>;
}

/** What the pipeline needs of a model; produced by gateway/model from a validated manifest. */
export interface LoadedModel {
  readonly name: string;
  readonly version: string;
  readonly embeddingDim: number;
  readonly temperature: number;
  readonly classes: readonly ModelClass[];
  /** [classes, embeddingDim] row-major, L2-normalised. */
  readonly prototypes: Float32Array;
  /**
   * Per-modality prototypes, same layout; a modality absent here is scored against
   * `prototypes`. Absent on models without per-modality prototypes.
   */
  readonly modalityPrototypes?: Partial<Record<Modality, Float32Array>>;
  /**
   * Open-set thresholds on the top class's cosine, per modality set ('imu', 'pose',
   * 'imu+pose'); below it the hop is `unknown`. Absent: every hop names a class.
   */
  readonly openSetThresholds?: Readonly<Partial<Record<string, number>>>;
  readonly encoders: readonly EncoderRunner[];
  readonly fusion: 'mean-logits';
  close(): Promise<void>;
}
