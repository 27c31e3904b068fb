/*
 * Classification in the joint space, the manifest's `mean-logits` rule (docs/model-format.md):
 *   logits_m = (e_m · Pᵀ) / temperature   for each window embedding e_m present,
 *   fused    = mean of logits_m over present windows (two IMUs count as two),
 *   p        = softmax(fused).
 * Pure functions over typed arrays; float64 accumulation so results match PyTorch's to well
 * under the parity tolerance.
 */

/** Prototypes [classes, dim] row-major; returns one logit per class. */
export function logitsFor(
  prototypes: ArrayLike<number>,
  dim: number,
  temperature: number,
  embedding: ArrayLike<number>,
  out: Float64Array = new Float64Array(prototypes.length / dim),
): Float64Array {
  if (embedding.length !== dim)
    throw new RangeError(`embedding has ${embedding.length} values, expected ${dim}`);
  if (prototypes.length % dim !== 0)
    throw new RangeError(`prototypes length ${prototypes.length} is not a multiple of ${dim}`);
  const classes = prototypes.length / dim;
  for (let c = 0; c < classes; c++) {
    let dot = 0;
    const base = c * dim;
    for (let k = 0; k < dim; k++) dot += prototypes[base + k]! * embedding[k]!;
    out[c] = dot / temperature;
  }
  return out;
}

/** Mean of every present window's logits. At least one embedding is required. */
export function fuseMeanLogits(
  prototypes: ArrayLike<number>,
  dim: number,
  temperature: number,
  embeddings: readonly ArrayLike<number>[],
): Float64Array {
  if (embeddings.length === 0) throw new RangeError('fusion needs at least one embedding');
  const classes = prototypes.length / dim;
  const sum = new Float64Array(classes);
  const scratch = new Float64Array(classes);
  for (const e of embeddings) {
    logitsFor(prototypes, dim, temperature, e, scratch);
    for (let c = 0; c < classes; c++) sum[c]! += scratch[c]!;
  }
  for (let c = 0; c < classes; c++) sum[c]! /= embeddings.length;
  return sum;
}

/** Numerically stable softmax (max subtracted first). */
export function softmax(logits: ArrayLike<number>): Float64Array {
  const out = new Float64Array(logits.length);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i]! - max);
    total += out[i]!;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= total;
  return out;
}

export interface Ranked {
  readonly index: number;
  readonly probability: number;
}

/** The k largest, most probable first; ties keep class order. */
export function topK(probabilities: ArrayLike<number>, k: number): Ranked[] {
  const ranked: Ranked[] = [];
  for (let i = 0; i < probabilities.length; i++) ranked.push({ index: i, probability: probabilities[i]! });
  ranked.sort((a, b) => b.probability - a.probability || a.index - b.index);
  return ranked.slice(0, Math.max(0, k));
}

/** Probabilities per class for the windows present, with a model's prototypes and temperature. */
export function classify(
  model: {
    readonly prototypes: ArrayLike<number>;
    readonly embeddingDim: number;
    readonly temperature: number;
  },
  embeddings: readonly ArrayLike<number>[],
): Float64Array {
  return softmax(fuseMeanLogits(model.prototypes, model.embeddingDim, model.temperature, embeddings));
}

/** One window's embedding and the modality whose prototypes score it. */
export interface ModalityEmbedding {
  readonly modality: string;
  readonly vector: ArrayLike<number>;
}

/** What the open-set rule needs of a model (docs/model-format.md, `openSet`). */
export interface ScoringModel {
  readonly prototypes: ArrayLike<number>;
  readonly modalityPrototypes?: Readonly<Partial<Record<string, ArrayLike<number>>>>;
  readonly embeddingDim: number;
  readonly temperature: number;
  readonly openSetThresholds?: Readonly<Partial<Record<string, number>>>;
}

export interface WindowScores {
  /** softmax of the fused logits, manifest class order. */
  readonly probabilities: Float64Array;
  /** Index of the top class. */
  readonly best: number;
  /** The top class's cosine: mean over the windows of each one's cosine to that class. */
  readonly score: number;
  /** Threshold of the modality set present; null when the model has none for it. */
  readonly threshold: number | null;
  /** score < threshold: no class is close enough. */
  readonly unknown: boolean;
}

/** The open-set key of a set of modalities: sorted, joined with '+' ('imu', 'imu+pose'). */
export function modalitySetKey(modalities: Iterable<string>): string {
  return [...new Set(modalities)].sort().join('+');
}

/**
 * `mean-logits` with per-modality prototypes: each window is scored against its modality's
 * prototypes (the shared ones when the model has none for it), logits are averaged over the
 * windows, and the open-set score is the top class's fused logit × temperature, i.e. the
 * mean cosine to that class.
 */
export function scoreWindows(model: ScoringModel, windows: readonly ModalityEmbedding[]): WindowScores {
  if (windows.length === 0) throw new RangeError('scoring needs at least one embedding');
  const { embeddingDim: dim, temperature } = model;
  const classes = model.prototypes.length / dim;
  const sum = new Float64Array(classes);
  const scratch = new Float64Array(classes);
  for (const w of windows) {
    const prototypes = model.modalityPrototypes?.[w.modality] ?? model.prototypes;
    logitsFor(prototypes, dim, temperature, w.vector, scratch);
    for (let c = 0; c < classes; c++) sum[c]! += scratch[c]!;
  }
  let best = 0;
  for (let c = 0; c < classes; c++) {
    sum[c]! /= windows.length;
    if (sum[c]! > sum[best]!) best = c;
  }
  const score = sum[best]! * temperature;
  const threshold = model.openSetThresholds?.[modalitySetKey(windows.map((w) => w.modality))] ?? null;
  return {
    probabilities: softmax(sum),
    best,
    score,
    threshold,
    unknown: threshold !== null && score < threshold,
  };
}
