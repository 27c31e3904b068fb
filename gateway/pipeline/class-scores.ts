import type { ClassScore } from '../domain/events.ts';
import type { ModelClass } from '../domain/model.ts';
import { topK } from '../model/fusion.ts';

/** Index of the largest value (first on ties), without allocating. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

/** The k most probable classes as payload entries, most probable first. */
export function topClassScores(
  probabilities: ArrayLike<number>,
  classes: readonly ModelClass[],
  k: number,
): ClassScore[] {
  return topK(probabilities, k).map((r) => ({
    activity: classes[r.index]?.id ?? String(r.index),
    confidence: r.probability,
  }));
}
