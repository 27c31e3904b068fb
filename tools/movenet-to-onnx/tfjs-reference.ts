import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';

/*
 * The original MoveNet TFJS graph models, run by TensorFlow.js itself: the reference the
 * converted ONNX files are checked against (parity test) and raced against (bench/pose).
 * tfjs-node's native binding cannot be installed here, so the pure-JS `cpu` backend (the
 * reference) or the `wasm` backend (the fast portable one) runs them.
 */

export type TfjsBackend = 'cpu' | 'wasm';
export type MoveNetVariant = 'lightning' | 'thunder' | 'multipose';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where the converter found each variant's TFJS files (see tools/movenet-to-onnx/convert.py). */
export function tfjsModelPath(variant: MoveNetVariant): string {
  return variant === 'lightning'
    ? join(repo, 'node_modules', '@vladmandic', 'human', 'models', 'movenet-lightning.json')
    : join(repo, 'node_modules', '.cache', 'movenet-to-onnx', 'package', 'models', `movenet-${variant}.json`);
}

let backendReady: Promise<void> | undefined;
let backendName: TfjsBackend | undefined;

export async function useBackend(backend: TfjsBackend, threads?: number): Promise<void> {
  if (backendName !== undefined && backendName !== backend) {
    await tf.setBackend(backend);
    backendName = backend;
    return;
  }
  backendReady ??= (async () => {
    if (backend === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const dist = join(repo, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + '/';
      wasm.setWasmPaths(dist);
      if (threads !== undefined) wasm.setThreadsCount(threads);
    }
    await tf.setBackend(backend);
    await tf.ready();
    backendName = backend;
  })();
  await backendReady;
}

interface ModelJson {
  modelTopology: tf.io.ModelArtifacts['modelTopology'];
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  signature?: object;
}

export async function loadTfjsMoveNet(path: string): Promise<tf.GraphModel> {
  const json = JSON.parse(await readFile(path, 'utf8')) as ModelJson;
  const specs: tf.io.WeightsManifestEntry[] = [];
  const shards: Buffer[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) shards.push(await readFile(join(dirname(path), p)));
  }
  const all = Buffer.concat(shards);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology,
    weightSpecs: specs,
    weightData,
    ...(json.format !== undefined ? { format: json.format } : {}),
    ...(json.generatedBy !== undefined ? { generatedBy: json.generatedBy } : {}),
    ...(json.convertedBy !== undefined ? { convertedBy: json.convertedBy } : {}),
    ...(json.signature !== undefined ? { signature: json.signature } : {}),
  };
  return tf.loadGraphModel(tf.io.fromMemory(artifacts));
}

/** Runs the TFJS model on an int32 NHWC image (0..255) and returns its raw output. */
export async function runTfjs(model: tf.GraphModel, pixels: Int32Array, size: number): Promise<Float32Array> {
  const input = tf.tensor4d(pixels, [1, size, size, 3], 'int32');
  try {
    const out = model.execute(input) as tf.Tensor;
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  } finally {
    input.dispose();
  }
}
