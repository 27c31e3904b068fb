import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import type { ExecutionProviderName } from '../../domain/execution-provider.ts';
import type { InferenceThread } from '../../model/inference-thread.ts';
import type { ProviderFailure } from '../../model/session.ts';
import { openTarget, type PoseTarget } from '../../model/session-targets.ts';
import type { Logger } from '../../observability/logger.ts';
import { GatewayError, errorMessage } from '../../observability/errors.ts';
import { POSE_KEYPOINTS } from '../../domain/samples.ts';
import { letterbox, resizeLetterbox, squareToFrame, type Letterbox } from './image.ts';
import type { DetectedPerson, PoseEstimator, PoseEstimatorFactory, PoseModelName } from './types.ts';

/*
 * MoveNet in onnxruntime-node. The ONNX files are converted from the TFJS graph models by
 * tools/movenet-to-onnx (`npm run models:movenet`) and listed with their sha256 in
 * models/movenet/manifest.json; a file whose hash differs is refused.
 *
 * A frame (packed RGB24, any size) is letterboxed into the model's square (see image.ts: the
 * whole frame, aspect kept, centred, black bands), and every keypoint the model gives in the
 * square is mapped back to normalised coordinates of the ORIGINAL frame and clamped to 0..1.
 * Lightning/Thunder always report their one best person (person score = mean keypoint score;
 * the caller filters by its own threshold); MultiPose reports up to 6 people with boxes whose
 * person score is at least `minPersonScore`.
 *
 * The session runs on the main thread, or, given the gateway's inference worker
 * (`model.inferenceThread: 'worker'`), in that worker next to the encoders: onnxruntime-node
 * runs natively and synchronously on the calling thread, so a frame would otherwise block the
 * event loop for the whole inference. Each frame's input buffer is handed to the worker and
 * back (not copied), and reused for a later frame.
 */

/** COCO-17 order (MoveNet's output order too). */
export { COCO17_KEYPOINTS as COCO17, type CocoKeypoint } from '../../domain/samples.ts';
export const KEYPOINTS = POSE_KEYPOINTS;
/** MultiPose output per person: 17 × (y, x, score), then box ymin, xmin, ymax, xmax, score. */
const MULTIPOSE_STRIDE = KEYPOINTS * 3 + 5;

export interface MoveNetOptions {
  /** Default 'lightning'. */
  readonly model?: PoseModelName;
  /** Directory with manifest.json and the .onnx files; default the repository's models/movenet. */
  readonly modelDir?: string;
  /** Tried in order until one loads; default ['cpu']. */
  readonly providers?: readonly ExecutionProviderName[];
  readonly intraOpThreads?: number;
  /** MultiPose people below this person score are not reported; default 0.1. */
  readonly minPersonScore?: number;
  readonly logger: Logger;
  /** The inference worker to run the session in; absent, it runs on the main thread. */
  readonly thread?: InferenceThread | undefined;
}

/** Where the session runs: main thread or inference worker, behind one shape. */
interface PoseSession {
  /** Runs a square NHWC input; `handOver`: the input may be detached, and comes back when it can. */
  run(
    input: Float32Array,
    dims: readonly number[],
    handOver: boolean,
  ): Promise<{ data: unknown; input?: Float32Array | undefined }>;
  release(): Promise<void>;
}

function mainThreadPoseSession(session: ort.InferenceSession, target: PoseTarget): PoseSession {
  return {
    async run(input, dims) {
      const results = await session.run({ [target.inputName]: new ort.Tensor('float32', input, [...dims]) });
      return { data: results[target.outputName]?.data, input };
    },
    release: () => session.release(),
  };
}

/** Input buffers kept for later frames (a few cameras estimate concurrently). */
const KEPT_INPUTS = 4;

interface ManifestEntry {
  readonly file: string;
  readonly sha256: string;
  readonly input: { readonly name: string; readonly shape: readonly number[] };
  readonly output: { readonly name: string; readonly shape: readonly number[] };
}

const here = dirname(fileURLToPath(import.meta.url));

/** models/movenet from the source tree (gateway/…) or from a build (dist/gateway/…). */
export function defaultMoveNetDir(): string {
  const candidates = [resolve(here, '../../../models/movenet'), resolve(here, '../../../../models/movenet')];
  return candidates.find((d) => existsSync(join(d, 'manifest.json'))) ?? candidates[0]!;
}

async function readManifestEntry(dir: string, model: PoseModelName): Promise<ManifestEntry> {
  const path = join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new GatewayError(
      'POSE_MODEL_MISSING',
      `MoveNet manifest ${path} cannot be read (${errorMessage(err)}); run \`npm run models:movenet\` to convert the models`,
      { cause: err, details: { file: path } },
    );
  }
  let entry: unknown;
  try {
    entry = (JSON.parse(text) as { models?: Record<string, unknown> }).models?.[model];
  } catch (err) {
    throw new GatewayError('POSE_MODEL_INVALID', `${path} is not valid JSON: ${errorMessage(err)}`, {
      cause: err,
      details: { file: path },
    });
  }
  const e = entry as Partial<ManifestEntry> | undefined;
  if (
    !e ||
    typeof e.file !== 'string' ||
    typeof e.sha256 !== 'string' ||
    !Array.isArray(e.input?.shape) ||
    typeof e.input?.name !== 'string' ||
    typeof e.output?.name !== 'string'
  ) {
    throw new GatewayError(
      'POSE_MODEL_INVALID',
      `${path}: models.${model} is missing or lacks file, sha256, input {name, shape} or output {name}; run \`npm run models:movenet\``,
      { details: { file: path, model } },
    );
  }
  return e as ManifestEntry;
}

