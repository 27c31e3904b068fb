/**
 * Window-level scoring shared by the accuracy-in-the-loop tests: each decision is labelled
 * by the recording's activity at the window centre (docs/recording-format.md), exactly as
 * the trainer's "stream" evaluation does, so the two figures are comparable.
 */
export interface ScoredPair {
  readonly truth: string;
  readonly predicted: string;
}

export interface Scores {
  readonly n: number;
  readonly accuracy: number;
  readonly macroF1: number;
}

/** Macro F1 over the classes present in the truth (sklearn's default `labels` = union). */
export function score(pairs: readonly ScoredPair[]): Scores {
  const classes = new Set<string>();
  for (const p of pairs) {
    classes.add(p.truth);
    classes.add(p.predicted);
  }
  let correct = 0;
  const tp = new Map<string, number>();
  const fp = new Map<string, number>();
  const fn = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  for (const { truth, predicted } of pairs) {
    if (truth === predicted) {
      correct++;
      bump(tp, truth);
    } else {
      bump(fp, predicted);
      bump(fn, truth);
    }
  }
  let f1Sum = 0;
  for (const c of classes) {
    const t = tp.get(c) ?? 0;
    const denominator = 2 * t + (fp.get(c) ?? 0) + (fn.get(c) ?? 0);
    f1Sum += denominator === 0 ? 0 : (2 * t) / denominator;
  }
  return {
    n: pairs.length,
    accuracy: pairs.length === 0 ? 0 : correct / pairs.length,
    macroF1: classes.size === 0 ? 0 : f1Sum / classes.size,
  };
}
