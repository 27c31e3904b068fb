import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Subject } from 'rxjs';
import type { ActivityEvent, SubjectScores, SubjectState } from '../../../gateway/domain/events.ts';
import { smoothActivity } from '../../../gateway/pipeline/stages/smooth.ts';
import { classes } from './helpers/fakes.ts';
import { hopFeeder, VirtualTime } from './helpers/virtual-time.ts';

const MODEL = { name: 'fake', version: '1', classes: classes('walking', 'squat') };

test('a released subject (handed over to another gateway) ends at once, not after idleEndS, and can come back', async () => {
  const vt = new VirtualTime();
  const input = new Subject<SubjectScores>();
  const release$ = new Subject<string>();
  const events: ActivityEvent[] = [];
  const states: SubjectState[] = [];
  input
    .pipe(
      smoothActivity(
        MODEL,
        {
          gateway: 'gw-a',
          emaAlpha: 0.5,
          enterThreshold: 0.6,
          exitThreshold: 0.4,
          minDwellS: 1,
          idleEndS: 60,
        },
        { clock: vt.clock, scheduler: vt.scheduler, release$ },
      ),
    )
    .subscribe((o) => (o.kind === 'event' ? events.push(o.event) : states.push(o.state)));
  const feed = hopFeeder(vt, input);
  const hop = (subjectId: string) =>
    feed({
      subjectId,
      probabilities: Float32Array.from([0.9, 0.1]),
      latencyMs: 1,
      modalities: ['imu'],
      sources: ['wrist'],
    });
  for (let i = 0; i < 5; i++) {
    await hop('ann');
    await hop('bob');
  }
  assert.deepEqual(
    events.map((e) => `${e.subject} ${e.transition}`),
    ['ann started', 'bob started'],
  );

  release$.next('ann');
  assert.deepEqual(
    events.map((e) => `${e.subject} ${e.transition}`),
    ['ann started', 'bob started', 'ann ended'],
    'ann ends at the release, synchronously; bob is untouched',
  );
  const last = states.filter((s) => s.subject === 'ann').at(-1)!;
  assert.equal(last.activity, null);
  assert.deepEqual(last.modalities, [], 'the subject is published absent');
  release$.next('nobody'); // a subject this gateway does not hold: nothing happens
  assert.equal(events.length, 3);

  // The device comes back: a fresh start, as for a new subject.
  for (let i = 0; i < 5; i++) await hop('ann');
  assert.equal(events.at(-1)?.subject, 'ann');
  assert.equal(events.at(-1)?.transition, 'started');
});
