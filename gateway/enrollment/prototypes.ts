/*
 * Enrollment math, the same as the trainer's offline mirror (encoders/enroll.py), so its
 * measured figures apply to the gateway:
 *   prototype_m(class) = normalise(mean of the examples' window embeddings of modality m)
 *   shared(class)      = normalise(mean of the class's modality prototypes)
 * Pure functions over typed arrays, float64 accumulation.
 */
import type { Modality } from '../domain/samples.ts';

export const MODALITIES: readonly Modality[] = ['imu', 'pose'];

/** One example: a window's L2-normalised joint-space embedding and the modality it came from. */
export interface Example {
  readonly modality: Modality;
  readonly vector: ArrayLike<number>;
}

/** A class's prototypes computed from its examples. */
export interface ClassPrototypes {
  /** Per modality that had examples, L2-normalised. */
  readonly byModality: Partial<Record<Modality, Float32Array>>;
  /** Normalised mean of the modality prototypes: the row of the shared prototypes file. */
  readonly shared: Float32Array;
  /** Examples per modality. */
  readonly counts: Partial<Record<Modality, number>>;
}

/** Scales `v` to unit length in place (a zero vector stays zero). */
export function normalise(v: Float64Array): Float32Array {
  let norm = 0;
  for (let i = 0; i < v.length; i++) norm += v[i]! * v[i]!;
  norm = Math.sqrt(norm);
  const out = new Float32Array(v.length);
  if (norm > 0) for (let i = 0; i < v.length; i++) out[i] = v[i]! / norm;
  return out;
}

/**
 * normalise(mean(normalise(each vector))); at least one vector. The embeddings are unit length
 * already (to float32 rounding); normalising each first is what enroll.py does.
 */
export function normalisedMean(vectors: readonly ArrayLike<number>[], dim: number): Float32Array {
  if (vectors.length === 0) throw new RangeError('a mean needs at least one vector');
  const sum = new Float64Array(dim);
  for (const v of vectors) {
    if (v.length !== dim) throw new RangeError(`embedding has ${v.length} values, expected ${dim}`);
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += v[i]! * v[i]!;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < dim; i++) sum[i]! += v[i]! / norm;
  }
  for (let i = 0; i < dim; i++) sum[i]! /= vectors.length;
  return normalise(sum);
}

/** Prototypes of one class from its examples (any mix of modalities; at least one example). */
export function classPrototypes(examples: readonly Example[], dim: number): ClassPrototypes {
  const byModality: Partial<Record<Modality, Float32Array>> = {};
  const counts: Partial<Record<Modality, number>> = {};
  for (const modality of MODALITIES) {
    const vectors = examples.filter((e) => e.modality === modality).map((e) => e.vector);
    if (vectors.length === 0) continue;
    byModality[modality] = normalisedMean(vectors, dim);
    counts[modality] = vectors.length;
  }
  const present = MODALITIES.map((m) => byModality[m]).filter((p): p is Float32Array => p !== undefined);
  return { byModality, shared: normalisedMean(present, dim), counts };
}

/** A model's class prototypes: shared rows plus the per-modality files it has. */
export interface PrototypeSet {
  readonly classIds: readonly string[];
  readonly dim: number;
  /** [classes, dim] row-major. */
  readonly shared: Float32Array;
  readonly byModality: Partial<Record<Modality, Float32Array>>;
}

function row(matrix: Float32Array, index: number, dim: number): Float32Array {
  return matrix.slice(index * dim, (index + 1) * dim);
}

function stack(rows: readonly Float32Array[], dim: number): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(r, i * dim));
  return out;
}

/**
 * The prototypes after enrolling `enrolled` (class id → prototypes; an existing id is
 * replaced in place, a new one appended) and removing `removed`. A modality gets its own file
 * when the base had one or an enrolled class has examples of it; in that file, a class
 * without its own row for the modality uses its shared row (what a model without the file
 * would score it against).
 */
