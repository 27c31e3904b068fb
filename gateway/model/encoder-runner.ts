import type { EncoderRunner } from '../domain/model.ts';
import type { Modality } from '../domain/samples.ts';
import { GatewayError } from '../observability/errors.ts';
import type { EncoderManifest } from './manifest.ts';
import { expectedInputDims } from './manifest.ts';
import type { EncoderSession, OpenedEncoder } from './encoder-session.ts';
import type { ProviderFailure } from './session.ts';

/**
 * One encoder's onnxruntime session behind the domain's EncoderRunner, wherever the session
 * lives (main thread or inference worker, see encoder-session.ts). Runs are counted so
 * that `close()` (after a model swap) waits for batches already in flight instead of
 * releasing a session under them; runs started after close fail with MODEL_CLOSED.
 */
export class OrtEncoderRunner implements EncoderRunner {
  readonly name: string;
  readonly modality: Modality;
  readonly provider: string;
  /** Providers tried before `provider` and why each failed (empty when the first loaded). */
  readonly providerFailures: readonly ProviderFailure[];
  readonly sampleRateHz: number;
  readonly windowSamples: number;
  readonly hopSamples: number;
  readonly inputSize: number;
  readonly embeddingDim: number;
  /** One input's dims without the batch axis: IMU [6, T], pose [T, 17, 3]. */
  readonly inputDims: readonly number[];
  readonly loadMs: number;
  readonly manifest: EncoderManifest;

  private readonly session: EncoderSession;
  private inFlight = 0;
  private idle: (() => void) | undefined;
  private closed: Promise<void> | undefined;
  /** Models using this session: a version that changes only prototypes shares its parent's. */
  private holders = 1;

  constructor(manifest: EncoderManifest, embeddingDim: number, opened: OpenedEncoder) {
    this.manifest = manifest;
    this.name = manifest.name;
    this.modality = manifest.modality;
    this.provider = opened.provider;
    this.providerFailures = opened.failures;
    this.loadMs = opened.loadMs;
    this.sampleRateHz = manifest.sampleRateHz;
    this.windowSamples = manifest.windowSamples;
    this.hopSamples = manifest.hopSamples;
    this.inputDims = expectedInputDims(manifest);
    this.inputSize = this.inputDims.reduce((a, b) => a * b, 1);
    this.embeddingDim = embeddingDim;
    this.session = opened.session;
  }

  async run(batch: Float32Array, batchSize: number): Promise<Float32Array> {
    if (this.closed)
      throw new GatewayError(
        'MODEL_CLOSED',
        `encoder ${this.name} was closed (model replaced or gateway stopping)`,
      );
    if (!Number.isInteger(batchSize) || batchSize < 1 || batch.length !== batchSize * this.inputSize) {
      throw new GatewayError(
        'MODEL_RUN_INVALID_INPUT',
        `encoder ${this.name}: got ${batch.length} values for batch ${batchSize}, expected ${batchSize} × ${this.inputSize}`,
      );
    }
    this.inFlight++;
    try {
      const output = await this.session.run(batch, [batchSize, ...this.inputDims]);
      const data = output.data;
      if (!(data instanceof Float32Array) || data.length !== batchSize * this.embeddingDim) {
        const got = ArrayBuffer.isView(data) ? (data as Float32Array).length : 0;
        throw new GatewayError(
          'MODEL_RUN_BAD_OUTPUT',
          `encoder ${this.name}: output '${this.manifest.output.name}' has ${got} values (${output.type}), expected float32 ${batchSize} × ${this.embeddingDim}`,
        );
      }
      return data;
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) this.idle?.();
    }
  }

  /** Another model uses this session too; each holder calls `close()` once. */
  retain(): this {
    if (this.closed) throw new GatewayError('MODEL_CLOSED', `encoder ${this.name} was closed`);
    this.holders++;
    return this;
  }

  /** True when `manifest` describes exactly this session's graph and interface. */
  sameAs(manifest: EncoderManifest, embeddingDim: number): boolean {
    const m = this.manifest;
    return (
      this.closed === undefined &&
      m.name === manifest.name &&
      m.sha256 === manifest.sha256 &&
      m.modality === manifest.modality &&
      m.input.name === manifest.input.name &&
      m.output.name === manifest.output.name &&
      m.sampleRateHz === manifest.sampleRateHz &&
      m.windowSamples === manifest.windowSamples &&
      m.hopSamples === manifest.hopSamples &&
      this.embeddingDim === embeddingDim
    );
  }

  /** Once the last holder closes: waits for runs in flight, then releases the session. Idempotent per holder. */
  close(): Promise<void> {
    if (this.closed === undefined && this.holders > 1) {
      this.holders--;
      return Promise.resolve();
    }
    this.closed ??= (async () => {
      if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
      await this.session.release();
    })();
    return this.closed;
  }
}
