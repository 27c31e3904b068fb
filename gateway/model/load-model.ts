import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { LoadedModel } from '../domain/model.ts';
import type { Logger } from '../observability/logger.ts';
import { GatewayError, errorMessage } from '../observability/errors.ts';
import type { ExecutionProviderName } from '../domain/execution-provider.ts';
import { jsonPath, validateManifest, type ModelManifest, type PrototypeFile } from './manifest.ts';
import type { Modality } from '../domain/samples.ts';
import { decodePrototypes, readVerifiedFiles } from './files.ts';
import { openOnMainThread } from './encoder-session.ts';
import type { InferenceThread } from './inference-thread.ts';
import { OrtEncoderRunner } from './encoder-runner.ts';

export interface LoadModelOptions {
  /** Tried in order per encoder (e.g. tensorrt → cuda → cpu); the first that loads is used. */
  readonly providers: readonly ExecutionProviderName[];
  readonly intraOpThreads?: number | undefined;
  /** false: ignore the manifest's open-set thresholds, always name the closest class (default true). */
  readonly openSet?: boolean | undefined;
  readonly logger: Logger;
  /**
   * Sessions of the model serving now: an encoder with the same file (sha256) and interface
   * shares its session instead of opening another (a version that only changes prototypes,
   * e.g. after enrollment, loads in milliseconds).
   */
  readonly reuse?: readonly OrtEncoderRunner[] | undefined;
  /**
   * The inference worker to open the sessions in (`model.inferenceThread: 'worker'`); absent,
   * they live on the calling thread, whose event loop each run then blocks.
   */
  readonly thread?: InferenceThread | undefined;
}

/** LoadedModel plus what /health, MQTT status and the parity check need. */
export interface OrtLoadedModel extends LoadedModel {
  /** Absolute model directory. */
  readonly dir: string;
  readonly manifest: ModelManifest;
  readonly encoders: readonly OrtEncoderRunner[];
  /** sha256 of manifest.json: identifies exactly what is loaded. */
  readonly manifestSha256: string;
  encoder(name: string): OrtEncoderRunner | undefined;
}

/**
 * Loads a model directory (docs/model-format.md): manifest validated against its schema,
 * every referenced file's sha256 checked, one onnxruntime session per encoder on the first
 * configured provider that works, graph inputs checked against the manifest.
 * Coded failures: MODEL_FILE_MISSING, MODEL_MANIFEST_INVALID, MODEL_HASH_MISMATCH,
 * MODEL_ONNX_INVALID, MODEL_PROVIDER_UNAVAILABLE, MODEL_INPUT_MISMATCH, MODEL_OUTPUT_MISMATCH.
 * Nothing stays open on failure.
 */
export async function loadModel(dir: string, options: LoadModelOptions): Promise<OrtLoadedModel> {
  const root = resolve(dir);
  const manifestPath = join(root, 'manifest.json');
  const started = performance.now();

  let text: Buffer;
  try {
    text = await readFile(manifestPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GatewayError(
      'MODEL_FILE_MISSING',
      code === 'ENOENT'
        ? `No model at ${root}: ${manifestPath} does not exist (model.path in the configuration)`
        : `Cannot read ${manifestPath}: ${errorMessage(err)}`,
      { cause: err, details: { file: manifestPath } },
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw new GatewayError(
      'MODEL_MANIFEST_INVALID',
      `${manifestPath} is not valid JSON: ${errorMessage(err)}`,
      {
        cause: err,
        details: { file: manifestPath },
      },
    );
  }
  const manifest = validateManifest(data, manifestPath);
  const files = await readVerifiedFiles(root, manifest);
  const prototypes = decodePrototypes(files.get('$.prototypes')!, manifest);
  const modalityPrototypes: Partial<Record<Modality, Float32Array>> = {};
  for (const [modality, p] of Object.entries(manifest.prototypes.modalities ?? {}) as [
    Modality,
    PrototypeFile,
  ][]) {
    const path = ['prototypes', 'modalities', modality];
    modalityPrototypes[modality] = decodePrototypes(files.get(jsonPath(path))!, manifest, p.shape, [
      ...path,
      'shape',
    ]);
  }

  const runners: OrtEncoderRunner[] = [];
  try {
    for (const [i, encoder] of manifest.encoders.entries()) {
      const shared = options.reuse?.find((r) => r.sameAs(encoder, manifest.embeddingDim));
      if (shared) {
        runners.push(shared.retain());
        options.logger.info(
          { encoder: shared.name, provider: shared.provider },
          `encoder ${shared.name}: same file as the model serving, session shared`,
        );
        continue;
      }
      const file = files.get(`$.encoders[${i}]`)!;
      const opened = options.thread
        ? await options.thread.openEncoder(file.bytes, encoder, i, file.path, options)
        : await openOnMainThread(file.bytes, encoder, i, file.path, options);
      const runner = new OrtEncoderRunner(encoder, manifest.embeddingDim, opened);
      runners.push(runner);
      options.logger.info(
        {
          encoder: runner.name,
          modality: runner.modality,
          provider: runner.provider,
          providerFailures: runner.providerFailures,
          loadMs: Math.round(runner.loadMs),
          thread: options.thread ? 'worker' : 'main',
        },
        `encoder ${runner.name} loaded on ${runner.provider}${options.thread ? ' in the inference worker' : ''}`,
      );
    }
  } catch (err) {
    await Promise.allSettled(runners.map((r) => r.close()));
    throw err;
  }

  const model: OrtLoadedModel = {
    dir: root,
    manifest,
    manifestSha256: createHash('sha256').update(text).digest('hex'),
    name: manifest.name,
    version: manifest.version,
    embeddingDim: manifest.embeddingDim,
    temperature: manifest.temperature,
    classes: manifest.classes.map((c) => ({ id: c.id, name: c.name, description: c.description })),
    prototypes,
    ...(Object.keys(modalityPrototypes).length > 0 ? { modalityPrototypes } : {}),
    ...(manifest.openSet && options.openSet !== false
      ? { openSetThresholds: manifest.openSet.thresholds }
      : {}),
    encoders: runners,
    fusion: manifest.fusion.method,
    encoder: (name) => runners.find((r) => r.name === name),
    close: async () => {
      await Promise.all(runners.map((r) => r.close()));
    },
  };
  options.logger.info(
    {
      model: model.name,
      version: model.version,
      dir: root,
      providers: Object.fromEntries(runners.map((r) => [r.name, r.provider])),
      loadMs: Math.round(performance.now() - started),
    },
    `model ${model.name} ${model.version} loaded`,
  );
  return model;
}
