import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VirtualTimeScheduler } from 'rxjs';
import type { SampleChunk } from '../../../gateway/domain/samples.ts';
import { GatewayError } from '../../../gateway/observability/errors.ts';
import { loadRecording, type Recording } from '../../../gateway/sources/replay/recording.ts';
import {
  ReplaySource,
  type ReplayDone,
  type ReplayOptions,
} from '../../../gateway/sources/replay/replay-source.ts';

const FIXTURE = fileURLToPath(new URL('../../fixtures/recording-small/', import.meta.url));
const MS = 1_000_000;
/** Virtual clock starts at 0 ms, so the default origin is 0 ns and sample times are recording times. */

interface Emission {
  readonly atMs: number;
  readonly chunk: SampleChunk;
}

let recording: Recording;
before(async () => {
  recording = await loadRecording(FIXTURE);
});

/** Plays the fixture in virtual time until it ends, or until `stopAtMs` when looping. */
function play(options: ReplayOptions & { stopAtMs?: number } = {}): {
  emissions: Emission[];
  done: ReplayDone[];
  completedAtMs: number | undefined;
  source: ReplaySource;
} {
  const scheduler = new VirtualTimeScheduler();
  const source = new ReplaySource(recording, { ...options, scheduler });
  const emissions: Emission[] = [];
  const done: ReplayDone[] = [];
  let completedAtMs: number | undefined;
  source.samples$.subscribe({
    next: (chunk) => emissions.push({ atMs: scheduler.now(), chunk }),
    complete: () => (completedAtMs = scheduler.now()),
  });
  source.done$.subscribe((d) => done.push(d));
  source.start();
  if (options.stopAtMs !== undefined) scheduler.schedule(() => source.stop(), options.stopAtMs);
  scheduler.flush();
  return { emissions, done, completedAtMs, source };
}

function timesOf(emissions: readonly Emission[], sourceId: string): number[] {
  return emissions.filter((e) => e.chunk.sourceId === sourceId).flatMap((e) => [...e.chunk.tNs]);
}

