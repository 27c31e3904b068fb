import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtualTimeScheduler } from 'rxjs';
import type { ActivityEvent, RepsEvent } from '../../../gateway/domain/events.ts';
import type { ImuChunk } from '../../../gateway/domain/samples.ts';
import { RepService } from '../../../gateway/pipeline/reps/rep-service.ts';
import { loadRepSets, runSet, score } from '../../../bench/reps/evaluate.ts';
import { syntheticImu } from '../../helpers/rep-signals.ts';

const T0 = 1.7e18;

function activity(
  subject: string,
  transition: ActivityEvent['transition'],
  id: string,
  startNs: number,
  endNs?: number,
): ActivityEvent {
  return {
    v: 1,
    gateway: 'gw',
    subject,
    transition,
    activity: id,
    activityName: id,
    confidence: 0.9,
    topK: [],
    start: new Date(startNs / 1e6).toISOString(),
    startNs,
    ...(endNs === undefined ? {} : { endNs, end: new Date(endNs / 1e6).toISOString() }),
    model: 'm',
    modelVersion: '1',
    latencyMs: 0,
    seq: 0,
    modalities: ['imu'],
    sources: ['imu-1'],
  };
}

/** The synthetic IMU as 0.2 s chunks shifted to start at `atNs`. */
function chunks(seed: number, reps: number, atNs: number): ImuChunk[] {
  const sig = syntheticImu(seed, { reps, periodS: 2, noise: 0.1, jitter: 0.1, restS: 0.3, rateHz: 50 });
  const out: ImuChunk[] = [];
  for (let i = 0; i < sig.tNs.length; i += 10) {
    const j = Math.min(sig.tNs.length, i + 10);
    out.push({
      modality: 'imu',
      sourceId: 'imu-1',
      subjectId: 's1',
      tNs: sig.tNs.subarray(i, j).map((t) => t - 1.7e18 + atNs),
      values: sig.values.subarray(i * 6, j * 6),
    });
  }
  return out;
}

function lastNs(cs: readonly ImuChunk[]): number {
  const c = cs[cs.length - 1] as ImuChunk;
  return c.tNs[c.tNs.length - 1] as number;
}

