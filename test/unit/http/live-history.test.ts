import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PAYLOAD_VERSION, type ActivityEvent, type SubjectState } from '../../../gateway/domain/events.ts';
import { LiveHistory } from '../../../gateway/http/live-history.ts';

const T0 = Date.parse('2026-12-06T10:00:00Z');
const MIN = 60_000;

function state(subject: string, atMs: number, activity: string | null, confidence: number): SubjectState {
  return {
    v: PAYLOAD_VERSION,
    gateway: 'gw',
    subject,
    activity,
    activityName: activity === null ? null : activity[0]!.toUpperCase() + activity.slice(1),
    confidence,
    since: null,
    reps: 0,
    updated: new Date(atMs).toISOString(),
    modalities: [],
    sources: [],
  };
}

function ended(subject: string, startMs: number, endMs: number): ActivityEvent {
  return {
    v: PAYLOAD_VERSION,
    gateway: 'gw',
    subject,
    transition: 'ended',
    activity: 'squat',
    activityName: 'Squat',
    confidence: 0.05,
    topK: [],
    start: new Date(startMs).toISOString(),
    startNs: startMs * 1e6,
    end: new Date(endMs).toISOString(),
    endNs: endMs * 1e6,
    modalities: ['imu'],
    sources: ['w'],
    model: 'm',
    modelVersion: '1',
    latencyMs: 1,
    seq: 1,
  };
}

test('keeps the last hour per subject, plus the point that was current when it starts', () => {
  const h = new LiveHistory();
  h.onState(state('a', T0, 'jog', 0.912));
  h.onState(state('a', T0 + 20 * MIN, 'wave', 0.5));
  h.onState(state('a', T0 + 70 * MIN, 'jog', 0.8));
  h.onState(state('a', T0 + 75 * MIN, 'jog', 0.81));
  // The window reaches back to 15 min; the point at 0 min stays: it says what went on then.
  assert.deepEqual(h.snapshot().timeline['a'], [
    [T0, 'jog', 0.91],
    [T0 + 20 * MIN, 'wave', 0.5],
    [T0 + 70 * MIN, 'jog', 0.8],
    [T0 + 75 * MIN, 'jog', 0.81],
  ]);
  h.onState(state('a', T0 + 90 * MIN, null, 0));
  assert.deepEqual(
    h.snapshot().timeline['a']?.map((p) => p[0]),
    [T0 + 20 * MIN, T0 + 70 * MIN, T0 + 75 * MIN, T0 + 90 * MIN],
  );
});

test('an ended event is an idle point at its end; a late point goes in its place; names are kept', () => {
  const h = new LiveHistory();
  h.onState(state('b', T0, 'squat', 0.7));
  h.onActivity(ended('b', T0, T0 + 2 * MIN));
  h.onState(state('b', T0 + MIN, 'squat', 0.72));
  const snap = h.snapshot();
  assert.deepEqual(snap.timeline['b'], [
    [T0, 'squat', 0.7],
    [T0 + MIN, 'squat', 0.72],
    [T0 + 2 * MIN, null, 0],
  ]);
  assert.equal(snap.names['squat'], 'Squat');
});

test('bounded in points and subjects, and says how much it trimmed', () => {
  const h = new LiveHistory({ maxPointsPerSubject: 3, maxSubjects: 2 });
  for (let i = 0; i < 5; i++) h.onState(state('a', T0 + i * 1000, 'jog', 0.9));
  h.onState(state('b', T0, 'jog', 0.9));
  h.onState(state('c', T0, 'jog', 0.9));
  const snap = h.snapshot();
  assert.deepEqual(Object.keys(snap.timeline).sort(), ['b', 'c']);
  assert.equal(snap.trimmed, 2 + 1);
});

test('a total budget over all subjects: the longest timeline gives up its oldest points', () => {
  const h = new LiveHistory({ maxTotalPoints: 6 });
  for (let i = 0; i < 5; i++) h.onState(state('a', T0 + i * 1000, 'jog', 0.9));
  for (let i = 0; i < 3; i++) h.onState(state('b', T0 + i * 1000, 'wave', 0.5));
  const snap = h.snapshot();
  assert.deepEqual(
    snap.timeline['a']?.map((p) => p[0] - T0),
    [2000, 3000, 4000],
  );
  assert.equal(snap.timeline['b']?.length, 3);
  assert.equal(snap.trimmed, 2);
});