async function readVerified(
  dir: string,
  model: PoseModelName,
  entry: ManifestEntry,
): Promise<{ path: string; bytes: Buffer }> {
  const path = resolve(dir, entry.file);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new GatewayError(
      'POSE_MODEL_MISSING',
      `MoveNet ${model} model ${path} cannot be read (${errorMessage(err)}); run \`npm run models:movenet\``,
      { cause: err, details: { file: path, model } },
    );
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== entry.sha256) {
    throw new GatewayError(
      'POSE_MODEL_HASH_MISMATCH',
      `${path}: sha256 is ${actual}, ${join(dir, 'manifest.json')} (models.${model}.sha256) says ${entry.sha256}`,
      { details: { file: path, model, expected: entry.sha256, actual } },
    );
  }
  return { path, bytes };
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Lightning/Thunder output [1,1,17,3] (y, x, score in the square) → one person in frame coordinates. */
export function decodeSinglePose(raw: Float32Array, lb: Letterbox): DetectedPerson[] {
  if (raw.length !== KEYPOINTS * 3) {
    throw new GatewayError(
      'POSE_OUTPUT_INVALID',
      `single-pose output has ${raw.length} values, expected ${KEYPOINTS * 3}`,
    );
  }
  const keypoints = new Float32Array(KEYPOINTS * 3);
  let sum = 0;
  for (let k = 0; k < KEYPOINTS; k++) {
    const [x, y] = squareToFrame(lb, raw[k * 3 + 1]!, raw[k * 3]!);
    const score = raw[k * 3 + 2]!;
    keypoints[k * 3] = clamp01(x);
    keypoints[k * 3 + 1] = clamp01(y);
    keypoints[k * 3 + 2] = score;
    sum += score;
  }
  return [{ keypoints, score: sum / KEYPOINTS }];
}

/** MultiPose output [1,6,56] → the people scoring at least `minScore`, best first, with boxes. */
export function decodeMultiPose(raw: Float32Array, lb: Letterbox, minScore: number): DetectedPerson[] {
  if (raw.length % MULTIPOSE_STRIDE !== 0) {
    throw new GatewayError(
      'POSE_OUTPUT_INVALID',
      `multi-pose output has ${raw.length} values, not a multiple of ${MULTIPOSE_STRIDE}`,
    );
  }
  const people: DetectedPerson[] = [];
  for (let p = 0; p < raw.length / MULTIPOSE_STRIDE; p++) {
    const o = p * MULTIPOSE_STRIDE;
    const score = raw[o + KEYPOINTS * 3 + 4]!;
    if (!(score >= minScore)) continue;
    const keypoints = new Float32Array(KEYPOINTS * 3);
    for (let k = 0; k < KEYPOINTS; k++) {
      const [x, y] = squareToFrame(lb, raw[o + k * 3 + 1]!, raw[o + k * 3]!);
      keypoints[k * 3] = clamp01(x);
      keypoints[k * 3 + 1] = clamp01(y);
      keypoints[k * 3 + 2] = raw[o + k * 3 + 2]!;
    }
    const b = o + KEYPOINTS * 3;
    const [x0, y0] = squareToFrame(lb, raw[b + 1]!, raw[b]!);
    const [x1, y1] = squareToFrame(lb, raw[b + 3]!, raw[b + 2]!);
    people.push({ keypoints, score, box: [clamp01(x0), clamp01(y0), clamp01(x1), clamp01(y1)] });
  }
  return people.sort((a, b) => b.score - a.score);
}

export class MoveNetEstimator implements PoseEstimator {
  readonly model: PoseModelName;
  /** Side of the square model input, pixels. */
  readonly inputSize: number;
  readonly provider: ExecutionProviderName;
  readonly providerFailures: readonly ProviderFailure[];
  readonly loadMs: number;
  readonly file: string;
  private readonly session: PoseSession;
  private readonly outputName: string;
  /** Input buffers back from runs, for later frames. */
  private readonly inputs: Float32Array[] = [];
  private readonly minPersonScore: number;
  private lastLetterbox: Letterbox | undefined;
  private closed = false;

  private constructor(init: {
    model: PoseModelName;
    inputSize: number;
    provider: ExecutionProviderName;
    failures: readonly ProviderFailure[];
    loadMs: number;
    file: string;
    session: PoseSession;
    outputName: string;
    minPersonScore: number;
  }) {
    this.model = init.model;
    this.inputSize = init.inputSize;
    this.provider = init.provider;
    this.providerFailures = init.failures;
    this.loadMs = init.loadMs;
    this.file = init.file;
    this.session = init.session;
    this.outputName = init.outputName;
    this.minPersonScore = init.minPersonScore;
  }