describe('RepService: sets, rests and activity gating', () => {
  it('counts from the back-dated activity start, numbers reps per set, summarises each set; a rest opens a new set', () => {
    let now = T0;
    const scheduler = new VirtualTimeScheduler();
    const service = new RepService({ gateway: 'gw', restS: 5 }, { clock: { nowNs: () => now }, scheduler });
    const events: RepsEvent[] = [];
    service.events$.subscribe((e) => events.push(e));

    const first = chunks(1, 6, T0);
    // The smoother announces the activity 3 s in, dated back to the start of the data.
    const announceAt = T0 + 3e9;
    for (const c of first) {
      now = c.tNs[c.tNs.length - 1] as number;
      service.push(c);
      if (now >= announceAt && !events.length && service.count('s1') === 0) {
        service.onActivity(activity('s1', 'started', 'squat', T0));
      }
    }
    // 20 s of rest (still), then a second set of 4.
    const secondStart = lastNs(first) + 20e9;
    const still: ImuChunk[] = chunks(2, 0, lastNs(first) + 0.02e9).map((c) => c);
    for (const c of still) service.push(c);
    for (const c of chunks(3, 4, secondStart)) {
      now = c.tNs[c.tNs.length - 1] as number;
      service.push(c);
    }
    service.onActivity(activity('s1', 'ended', 'squat', T0, now));
    // The set is held in case the activity resumes; with no more data it closes after the rest time.
    assert.equal(events.filter((e) => e.kind === 'set').length, 1);
    scheduler.flush();

    const reps = events.filter((e) => e.kind === 'rep');
    const sets = events.filter((e) => e.kind === 'set');
    assert.deepEqual(
      sets.map((s) => [s.set, s.count]),
      [
        [1, 6],
        [2, 4],
      ],
    );
    assert.deepEqual(
      reps.map((r) => `${r.set}.${r.count}`),
      ['1.1', '1.2', '1.3', '1.4', '1.5', '1.6', '2.1', '2.2', '2.3', '2.4'],
    );
    for (const r of reps) assert.equal(r.activity, 'squat');
    const set1 = sets[0] as RepsEvent;
    assert.ok((set1.meanRepS ?? 0) > 1.5 && (set1.meanRepS ?? 0) < 3, `mean rep ${set1.meanRepS}`);
    assert.equal(service.count('s1'), 0, 'the count goes back to 0 when the activity ends');
  });

  it('counts nothing for walking (not repetitive) or without an activity', () => {
    const service = new RepService({ gateway: 'gw' }, { clock: { nowNs: () => T0 } });
    const events: RepsEvent[] = [];
    service.events$.subscribe((e) => events.push(e));
    const cs = chunks(4, 8, T0);
    for (const c of cs.slice(0, 40)) service.push(c);
    service.onActivity(activity('s1', 'started', 'walk', T0));
    for (const c of cs.slice(40)) service.push(c);
    service.onActivity(activity('s1', 'ended', 'walk', T0, lastNs(cs)));
    assert.deepEqual(events, []);
  });

  it('a set interrupted by the recogniser (squat → walk → squat) goes on, numbering continues, no rep counted twice', () => {
    const scheduler = new VirtualTimeScheduler();
    const service = new RepService({ gateway: 'gw', restS: 5 }, { clock: { nowNs: () => T0 }, scheduler });
    const events: RepsEvent[] = [];
    service.events$.subscribe((e) => events.push(e));
    const cs = chunks(5, 10, T0);
    service.onActivity(activity('s1', 'started', 'squat', T0));
    cs.forEach((c, i) => {
      service.push(c);
      if (i === 60) service.onActivity(activity('s1', 'changed', 'walk', c.tNs[0] as number));
      if (i === 75) service.onActivity(activity('s1', 'changed', 'squat', (c.tNs[0] as number) - 2e9));
    });
    service.onActivity(activity('s1', 'ended', 'squat', T0, lastNs(cs)));
    scheduler.flush();
    const reps = events.filter((e) => e.kind === 'rep');
    assert.deepEqual(
      reps.map((r) => `${r.set}.${r.count}`),
      Array.from({ length: 10 }, (_, i) => `1.${i + 1}`),
    );
    assert.deepEqual(
      events.filter((e) => e.kind === 'set').map((e) => e.count),
      [10],
    );
  });

  it('configuration can make an activity repetitive', () => {
    const service = new RepService(
      { gateway: 'gw', activities: { walk: { modality: 'imu' } } },
      { clock: { nowNs: () => T0 } },
    );
    const events: RepsEvent[] = [];
    service.events$.subscribe((e) => events.push(e));
    service.onActivity(activity('s1', 'started', 'walk', T0));
    for (const c of chunks(4, 8, T0)) service.push(c);
    service.complete();
    assert.equal(events.filter((e) => e.kind === 'rep').length, 8);
    assert.equal(events.at(-1)?.kind, 'set');
  });
});

describe('the bundled real rep sets (test/fixtures/rep-sets, UTD-MHAD subject 2 from the demo)', () => {
  it('are counted within ±1 by IMU, pose and both', async () => {
    const rs = await loadRepSets('test/fixtures/rep-sets');
    for (const modality of ['imu', 'pose', 'both'] as const) {
      const results = rs.sets.map((s) => runSet(rs, s, modality));
      for (const r of results) {
        assert.ok(
          Math.abs(r.error) <= 1,
          `${modality} ${r.set.activity}: counted ${r.counted} of ${r.set.count}`,
        );
      }
      assert.ok(score(results).mae <= 0.5, `${modality}: MAE ${score(results).mae}`);
    }
  });
});