export function applyEnrollment(
  base: PrototypeSet,
  enrolled: ReadonlyMap<string, ClassPrototypes>,
  removed: ReadonlySet<string> = new Set(),
): PrototypeSet {
  const { dim } = base;
  interface Row {
    readonly shared: Float32Array;
    readonly byModality: Partial<Record<Modality, Float32Array>>;
  }
  const rows = new Map<string, Row>();
  base.classIds.forEach((id, i) => {
    const byModality: Partial<Record<Modality, Float32Array>> = {};
    for (const m of MODALITIES) {
      const matrix = base.byModality[m];
      if (matrix) byModality[m] = row(matrix, i, dim);
    }
    rows.set(id, { shared: row(base.shared, i, dim), byModality });
  });
  for (const [id, p] of enrolled) rows.set(id, { shared: p.shared, byModality: p.byModality });
  for (const id of removed) rows.delete(id);
  const classIds = [...rows.keys()];
  const modalities = MODALITIES.filter(
    (m) => base.byModality[m] !== undefined || [...enrolled.values()].some((p) => p.byModality[m]),
  );
  const byModality: Partial<Record<Modality, Float32Array>> = {};
  for (const m of modalities) {
    byModality[m] = stack(
      classIds.map((id) => {
        const r = rows.get(id)!;
        return r.byModality[m] ?? r.shared;
      }),
      dim,
    );
  }
  return {
    classIds,
    dim,
    shared: stack(
      classIds.map((id) => rows.get(id)!.shared),
      dim,
    ),
    byModality,
  };
}

/** Cosine of each example to `prototype` (both unit length: the dot product). */
export function cosines(examples: readonly Example[], prototypes: ClassPrototypes): number[] {
  return examples.map((e) => {
    const p = prototypes.byModality[e.modality] ?? prototypes.shared;
    let dot = 0;
    for (let i = 0; i < p.length; i++) dot += p[i]! * e.vector[i]!;
    return dot;
  });
}

/** numpy's default (linear) quantile of `values` at `q` in [0, 1]. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError('a quantile needs at least one value');
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Top-class cosine of each row of `vectors` against one modality's prototypes. */
function cosineRows(
  set: PrototypeSet,
  modality: Modality,
  vectors: readonly ArrayLike<number>[],
): Float64Array[] {
  const matrix = set.byModality[modality] ?? set.shared;
  const classes = set.classIds.length;
  return vectors.map((v) => {
    const out = new Float64Array(classes);
    for (let c = 0; c < classes; c++) {
      let dot = 0;
      for (let i = 0; i < set.dim; i++) dot += matrix[c * set.dim + i]! * v[i]!;
      out[c] = dot;
    }
    return out;
  });
}

const maxOf = (row: Float64Array): number => row.reduce((a, b) => Math.max(a, b), -Infinity);

/**
 * Leave-one-interval-out open-set scores, as encoders/enroll_recording.py computes them: each
 * interval of a class with two or more intervals is scored (top-class cosine, per modality set)
 * against `final` with that class re-enrolled from its other intervals only. `imu+pose` pairs
 * an interval's IMU and pose windows row by row when it has as many of each.
 */
export function leaveOneOutScores(
  final: PrototypeSet,
  intervals: readonly { readonly classId: string; readonly examples: readonly Example[] }[],
): Partial<Record<'imu' | 'pose' | 'imu+pose', number[]>> {
  const scores: Record<'imu' | 'pose' | 'imu+pose', number[]> = { imu: [], pose: [], 'imu+pose': [] };
  intervals.forEach((interval, i) => {
    const others = intervals
      .filter((o, j) => o.classId === interval.classId && j !== i)
      .flatMap((o) => o.examples);
    if (others.length === 0) return;
    const heldOut = applyEnrollment(final, new Map([[interval.classId, classPrototypes(others, final.dim)]]));
    const per: Partial<Record<Modality, Float64Array[]>> = {};
    for (const m of MODALITIES) {
      const vectors = interval.examples.filter((e) => e.modality === m).map((e) => e.vector);
      if (vectors.length === 0) continue;
      per[m] = cosineRows(heldOut, m, vectors);
      scores[m].push(...per[m].map(maxOf));
    }
    if (per.imu && per.pose && per.imu.length === per.pose.length) {
      const pose = per.pose;
      scores['imu+pose'].push(...per.imu.map((row, r) => maxOf(row.map((x, c) => (x + pose[r]![c]!) / 2))));
    }
  });
  return Object.fromEntries(Object.entries(scores).filter(([, v]) => v.length > 0));
}
