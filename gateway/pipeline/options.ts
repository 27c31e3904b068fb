import { Type, type Static } from '@sinclair/typebox';
import { Section, StringEnum } from '../domain/option-schema.ts';
import { BATCHING_MODES } from './inference/batch-inference.ts';
import { DEFAULT_DECISION_RULE, TUNED_HMM_RULE, type DecisionRule } from './stages/decide.ts';

/*
 * The `pipeline` configuration section: windowing, batching, fusion, and how hop scores
 * become activity events. Composed into the gateway's schema by gateway/config/schema.ts.
 */

export const DECISION_RULE_KINDS = ['hmm', 'hysteresis', 'raw'] as const;

const SmoothingSection = Section(
  {
    alpha: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.5,
      description: 'Exponential smoothing of class probabilities per hop (1 = no smoothing).',
    }),
    enterThreshold: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.5,
      description: 'Smoothed probability an activity needs to start.',
    }),
    exitThreshold: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.35,
      description: 'Below this the current activity ends (hysteresis; must be ≤ enterThreshold).',
    }),
    minDwellHops: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 2,
      description: 'Hops a new activity must hold before it replaces the current one (rule hysteresis).',
    }),
    rule: StringEnum(DECISION_RULE_KINDS, {
      default: DEFAULT_DECISION_RULE.kind,
      description:
        "Which rule decides each hop's activity (gateway/pipeline/stages/decide.ts, measured by `python3 -m encoders stream-decide`): hmm = sticky HMM filter decided lagHops hops late (the default, the trainer's best on the stream); hysteresis = the EMA, thresholds and dwell above; raw = the argmax of every hop.",
    }),
    hmm: Section(
      {
        stay: Type.Number({
          exclusiveMinimum: 0,
          exclusiveMaximum: 1,
          default: TUNED_HMM_RULE.stay,
          description: 'Probability that the activity stays the same from one hop to the next.',
        }),
        sharpness: Type.Number({
          exclusiveMinimum: 0,
          maximum: 1,
          default: TUNED_HMM_RULE.sharpness,
          description: "Exponent on the classifier's probabilities (below 1 softens over-confident scores).",
        }),
        lagHops: Type.Integer({
          minimum: 0,
          maximum: 20,
          default: TUNED_HMM_RULE.lagHops,
          description: 'Hops each decision waits for later evidence (latency = lagHops × hop).',
        }),
      },
      { description: "Parameters of rule hmm (defaults: the trainer's tuned values)." },
    ),
  },
  { description: 'How hop scores become activity events, so events neither flicker nor lag.' },
);

export const PipelineSection = Section(
  {
    maxBatch: Type.Integer({
      minimum: 1,
      maximum: 1024,
      default: 32,
      description: 'Most windows run through an encoder in one call.',
    }),
    batching: StringEnum(BATCHING_MODES, {
      default: 'adaptive',
      description:
        'How windows are batched per encoder. adaptive: an idle encoder runs what waits at once (a lone window is not held back); while a batch runs, windows gather and the next batch takes them all (up to maxBatch), so batches grow with the load. fixed: a batch waits up to maxBatchWaitMs for maxBatch windows (the earlier design).',
    }),
    maxBatchWaitMs: Type.Number({
      minimum: 0,
      maximum: 1000,
      default: 5,
      description: 'batching fixed: longest a window waits for others to fill a batch.',
    }),
    stateIntervalS: Type.Number({
      exclusiveMinimum: 0,
      maximum: 86400,
      default: 10,
      description: 'Period of the retained per-subject state message.',
    }),
    idleEndS: Type.Number({
      exclusiveMinimum: 0,
      maximum: 3600,
      default: 3,
      description:
        'A subject whose scores stop for this long (gateway clock) ends its activity and is forgotten, s. Longer rides out BLE dropouts; a handover to another gateway ends it at once (fleet.handover).',
    }),
    staleAfterHops: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 2,
      description: 'A modality silent for this many hops leaves fusion until it returns.',
    }),
    staggerHops: Type.Boolean({
      default: true,
      description:
        "Spread subjects' window ends over the hop (by a hash of the subject id) instead of ending every subject's windows at the same instant, so inference and events do not come in one burst per hop. false: the earlier aligned hops.",
    }),
    smoothing: SmoothingSection,
    queueCapacity: Type.Integer({
      minimum: 1,
      maximum: 1000000,
      default: 1024,
      description: 'Bound of each queue between stages; overflow drops the oldest and counts it.',
    }),
  },
  { description: 'Windowing, batching, fusion and smoothing.' },
);

/** The configured decision rule, in decide.ts's terms. */
export function decisionRuleOf(smoothing: {
  readonly rule: (typeof DECISION_RULE_KINDS)[number];
  readonly hmm: { readonly stay: number; readonly sharpness: number; readonly lagHops: number };
}): DecisionRule {
  return smoothing.rule === 'hmm' ? { kind: 'hmm', ...smoothing.hmm } : { kind: smoothing.rule };
}

export type PipelineSectionOptions = Static<typeof PipelineSection>;
