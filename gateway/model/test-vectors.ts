import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayError, errorMessage } from '../observability/errors.ts';
import { classify } from './fusion.ts';
import type { OrtLoadedModel } from './load-model.ts';

/*
 * The trainer's parity vectors (docs/model-format.md, test-vectors.json): the same real
 * windows through PyTorch at export and through onnxruntime here must agree within the
 * tolerance, and so must the fused probabilities computed by fusion.ts.
 */

export interface TestVectors {
  readonly tolerance: number;
  readonly encoders: Record<
    string,
    { inputShape: number[]; input: number[]; outputShape: number[]; output: number[] }
  >;
  readonly fusion?: {
    readonly cases: readonly {
      readonly windows: readonly { readonly encoder: string; readonly row: number }[];
      readonly probabilities: readonly number[];
    }[];
  };
}

export interface ParityReport {
  readonly tolerance: number;
  readonly encoders: readonly { name: string; provider: string; rows: number; maxAbsDiff: number }[];
  readonly fusion: readonly { case: number; windows: string; maxAbsDiff: number }[];
  /** Every max abs diff ≤ tolerance. */
  readonly ok: boolean;
}

export async function readTestVectors(model: OrtLoadedModel): Promise<TestVectors> {
  const ref = model.manifest.testVectors;
  if (!ref)
    throw new GatewayError(
      'MODEL_TEST_VECTORS_MISSING',
      `model ${model.name} has no testVectors in its manifest`,
    );
  const file = join(model.dir, ref.file);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as TestVectors;
  } catch (err) {
    throw new GatewayError('MODEL_TEST_VECTORS_INVALID', `cannot read ${file}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let max = 0;
  for (let i = 0; i < actual.length; i++) max = Math.max(max, Math.abs(actual[i]! - expected[i]!));
  return Number.isNaN(max) ? Infinity : max;
}

/** Runs every vector through the loaded sessions; the report says how far each is from PyTorch. */
export async function checkParity(model: OrtLoadedModel, vectors: TestVectors): Promise<ParityReport> {
  const tolerance = model.manifest.testVectors?.tolerance ?? vectors.tolerance;
  const outputs = new Map<string, Float32Array>();
  const encoders: ParityReport['encoders'][number][] = [];
  for (const [name, v] of Object.entries(vectors.encoders)) {
    const runner = model.encoder(name);
    if (!runner) {
      throw new GatewayError(
        'MODEL_TEST_VECTORS_INVALID',
        `test vectors name encoder '${name}', which the manifest does not have`,
      );
    }
    const rows = v.inputShape[0] ?? 0;
    const out = await runner.run(Float32Array.from(v.input), rows);
    outputs.set(name, out);
    encoders.push({ name, provider: runner.provider, rows, maxAbsDiff: maxAbsDiff(out, v.output) });
  }
  const fusion: ParityReport['fusion'][number][] = [];
  (vectors.fusion?.cases ?? []).forEach((c, i) => {
    const embeddings = c.windows.map(({ encoder, row }) => {
      const out = outputs.get(encoder);
      if (!out)
        throw new GatewayError(
          'MODEL_TEST_VECTORS_INVALID',
          `fusion case ${i} uses encoder '${encoder}' without vectors`,
        );
      return out.subarray(row * model.embeddingDim, (row + 1) * model.embeddingDim);
    });
    fusion.push({
      case: i,
      windows: c.windows.map((w) => `${w.encoder}[${w.row}]`).join('+'),
      maxAbsDiff: maxAbsDiff(classify(model, embeddings), c.probabilities),
    });
  });
  const ok = [...encoders, ...fusion].every((r) => r.maxAbsDiff <= tolerance);
  return { tolerance, encoders, fusion, ok };
}
