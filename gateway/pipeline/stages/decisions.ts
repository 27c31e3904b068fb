import { map, type OperatorFunction } from 'rxjs';
import { UNKNOWN_ACTIVITY, type SubjectScores } from '../../domain/events.ts';
import type { ModelClass } from '../../domain/model.ts';
import type { Modality } from '../../domain/samples.ts';
import { argmax } from '../class-scores.ts';

/** The raw top-1 class of one fused hop, before smoothing: what window-level accuracy scores. */
export interface HopDecision {
  readonly subjectId: string;
  readonly startNs: number;
  readonly endNs: number;
  readonly activity: string;
  readonly confidence: number;
  readonly modalities: readonly Modality[];
  readonly sources: readonly string[];
}

export function hopDecisions(classes: readonly ModelClass[]): OperatorFunction<SubjectScores, HopDecision> {
  return map((s) => {
    const top = argmax(s.probabilities);
    return {
      subjectId: s.subjectId,
      startNs: s.startNs,
      endNs: s.endNs,
      // Below the open-set threshold the hop names no class.
      activity: s.openSet?.unknown ? UNKNOWN_ACTIVITY : (classes[top]?.id ?? String(top)),
      confidence: s.probabilities[top] as number,
      modalities: s.modalities,
      sources: s.sources,
    };
  });
}
