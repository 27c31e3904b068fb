import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Subject } from 'rxjs';
import type { ActivityEvent, SubjectScores, SubjectState } from '../../../gateway/domain/events.ts';
import { smoothActivity, type SmoothingOptions } from '../../../gateway/pipeline/stages/smooth.ts';
import { classes } from './helpers/fakes.ts';
import { hopFeeder, VirtualTime } from './helpers/virtual-time.ts';

const MODEL = { name: 'fake', version: '1.2.3', classes: classes('walking', 'squat', 'idle') };
const HOP_NS = 5e8;

function setup(options: Partial<SmoothingOptions> = {}) {
  const vt = new VirtualTime();
  const input = new Subject<SubjectScores>();
  const events: ActivityEvent[] = [];
  const states: SubjectState[] = [];
  let completed = false;
  input
    .pipe(
      smoothActivity(
        MODEL,
        {
          gateway: 'gw1',
          emaAlpha: 0.5,
          enterThreshold: 0.6,
          exitThreshold: 0.4,
          minDwellS: 1,
          stateIntervalS: 5,
          idleEndS: 3,
          // these cases are about the hysteresis rule; decide.test.ts covers the others
          decision: { kind: 'hysteresis' },
          ...options,
        },
        { clock: vt.clock, scheduler: vt.scheduler },
      ),
    )
    .subscribe({
      next: (o) => (o.kind === 'event' ? events.push(o.event) : states.push(o.state)),
      complete: () => (completed = true),
    });
  const feed = hopFeeder(vt, input, HOP_NS);
  /** One fused hop for subject s1 with these probabilities; time moves on by one hop. */
  const score = (
    p: [number, number, number],
    modalities: ('imu' | 'pose')[] = ['imu', 'pose'],
  ): Promise<number> =>
    feed({
      subjectId: 's1',
      probabilities: Float32Array.from(p),
      latencyMs: 12,
      modalities,
      sources: modalities.map((m) => (m === 'imu' ? 'wrist' : 'cam/1')),
    });
  return { vt, input, events, states, score, isCompleted: () => completed };
}

describe('smoothActivity', () => {
  it('emits started, changed and ended, each after the dwell time, with times, top-k, modalities and seq', async () => {
    const { events, states, score } = setup();
    const ends: number[] = [];
    for (let i = 0; i < 6; i++) ends.push(await score([0.9, 0.05, 0.05]));
    // EMA of walking: 0.9 (hop 0) → qualifies at once; dwell 1 s = hop 2.
    assert.equal(events.length, 1);
    const started = events[0]!;
    assert.equal(started.transition, 'started');
    assert.equal(started.activity, 'walking');
    assert.equal(started.activityName, 'walking');
    assert.equal(started.startNs, ends[0]! - 1e9, 'dated to the centre of the first qualifying window');
    assert.equal(started.start, new Date((ends[0]! - 1e9) / 1e6).toISOString());
    assert.deepEqual(
      started.topK.map((s) => s.activity),
      ['walking', 'squat', 'idle'],
    );
    assert.ok(started.confidence > 0.85);
    assert.deepEqual(started.modalities, ['imu', 'pose']);
    assert.deepEqual(started.sources, ['wrist', 'cam/1']);
    assert.equal(started.model, 'fake');
    assert.equal(started.modelVersion, '1.2.3');
    assert.equal(started.latencyMs, 12);
    assert.equal(started.gateway, 'gw1');

    for (let i = 0; i < 6; i++) ends.push(await score([0.05, 0.9, 0.05], ['imu']));
    assert.equal(events.length, 2);
    const changed = events[1]!;
    assert.equal(changed.transition, 'changed');
    assert.equal(changed.activity, 'squat');
    assert.equal(changed.previous, 'walking');
    // EMA of squat: 0.475, 0.69 (qualifies at hop 7), …; change dated to that window's centre.
    assert.equal(changed.startNs, ends[7]! - 1e9);
    assert.equal(changed.endNs, changed.startNs);
    assert.deepEqual(changed.modalities, ['imu']);

    for (let i = 0; i < 6; i++) ends.push(await score([0.34, 0.33, 0.33]));
    assert.equal(events.length, 3);
    const ended = events[2]!;
    assert.equal(ended.transition, 'ended');
    assert.equal(ended.activity, 'squat');
    assert.equal(ended.startNs, changed.startNs);
    assert.ok(ended.endNs! > changed.startNs);
    assert.deepEqual(
      events.map((e) => e.seq),
      [1, 2, 3],
    );
    // A state on every change, carrying the current activity.
    assert.deepEqual(
      states.map((s) => s.activity),
      [null, 'walking', 'walking', 'squat', 'squat', null],
      'first sight, started, camera gone, changed, camera back, ended',
    );
    assert.equal(states[1]!.since, started.start);
  });

  it('does not flicker while the probability hovers around the thresholds', async () => {
    const { events, score } = setup();
    for (let i = 0; i < 4; i++) await score([0.9, 0.05, 0.05]);
    assert.equal(events.length, 1);
    // Hovering around the exit threshold: the EMA dips below 0.4 only every other hop.
    for (let i = 0; i < 40; i++) await score(i % 2 === 0 ? [0.25, 0.45, 0.3] : [0.55, 0.2, 0.25]);
    // Hovering just under the enter threshold for another class never takes over.
    for (let i = 0; i < 20; i++) await score(i % 2 === 0 ? [0.45, 0.55, 0] : [0.45, 0.45, 0.1]);
    assert.deepEqual(
      events.map((e) => e.transition),
      ['started'],
    );
  });

  it('re-emits state periodically, and ends an activity whose scores stop', async () => {
    const { vt, events, states, score } = setup();
    let last = 0;
    for (let i = 0; i < 4; i++) last = await score([0.9, 0.05, 0.05]);
    const before = states.length;
    await vt.advanceBy(2900);
    assert.equal(states.length, before, 'nothing while the subject is merely quiet');
    assert.equal(events.length, 1);
    await vt.advanceBy(250);
    assert.deepEqual(
      events.map((e) => e.transition),
      ['started', 'ended'],
    );
    assert.equal(events[1]!.endNs, last, 'ended at the last window it was seen in');
    const final = states.at(-1)!;
    assert.equal(final.activity, null);
    assert.deepEqual(final.modalities, []);

    // A subject that keeps streaming gets its state every stateIntervalS.
    const s2 = setup();
    for (let i = 0; i < 30; i++) await s2.score([0.9, 0.05, 0.05]);
    const times = s2.states.map((s) => Date.parse(s.updated));
    const periodic = times.slice(2); // after first-sight and started
    assert.ok(periodic.length >= 2);
    for (let i = 1; i < periodic.length; i++)
      assert.ok(
        Math.abs(periodic[i]! - periodic[i - 1]! - 5000) <= 500,
        `${periodic[i]! - periodic[i - 1]!} ms apart`,
      );
  });

  it('on completion ends the running activity and emits a final state', async () => {
    const { input, events, states, score, isCompleted } = setup();
    for (let i = 0; i < 4; i++) await score([0.05, 0.9, 0.05]);
    input.complete();
    assert.deepEqual(
      events.map((e) => `${e.transition}:${e.activity}`),
      ['started:squat', 'ended:squat'],
    );
    assert.equal(states.at(-1)!.activity, null);
    assert.ok(isCompleted());
  });
});
