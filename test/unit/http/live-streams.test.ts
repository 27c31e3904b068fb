import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestScheduler } from 'rxjs/testing';
import type { SubjectScores } from '../../../gateway/domain/events.ts';
import { POSE_VALUES_PER_FRAME, type SampleChunk } from '../../../gateway/domain/samples.ts';
import { liveScores, posePreviews } from '../../../gateway/http/live-streams.ts';

function pose(subject: string | undefined, frames: number, first: number): SampleChunk {
  const values = new Float32Array(frames * POSE_VALUES_PER_FRAME);
  for (let f = 0; f < frames; f++)
    values.fill(first + f, f * POSE_VALUES_PER_FRAME, (f + 1) * POSE_VALUES_PER_FRAME);
  return {
    modality: 'pose',
    sourceId: 'cam1/1',
    ...(subject ? { subjectId: subject } : {}),
    tNs: Float64Array.from({ length: frames }, (_, f) => (first + f) * 1e9),
    values: values.map((v) => v / 100),
  };
}

test('one pose per subject per interval: the first at once, then the newest; last frame of the chunk', () => {
  const scheduler = new TestScheduler((a, b) => assert.deepEqual(a, b));
  scheduler.run(({ cold, expectObservable }) => {
    const input = cold<SampleChunk>('a 9ms b 9ms c 99ms d 9ms e', {
      a: pose('s1', 2, 1),
      b: pose('s1', 1, 3),
      c: pose('s1', 1, 4),
      d: pose('s2', 1, 7),
      e: pose(undefined, 1, 8), // nobody's track: not shown
    });
    const frame = (subject: string, n: number) => ({
      subject,
      source: 'cam1/1',
      time: new Date(n * 1000).toISOString(),
      keypoints: Array.from({ length: POSE_VALUES_PER_FRAME }, () => Math.round((n / 100) * 1000) / 1000),
    });
    // s1: frame 2 (last of a) at 0; the newest (c, frame 4) when the 100 ms interval ends.
    // s2: d at once.
    expectObservable(posePreviews(input, 100, scheduler)).toBe('a 99ms c 19ms d', {
      a: frame('s1', 2),
      c: frame('s1', 4),
      d: frame('s2', 7),
    });
  });
});

test('the top three classes of a hop, named by the model serving', () => {
  const scheduler = new TestScheduler((a, b) => assert.deepEqual(a, b));
  scheduler.run(({ cold, expectObservable }) => {
    const scores: SubjectScores = {
      subjectId: 's1',
      startNs: 0,
      endNs: 2e9,
      probabilities: Float32Array.from([0.1, 0.6, 0.05, 0.25]),
      latencyMs: 1,
      modalities: ['imu'],
      sources: ['w'],
    };
    const classes = [
      { id: 'rest', name: 'Rest' },
      { id: 'squat', name: 'Squat' },
      { id: 'wave', name: 'Wave' },
      { id: 'jog', name: 'Jog' },
    ];
    expectObservable(liveScores(cold('a|', { a: scores }), () => classes, 1000, scheduler)).toBe('a|', {
      a: {
        subject: 's1',
        time: new Date(2000).toISOString(),
        top: [
          { activity: 'squat', name: 'Squat', confidence: 0.6 },
          { activity: 'jog', name: 'Jog', confidence: 0.25 },
          { activity: 'rest', name: 'Rest', confidence: 0.1 },
        ],
        modalities: ['imu'],
      },
    });
  });
});
