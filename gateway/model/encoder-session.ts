import * as ort from 'onnxruntime-node';
import type { ExecutionProviderName } from '../domain/execution-provider.ts';
import type { EncoderManifest } from './manifest.ts';
import { openSession, type ProviderFailure, type SessionOptions } from './session.ts';

/*
 * Where an encoder's onnxruntime session lives, seen from its runner: on the main thread
 * (onnxruntime-node runs the native inference synchronously there) or in the inference worker.
 * The runner keeps the bookkeeping (input checks, in-flight count, close) for both.
 */

/** The output tensor of one run, unchecked: the runner checks its type and size. */
export interface EncoderOutput {
  readonly data: unknown;
  readonly type: string;
}

export interface EncoderSession {
  /** Runs `input` shaped `dims` ([batch, ...inputDims]); the caller may reuse `input` once this returns. */
  run(input: Float32Array, dims: readonly number[]): Promise<EncoderOutput>;
  release(): Promise<void>;
}

/** A session that loaded, wherever it lives. */
export interface OpenedEncoder {
  readonly session: EncoderSession;
  readonly provider: ExecutionProviderName;
  /** Providers tried before the one that loaded, and why each failed. */
  readonly failures: readonly ProviderFailure[];
  readonly loadMs: number;
}

/**
 * A main-thread session: `session.run` blocks the event loop for the whole inference (inside
 * a setImmediate), which is what `model.inferenceThread: 'worker'` avoids.
 */
export function mainThreadSession(
  session: ort.InferenceSession,
  inputName: string,
  outputName: string,
): EncoderSession {
  return {
    async run(input, dims) {
      const tensor = new ort.Tensor('float32', input, [...dims]);
      const results = await session.run({ [inputName]: tensor }, [outputName]);
      const output = results[outputName];
      return { data: output?.data, type: output?.type ?? 'none' };
    },
    release: () => session.release(),
  };
}

/** Opens an encoder's session on the main thread (`model.inferenceThread: 'main'`). */
export async function openOnMainThread(
  bytes: Uint8Array,
  encoder: EncoderManifest,
  index: number,
  file: string,
  options: SessionOptions,
): Promise<OpenedEncoder> {
  const opened = await openSession(bytes, encoder, index, file, options);
  return {
    ...opened,
    session: mainThreadSession(opened.session, encoder.input.name, encoder.output.name),
  };
}
