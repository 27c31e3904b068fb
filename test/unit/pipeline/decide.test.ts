/**
 * The gateway's decision rules against the trainer's: test/fixtures/decision-rules.json holds
 * fixed probability sequences and the decisions encoders/stream_rules.py takes on them
 * (regenerate: `python3 -m encoders stream-decide --golden-only`). Both the bare deciders and
 * the smoothing stage's events (the timeline a user sees) must give exactly those decisions.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Subject } from 'rxjs';
import type { ActivityEvent, SubjectScores } from '../../../gateway/domain/events.ts';
import {
  createHopDecider,
  DecisionRuleError,
  type DecisionRule,
} from '../../../gateway/pipeline/stages/decide.ts';
import { smoothActivity } from '../../../gateway/pipeline/stages/smooth.ts';
import { classes } from './helpers/fakes.ts';
import { hopFeeder, VirtualTime } from './helpers/virtual-time.ts';

interface GoldenCase {
  readonly rule: Record<string, unknown> & { kind: string };
  readonly probabilities: number[][];
  readonly decisions: number[];
}

const GOLDEN = JSON.parse(readFileSync('test/fixtures/decision-rules.json', 'utf8')) as {
  cases: GoldenCase[];
};
const HOP_NS = 5e8;
const WINDOW_NS = 2e9;

function label(rule: GoldenCase['rule']): string {
  return JSON.stringify(rule);
}

/** The golden rule as the gateway's option (hysteresis parameters go to smoothing's own options). */
function gatewayRule(rule: GoldenCase['rule']): DecisionRule {
  if (rule.kind === 'hmm')
    return {
      kind: 'hmm',
      stay: rule['stay'] as number,
      sharpness: rule['sharpness'] as number,
      lagHops: rule['lagHops'] as number,
    };
  return rule.kind === 'raw' ? { kind: 'raw' } : { kind: 'hysteresis' };
}

/** Runs the smoothing stage over the case and reads back, per hop, the activity its events name. */
async function timelineOf(c: GoldenCase): Promise<number[]> {
  const names = c.probabilities[0]!.map((_, i) => `c${i}`);
  const model = { name: 'golden', version: '1', classes: classes(...names) };
  const vt = new VirtualTime();
  const input = new Subject<SubjectScores>();
  const events: ActivityEvent[] = [];
  const r = c.rule;
  input
    .pipe(
      smoothActivity(
        model,
        {
          gateway: 'gw',
          decision: gatewayRule(r),
          ...(r.kind === 'hysteresis'
            ? {
                emaAlpha: r['emaAlpha'] as number,
                enterThreshold: r['enter'] as number,
                exitThreshold: r['exit'] as number,
                minDwellS: ((r['dwellHops'] as number) * HOP_NS) / 1e9,
              }
            : {}),
          idleEndS: 1e6,
        },
        { clock: vt.clock, scheduler: vt.scheduler },
      ),
    )
    .subscribe((o) => {
      if (o.kind === 'event') events.push(o.event);
    });
  const feed = hopFeeder(vt, input, HOP_NS, WINDOW_NS);
  const centres: number[] = [];
  for (const p of c.probabilities) {
    const endNs = await feed({
      subjectId: 's1',
      probabilities: Float32Array.from(p),
      latencyMs: 1,
      modalities: ['imu'],
      sources: ['imu-1'],
    });
    centres.push(endNs - WINDOW_NS / 2);
  }
  input.complete();
  // events → intervals [start, end) of each activity → the activity at every hop's centre
  const intervals: { cls: number; startNs: number; endNs: number }[] = [];
  for (const e of events) {
    if (e.transition !== 'started') intervals.at(-1)!.endNs = e.endNs!;
    if (e.transition !== 'ended')
      intervals.push({ cls: names.indexOf(e.activity), startNs: e.startNs, endNs: Infinity });
  }
  return centres.map((t) => intervals.find((i) => i.startNs <= t && t < i.endNs)?.cls ?? -1);
}

describe('decision rules match the trainer (golden vectors)', () => {
  it('has a case for every rule kind', () => {
    assert.deepEqual(new Set(GOLDEN.cases.map((c) => c.rule.kind)), new Set(['raw', 'hysteresis', 'hmm']));
  });

  for (const c of GOLDEN.cases.filter((g) => g.rule.kind !== 'hysteresis')) {
    it(`decider ${label(c.rule)} decides every hop as Python does`, () => {
      const decider = createHopDecider(gatewayRule(c.rule));
      assert.ok(decider);
      const got = new Array<number>(c.probabilities.length).fill(NaN);
      let pushed = 0;
      for (const p of c.probabilities) {
        pushed++;
        for (const v of decider.push(Float32Array.from(p))) got[pushed - 1 - v.hopsAgo] = v.cls;
      }
      for (const v of decider.flush()) got[pushed - 1 - v.hopsAgo] = v.cls;
      assert.deepEqual(got, c.decisions);
    });
  }

  for (const c of GOLDEN.cases) {
    it(`smoothing with ${label(c.rule)}: its events describe Python's decisions`, async () => {
      assert.deepEqual(await timelineOf(c), c.decisions);
    });
  }

  it('rejects a rule outside its range with a coded error', () => {
    assert.throws(
      () => createHopDecider({ kind: 'hmm', stay: 1, sharpness: 1, lagHops: 0 }),
      (e: unknown) => e instanceof DecisionRuleError && e.code === 'DECISION_RULE_INVALID',
    );
    assert.throws(
      () => createHopDecider({ kind: 'hmm', stay: 0.9, sharpness: 1, lagHops: 1.5 }),
      DecisionRuleError,
    );
  });
});
