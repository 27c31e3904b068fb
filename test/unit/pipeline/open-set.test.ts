import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Subject } from 'rxjs';
import type { ActivityEvent, SubjectScores } from '../../../gateway/domain/events.ts';
import { hopDecisions, type HopDecision } from '../../../gateway/pipeline/stages/decisions.ts';
import { smoothActivity } from '../../../gateway/pipeline/stages/smooth.ts';
import { classes } from './helpers/fakes.ts';
import { hopFeeder, VirtualTime } from './helpers/virtual-time.ts';

const MODEL = {
  name: 'fake',
  version: '1',
  classes: classes('walking', 'squat'),
  openSetThresholds: { imu: 0.6 },
};
const HOP_NS = 5e8;

test("open set: hops below the threshold become 'unknown' with the same hysteresis as a class; events show candidate and score", async () => {
  const vt = new VirtualTime();
  const input = new Subject<SubjectScores>();
  const events: ActivityEvent[] = [];
  const decisions: HopDecision[] = [];
  input
    .pipe(
      smoothActivity(
        MODEL,
        { gateway: 'gw', emaAlpha: 0.5, enterThreshold: 0.6, exitThreshold: 0.4, minDwellS: 1 },
        { clock: vt.clock, scheduler: vt.scheduler },
      ),
    )
    .subscribe((o) => {
      if (o.kind === 'event') events.push(o.event);
    });
  input.pipe(hopDecisions(MODEL.classes)).subscribe((d) => decisions.push(d));
  const feed = hopFeeder(vt, input, HOP_NS);
  const score = async (p: [number, number], cosine: number): Promise<void> => {
    await feed({
      subjectId: 's1',
      probabilities: Float32Array.from(p),
      latencyMs: 1,
      modalities: ['imu'],
      sources: ['wrist'],
      openSet: { best: p[0] >= p[1] ? 0 : 1, score: cosine, threshold: 0.6, unknown: cosine < 0.6 },
    });
  };
  for (let i = 0; i < 4; i++) await score([0.9, 0.1], 0.8);
  assert.equal(events.at(-1)?.activity, 'walking');
  assert.deepEqual(events.at(-1)?.openSet, { candidate: 'walking', score: 0.8, threshold: 0.6 });
  // Confident softmax, but far from every prototype: unknown takes over after the dwell.
  for (let i = 0; i < 5; i++) await score([0.95, 0.05], 0.3);
  const unknown = events.at(-1)!;
  assert.equal(unknown.transition, 'changed');
  assert.equal(unknown.activity, 'unknown');
  assert.equal(unknown.activityName, 'Unknown');
  assert.equal(unknown.previous, 'walking');
  assert.deepEqual(unknown.openSet, { candidate: 'walking', score: 0.3, threshold: 0.6 });
  assert.equal(decisions.at(-1)?.activity, 'unknown');
  assert.equal(decisions[0]?.activity, 'walking');
  for (let i = 0; i < 5; i++) await score([0.1, 0.9], 0.9);
  assert.equal(events.at(-1)?.activity, 'squat');
  assert.equal(events.at(-1)?.previous, 'unknown');
});