describe('ReplaySource (virtual time)', () => {
  it('emits every sample once, in 100 ms chunks, each chunk just after its samples happened', () => {
    const { emissions, done, completedAtMs } = play();
    for (const stream of recording.streams) {
      assert.deepEqual(
        timesOf(emissions, stream.sourceId),
        [...stream.data.tNs],
        `${stream.sourceId}: all samples, recording times`,
      );
    }
    for (const { atMs, chunk } of emissions) {
      for (const t of chunk.tNs) {
        // Due at the end of its 100 ms slice: never before the sample, at most one chunk after.
        assert.ok(
          t / MS < atMs && t / MS >= atMs - 100,
          `${chunk.sourceId} sample at ${t / MS} ms emitted at ${atMs} ms`,
        );
      }
    }
    assert.deepEqual([...new Set(emissions.map((e) => e.atMs))].slice(0, 3), [100, 200, 300]);
    assert.deepEqual(done, [{ reason: 'end', loops: 1 }]);
    // The last chunk is due at the span (3005 ms), not at a chunk boundary.
    assert.equal(completedAtMs, 3005);
  });

  it('carries values, subject, placement and modality per stream', () => {
    const { emissions } = play();
    const first = emissions.find((e) => e.chunk.sourceId === 'imu-s1')?.chunk;
    assert.ok(first && first.modality === 'imu');
    assert.equal(first.subjectId, 's1');
    assert.equal(first.placement, 'wrist');
    assert.equal(first.tNs.length, 5, '50 Hz × 100 ms');
    const stream = recording.streams.find((s) => s.sourceId === 'imu-s1');
    assert.deepEqual([...first.values], [...(stream?.data.values.subarray(0, 30) ?? [])]);
    const pose = emissions.find((e) => e.chunk.sourceId === 'cam1/2')?.chunk;
    assert.ok(pose && pose.modality === 'pose');
    assert.equal(pose.subjectId, 's2');
    assert.equal(pose.values.length, pose.tNs.length * 51);
    const stranger = emissions.find((e) => e.chunk.sourceId === 'cam1/7')?.chunk;
    assert.ok(stranger);
    assert.equal('subjectId' in stranger, false, 'an unmapped track carries no subject');
  });

  it('emits nothing for a silent device (imu-s2 gap 1.0-1.5 s)', () => {
    const { emissions } = play();
    const s2Frames = emissions.filter((e) => e.chunk.sourceId === 'imu-s2').map((e) => e.atMs);
    for (const ms of [1100, 1200, 1300, 1400, 1500])
      assert.ok(!s2Frames.includes(ms), `no imu-s2 chunk at ${ms} ms`);
    assert.ok(s2Frames.includes(1000) && s2Frames.includes(1600));
  });

  it('at 10× emits ten times sooner but keeps the recording time base (50 Hz stays 50 Hz)', () => {
    const real = play();
    const fast = play({ speed: 10 });
    assert.equal(fast.completedAtMs, 300.5);
    assert.deepEqual(
      fast.emissions.map((e) => e.atMs),
      real.emissions.map((e) => e.atMs / 10),
    );
    for (const stream of recording.streams) {
      assert.deepEqual(timesOf(fast.emissions, stream.sourceId), timesOf(real.emissions, stream.sourceId));
    }
    const t = timesOf(fast.emissions, 'imu-s1');
    assert.equal((t[1] as number) - (t[0] as number), 20 * MS);
  });

  it('loops with time continuing forward, one span per pass, until stopped', () => {
    const { emissions, done, completedAtMs, source } = play({ loop: true, stopAtMs: 10_000 });
    assert.equal(completedAtMs, 10_000);
    assert.deepEqual(done, [{ reason: 'stopped', loops: 3 }]);
    for (const stream of recording.streams) {
      const times = timesOf(emissions, stream.sourceId);
      for (let i = 1; i < times.length; i++) {
        assert.ok(
          (times[i] as number) > (times[i - 1] as number),
          `${stream.sourceId}: time went backwards at ${i}`,
        );
      }
    }
    const s1 = timesOf(emissions, 'imu-s1');
    assert.equal(s1[150], 3005 * MS, 'second pass starts one span later');
    assert.equal(s1[300], 2 * 3005 * MS);
    // 3 full passes end at 9015 ms; chunks of the 4th due by 10 000 ms cover its first 900 ms.
    assert.equal(s1.length, 3 * 150 + 45);
    assert.equal(source.stats().loops, 3);
    assert.equal(source.stats().samples.imu, 3 * 275 + 45 + 45);
  });

  it('withoutModalities drops a modality and its devices', () => {
    const { emissions, source } = play({ withoutModalities: ['pose'] });
    assert.ok(emissions.length > 0);
    assert.ok(emissions.every((e) => e.chunk.modality === 'imu'));
    assert.deepEqual(
      source.devices.map((d) => d.id),
      ['imu-s1', 'imu-s2'],
    );
    assert.equal(source.stats().samples.pose, 0);
    assert.throws(
      () => new ReplaySource(recording, { withoutModalities: ['pose', 'imu'] }),
      (e: unknown) => e instanceof GatewayError && e.code === 'REPLAY_BAD_OPTION',
    );
  });

  it('maps labels onto the gateway time base of each pass', () => {
    const origin = 1_767_225_600_000 * MS;
    const scheduler = new VirtualTimeScheduler();
    const source = new ReplaySource(recording, { scheduler, loop: true, originNs: origin });
    assert.throws(
      () => source.labels(),
      (e: unknown) => e instanceof GatewayError && e.code === 'REPLAY_STATE',
    );
    source.start();
    assert.equal(source.originNs, origin);
    assert.deepEqual(source.labels(1)[0], {
      subject: 's1',
      startNs: origin + 3005 * MS,
      endNs: origin + 4505 * MS,
      activity: 'wave',
    });
    assert.equal(source.labelAt('s1', origin + 1000 * MS), 'wave');
    assert.equal(source.labelAt('s1', origin + 1600 * MS), 'clap');
    assert.equal(source.labelAt('s1', origin + 3005 * MS + 1600 * MS), 'clap', 'second pass');
    assert.equal(source.labelAt('s1', origin + 3002 * MS), null, 'between the last label and the span');
    assert.equal(source.labelAt('s2', origin - MS), null, 'before the start');
    assert.equal(source.labelAt('nobody', origin + 1000 * MS), null);
    source.stop();

    const once = new ReplaySource(recording, { scheduler: new VirtualTimeScheduler(), originNs: origin });
    once.start();
    assert.equal(once.labelAt('s1', origin + 3005 * MS + 1000 * MS), null, 'no second pass without loop');
  });

  it('stamps samples from originNs when given', () => {
    const scheduler = new VirtualTimeScheduler();
    const origin = 5_000 * MS;
    const source = new ReplaySource(recording, { scheduler, originNs: origin });
    const times: number[] = [];
    source.samples$.subscribe((c) => c.sourceId === 'imu-s1' && times.push(...c.tNs));
    source.start();
    scheduler.flush();
    assert.equal(times[0], origin);
    assert.equal(times[149], origin + 2980 * MS);
  });

  it('at extreme speed emits at most maxChunksPerTick per tick and still everything in order', () => {
    const { emissions } = play({ speed: 1e6, maxChunksPerTick: 4 });
    const ticks = new Map<number, Set<number>>();
    for (const e of emissions) {
      // Chunks of one tick share the emission time; count distinct chunk slices by their first sample's slice.
      const slice = Math.floor((e.chunk.tNs[0] as number) / (100 * MS));
      const set = ticks.get(e.atMs) ?? new Set<number>();
      set.add(slice);
      ticks.set(e.atMs, set);
    }
    assert.ok(
      [...ticks.values()].every((s) => s.size <= 4),
      'no tick emits more than 4 slices',
    );
    assert.ok(ticks.size >= Math.ceil(31 / 4), `at least 8 ticks, got ${ticks.size}`);
    for (const stream of recording.streams) {
      assert.deepEqual(timesOf(emissions, stream.sourceId), [...stream.data.tNs]);
    }
  });

  it('rejects bad options and a second start', () => {
    for (const speed of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () => new ReplaySource(recording, { speed }),
        (e: unknown) =>
          e instanceof GatewayError && e.code === 'REPLAY_BAD_OPTION' && e.message.includes('speed'),
      );
    }
    const source = new ReplaySource(recording, { scheduler: new VirtualTimeScheduler() });
    source.start();
    assert.throws(
      () => source.start(),
      (e: unknown) => e instanceof GatewayError && e.code === 'REPLAY_STATE',
    );
    source.stop();
    source.stop();
  });
});

describe('ReplaySource (real timers)', () => {
  it('plays to the end on the default scheduler', async () => {
    const source = new ReplaySource(recording, { speed: 30 });
    let samples = 0;
    source.samples$.subscribe((c) => (samples += c.tNs.length));
    const done = new Promise<ReplayDone>((resolve) => source.done$.subscribe(resolve));
    source.start();
    assert.deepEqual(await done, { reason: 'end', loops: 1 });
    assert.equal(
      samples,
      recording.streams.reduce((n, s) => n + s.data.tNs.length, 0),
    );
  });
});
