import type { EncoderRunner, LoadedModel, ModelClass } from '../../../../gateway/domain/model.ts';
import {
  IMU_CHANNELS,
  POSE_VALUES_PER_FRAME,
  type ImuChunk,
  type Modality,
  type PoseChunk,
} from '../../../../gateway/domain/samples.ts';
import { prng } from '../../../helpers/prng.ts';

export { prng } from '../../../helpers/prng.ts';

export interface FakeEncoderSpec {
  name: string;
  modality: Modality;
  sampleRateHz: number;
  windowSamples: number;
  hopSamples: number;
  embeddingDim: number;
  seed?: number;
  /** Resolves each run after this promise (e.g. a virtual-time delay); default: immediately. */
  delay?: () => Promise<void>;
}

/**
 * A unit-test stand-in for the ONNX encoder: a fixed random projection of the input,
 * L2-normalised per row — deterministic, so the same window always gives the same vector.
 */
export class FakeEncoder implements EncoderRunner {
  readonly name: string;
  readonly modality: Modality;
  readonly provider = 'fake';
  readonly sampleRateHz: number;
  readonly windowSamples: number;
  readonly hopSamples: number;
  readonly inputSize: number;
  readonly embeddingDim: number;
  readonly batches: number[] = [];
  /** Inputs of every run, copied (the caller reuses its buffers). */
  readonly inputs: Float32Array[] = [];
  failNext = 0;
  private readonly projection: Float32Array;
  private readonly delay: (() => Promise<void>) | undefined;

  constructor(spec: FakeEncoderSpec) {
    this.name = spec.name;
    this.modality = spec.modality;
    this.sampleRateHz = spec.sampleRateHz;
    this.windowSamples = spec.windowSamples;
    this.hopSamples = spec.hopSamples;
    this.embeddingDim = spec.embeddingDim;
    this.inputSize = spec.windowSamples * (spec.modality === 'imu' ? IMU_CHANNELS : POSE_VALUES_PER_FRAME);
    const rnd = prng(spec.seed ?? 1);
    this.projection = Float32Array.from({ length: this.embeddingDim * this.inputSize }, () => rnd() * 2 - 1);
    this.delay = spec.delay;
  }

  embed(input: Float32Array): Float32Array {
    const out = new Float32Array(this.embeddingDim);
    let norm = 0;
    for (let d = 0; d < this.embeddingDim; d++) {
      let dot = 0;
      const row = d * this.inputSize;
      for (let i = 0; i < this.inputSize; i++)
        dot += (this.projection[row + i] as number) * (input[i] as number);
      out[d] = dot;
      norm += dot * dot;
    }
    norm = Math.sqrt(norm) || 1;
    for (let d = 0; d < this.embeddingDim; d++) out[d] = (out[d] as number) / norm;
    return out;
  }

  async run(batch: Float32Array, batchSize: number): Promise<Float32Array> {
    if (batch.length !== batchSize * this.inputSize) throw new RangeError(`bad batch length ${batch.length}`);
    this.batches.push(batchSize);
    this.inputs.push(batch.slice());
    if (this.delay) await this.delay();
    if (this.failNext > 0) {
      this.failNext--;
      throw Object.assign(new Error('fake encoder failure'), { code: 'FAKE_FAILURE' });
    }
    const out = new Float32Array(batchSize * this.embeddingDim);
    for (let b = 0; b < batchSize; b++)
      out.set(
        this.embed(batch.subarray(b * this.inputSize, (b + 1) * this.inputSize)),
        b * this.embeddingDim,
      );
    return out;
  }
}

export function fakeModel(
  encoders: EncoderRunner[],
  classes: ModelClass[],
  prototypes: Float32Array,
  temperature = 0.1,
): LoadedModel {
  return {
    name: 'fake',
    version: '0.0.0-test',
    embeddingDim: encoders[0]?.embeddingDim ?? 0,
    temperature,
    classes,
    prototypes,
    encoders,
    fusion: 'mean-logits',
    close: async () => undefined,
  };
}

export function classes(...ids: string[]): ModelClass[] {
  return ids.map((id) => ({ id, name: id.replace(/_/g, ' '), description: `test class ${id}` }));
}

/** n IMU samples at `times`, values from fn(t) (6 values). */
export function imuChunk(
  sourceId: string,
  subjectId: string | undefined,
  times: number[],
  fn: (tNs: number) => number[],
): ImuChunk {
  const values = new Float32Array(times.length * IMU_CHANNELS);
  times.forEach((t, i) => values.set(fn(t), i * IMU_CHANNELS));
  return {
    modality: 'imu',
    sourceId,
    ...(subjectId === undefined ? {} : { subjectId }),
    tNs: Float64Array.from(times),
    values,
  };
}

export function poseChunk(
  sourceId: string,
  subjectId: string | undefined,
  times: number[],
  fn: (tNs: number) => number[],
): PoseChunk {
  const values = new Float32Array(times.length * POSE_VALUES_PER_FRAME);
  times.forEach((t, i) => values.set(fn(t), i * POSE_VALUES_PER_FRAME));
  return {
    modality: 'pose',
    sourceId,
    ...(subjectId === undefined ? {} : { subjectId }),
    tNs: Float64Array.from(times),
    values,
  };
}

/** Evenly spaced times: first, then every periodNs, n of them. */
export function times(firstNs: number, periodNs: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => firstNs + i * periodNs);
}
