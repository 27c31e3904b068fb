/**
 * Hop-by-hop decision rules over one subject's class probabilities: the port of the trainer's
 * encoders/stream_rules.py, held to its decisions by golden vectors
 * (test/fixtures/decision-rules.json, `python3 -m encoders stream-decide --golden-only`).
 *
 * `hmm`: an online HMM forward filter whose hidden state is the activity. Activities last many
 * hops, so the state stays with probability `stay` and moves to each other class with
 * (1 - stay) / (C - 1); the classifier's probabilities raised to `sharpness` are the emission
 * likelihoods. With `lagHops` = k > 0 the decision for a hop is taken k hops later from the
 * forward belief at that hop and the evidence of the k hops after it (fixed-lag smoothing),
 * which places a change where the later hops say it happened — k hops of latency, stated.
 * `raw`: the argmax of every hop. `hysteresis`: smooth.ts's own EMA, thresholds and dwell.
 */

export type DecisionRule =
  | { readonly kind: 'hysteresis' }
  | { readonly kind: 'raw' }
  | { readonly kind: 'hmm'; readonly stay: number; readonly sharpness: number; readonly lagHops: number };

/**
 * The winner of `python3 -m encoders stream-decide` (encoders/RESULTS.md, "Stream decisions"):
 * tuned on UTD-MHAD training subject 7, never on the demo's test subjects; it adds at most the
 * 2 hops (1 s) of latency the hysteresis dwell had.
 */
export const TUNED_HMM_RULE: Extract<DecisionRule, { kind: 'hmm' }> = {
  kind: 'hmm',
  stay: 0.6,
  sharpness: 0.25,
  lagHops: 2,
};
export const DEFAULT_DECISION_RULE: DecisionRule = TUNED_HMM_RULE;

/** A decision for the hop `hopsAgo` hops before the newest one pushed (0 = the newest). */
export interface HopVerdict {
  readonly hopsAgo: number;
  readonly cls: number;
}

/** One subject's rule state: push each hop's probabilities, get the decisions that became final. */
export interface HopDecider {
  /** Lag of the rule: a hop's decision comes this many hops after it. */
  readonly lagHops: number;
  push(probabilities: ArrayLike<number>): HopVerdict[];
  /** The stream ended: every hop still waiting for look-ahead is decided on what there is. */
  flush(): HopVerdict[];
}

export class DecisionRuleError extends RangeError {
  readonly code = 'DECISION_RULE_INVALID';
}

export function validateDecisionRule(rule: DecisionRule): DecisionRule {
  if (rule.kind !== 'hmm') return rule;
  const { stay, sharpness, lagHops } = rule;
  if (!(stay > 0 && stay < 1) || !(sharpness > 0) || !Number.isInteger(lagHops) || lagHops < 0)
    throw new DecisionRuleError(
      `hmm decision rule needs 0 < stay < 1, sharpness > 0 and a whole lagHops >= 0; got stay=${stay} sharpness=${sharpness} lagHops=${lagHops}`,
    );
  return rule;
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if ((v[i] as number) > (v[best] as number)) best = i;
  return best;
}

/** A^T v for the sticky transition matrix (symmetric, so also A v), written into `out`. */
function sticky(v: Float64Array, stay: number, out: Float64Array): void {
  const c = v.length;
  const move = c > 1 ? (1 - stay) / (c - 1) : 0;
  let sum = 0;
  for (let i = 0; i < c; i++) sum += v[i] as number;
  for (let i = 0; i < c; i++) out[i] = (stay - move) * (v[i] as number) + move * sum;
}

function normalise(v: Float64Array): void {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] as number;
  for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) / sum;
}

class RawDecider implements HopDecider {
  readonly lagHops = 0;
  push(p: ArrayLike<number>): HopVerdict[] {
    return [{ hopsAgo: 0, cls: argmax(p) }];
  }
  flush(): HopVerdict[] {
    return [];
  }
}

class HmmDecider implements HopDecider {
  readonly lagHops: number;
  private belief: Float64Array | null = null;
  /** Forward beliefs and likelihoods of the hops still waiting for their look-ahead, oldest first. */
  private readonly pending: { forward: Float64Array; like: Float64Array }[] = [];

  constructor(private readonly rule: Extract<DecisionRule, { kind: 'hmm' }>) {
    this.lagHops = rule.lagHops;
  }

  push(p: ArrayLike<number>): HopVerdict[] {
    const c = p.length;
    const like = new Float64Array(c);
    // floor: a class the classifier gives exactly 0 must stay reachable
    for (let i = 0; i < c; i++) like[i] = Math.max(p[i] as number, 1e-12) ** this.rule.sharpness;
    const forward = new Float64Array(c);
    if (this.belief === null || this.belief.length !== c) forward.fill(1 / c);
    else sticky(this.belief, this.rule.stay, forward);
    for (let i = 0; i < c; i++) forward[i] = (forward[i] as number) * (like[i] as number);
    normalise(forward);
    this.belief = forward;
    this.pending.push({ forward, like });
    if (this.pending.length <= this.lagHops) return [];
    return [{ hopsAgo: this.lagHops, cls: this.decideOldest() }];
  }

  flush(): HopVerdict[] {
    const out: HopVerdict[] = [];
    while (this.pending.length > 0) out.push({ hopsAgo: this.pending.length - 1, cls: this.decideOldest() });
    return out;
  }

  /** Decides the oldest pending hop from the evidence of the hops after it, and drops it. */
  private decideOldest(): number {
    const c = this.pending[0]!.forward.length;
    const beta = new Float64Array(c).fill(1);
    const scratch = new Float64Array(c);
    for (let u = this.pending.length - 1; u > 0; u--) {
      const like = this.pending[u]!.like;
      for (let i = 0; i < c; i++) scratch[i] = (like[i] as number) * (beta[i] as number);
      sticky(scratch, this.rule.stay, beta);
      normalise(beta);
    }
    const forward = this.pending.shift()!.forward;
    for (let i = 0; i < c; i++) scratch[i] = (forward[i] as number) * (beta[i] as number);
    return argmax(scratch);
  }
}

/** A fresh per-subject decider; null for `hysteresis`, which smooth.ts runs itself. */
export function createHopDecider(rule: DecisionRule): HopDecider | null {
  validateDecisionRule(rule);
  if (rule.kind === 'hysteresis') return null;
  return rule.kind === 'raw' ? new RawDecider() : new HmmDecider(rule);
}