  static async create(options: MoveNetOptions): Promise<MoveNetEstimator> {
    const model = options.model ?? 'lightning';
    const dir = options.modelDir ?? defaultMoveNetDir();
    const entry = await readManifestEntry(dir, model);
    const [batch, h, w, c] = entry.input.shape;
    if (entry.input.shape.length !== 4 || batch !== 1 || h !== w || c !== 3 || typeof h !== 'number') {
      throw new GatewayError(
        'POSE_MODEL_INVALID',
        `${join(dir, 'manifest.json')}: models.${model}.input.shape is ${JSON.stringify(entry.input.shape)}, expected [1, S, S, 3]`,
        { details: { model, shape: entry.input.shape } },
      );
    }
    const { path, bytes } = await readVerified(dir, model, entry);
    const target: PoseTarget = {
      kind: 'pose',
      model,
      file: path,
      inputName: entry.input.name,
      outputName: entry.output.name,
    };
    const sessionOptions = {
      providers: options.providers ?? ['cpu'],
      intraOpThreads: options.intraOpThreads,
      logger: options.logger,
    };
    let opened: {
      session: PoseSession;
      provider: ExecutionProviderName;
      failures: readonly ProviderFailure[];
      loadMs: number;
    };
    if (options.thread) {
      const inWorker = await options.thread.openSession(bytes, target, sessionOptions);
      const { session } = inWorker;
      opened = {
        ...inWorker,
        session: {
          run: (input, dims, handOver) =>
            handOver ? session.runHandingOver(input, dims) : session.run(input, dims),
          release: () => session.release(),
        },
      };
    } else {
      const onMain = await openTarget(bytes, target, sessionOptions);
      opened = { ...onMain, session: mainThreadPoseSession(onMain.session, target) };
    }
    options.logger.info(
      {
        model,
        provider: opened.provider,
        providerFailures: opened.failures,
        loadMs: Math.round(opened.loadMs),
        thread: options.thread ? 'worker' : 'main',
      },
      `pose model ${model} loaded on ${opened.provider}${options.thread ? ' in the inference worker' : ''}`,
    );
    return new MoveNetEstimator({
      model,
      inputSize: h,
      provider: opened.provider,
      failures: opened.failures,
      loadMs: opened.loadMs,
      file: path,
      session: opened.session,
      outputName: entry.output.name,
      minPersonScore: options.minPersonScore ?? 0.1,
    });
  }

  /** The letterbox for a frame size; kept while frames keep their size (the usual case). */
  letterboxFor(width: number, height: number): Letterbox {
    const lb = this.lastLetterbox;
    if (lb && lb.srcWidth === width && lb.srcHeight === height) return lb;
    this.lastLetterbox = letterbox(width, height, this.inputSize);
    return this.lastLetterbox;
  }

  /**
   * Runs the model on an already square NHWC float32 RGB (0..255) input; returns its raw
   * output. `input` is left as it is (copied for the worker).
   */
  async runSquare(input: Float32Array): Promise<Float32Array> {
    return (await this.runInput(input, false)).output;
  }

  private async runInput(
    input: Float32Array,
    handOver: boolean,
  ): Promise<{ output: Float32Array; input: Float32Array | undefined }> {
    if (this.closed)
      throw new GatewayError('POSE_ESTIMATOR_CLOSED', `pose estimator ${this.model} is closed`);
    const s = this.inputSize;
    const result = await this.session.run(input, [1, s, s, 3], handOver);
    if (!(result.data instanceof Float32Array))
      throw new GatewayError(
        'POSE_OUTPUT_INVALID',
        `pose model ${this.model} gave no float32 output '${this.outputName}'`,
      );
    return { output: result.data, input: result.input };
  }

  async estimate(frame: Buffer, width: number, height: number): Promise<DetectedPerson[]> {
    const lb = this.letterboxFor(width, height);
    // An input buffer of its own per call (estimate() may run concurrently for several
    // cameras), taken from those that came back from earlier runs.
    const size = this.inputSize * this.inputSize * 3;
    const input = resizeLetterbox(frame, lb, this.inputs.pop() ?? new Float32Array(size));
    const { output: raw, input: back } = await this.runInput(input, true);
    if (back && back.length === size && this.inputs.length < KEPT_INPUTS) this.inputs.push(back);
    return this.model === 'multipose'
      ? decodeMultiPose(raw, lb, this.minPersonScore)
      : decodeSinglePose(raw, lb);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}

/** The camera source's factory: one estimator (one ONNX session) per model name, created on first use. */
export function moveNetEstimatorFactory(options: Omit<MoveNetOptions, 'model'>): PoseEstimatorFactory {
  const made = new Map<PoseModelName, Promise<MoveNetEstimator>>();
  return (model) => {
    let p = made.get(model);
    if (!p) {
      p = MoveNetEstimator.create({ ...options, model });
      // A failed load is not cached, so a later attempt (e.g. after the file is restored) can succeed.
      p.catch(() => made.delete(model));
      made.set(model, p);
    }
    return p;
  };
}
