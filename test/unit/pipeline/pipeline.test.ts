import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { ActivityEvent, SubjectScores, SubjectState } from '../../../gateway/domain/events.ts';
import { IMU_CHANNELS, POSE_VALUES_PER_FRAME } from '../../../gateway/domain/samples.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { createPipeline } from '../../../gateway/pipeline/pipeline.ts';
import type { HopDecision } from '../../../gateway/pipeline/stages/decisions.ts';
import { FakeEncoder, classes, fakeModel, imuChunk, poseChunk, prng, times } from './helpers/fakes.ts';
import { VirtualTime } from './helpers/virtual-time.ts';

const CLASSES = classes('rest', 'wave');
const IMU_PATTERN = [
  [0.2, -0.1, 9.81, 0.01, 0, -0.02],
  [-0.3, 0.2, -9.6, 0.5, -0.4, 0.3],
];
const POSE_PATTERN = [0.3, 0.8];

function imuEncoder(): FakeEncoder {
  return new FakeEncoder({
    name: 'imu',
    modality: 'imu',
    sampleRateHz: 50,
    windowSamples: 100,
    hopSamples: 25,
    embeddingDim: 16,
    seed: 1,
  });
}
function poseEncoder(): FakeEncoder {
  return new FakeEncoder({
    name: 'pose',
    modality: 'pose',
    sampleRateHz: 20,
    windowSamples: 40,
    hopSamples: 10,
    embeddingDim: 16,
    seed: 2,
  });
}
const poseFrame = (cls: number, wobble: number): number[] =>
  Array.from({ length: POSE_VALUES_PER_FRAME }, (_, v) =>
    v % 3 === 2 ? 0.9 : v % 3 === 0 ? POSE_PATTERN[cls]! + wobble : 1 - POSE_PATTERN[cls]! - wobble,
  );

/**
 * Class prototypes in the fakes' "joint space": the normalised sum of what the IMU and pose
 * fakes give for a clean window of each class, so either modality alone points the right way.
 */
function prototypes(imu: FakeEncoder, pose: FakeEncoder): Float32Array {
  const P = new Float32Array(CLASSES.length * 16);
  CLASSES.forEach((_, c) => {
    const imuIn = new Float32Array(imu.inputSize);
    for (let ch = 0; ch < IMU_CHANNELS; ch++) imuIn.fill(IMU_PATTERN[c]![ch]!, ch * 100, (ch + 1) * 100);
    const poseIn = new Float32Array(pose.inputSize);
    for (let s = 0; s < 40; s++) poseIn.set(poseFrame(c, 0), s * POSE_VALUES_PER_FRAME);
    const a = imu.embed(imuIn),
      b = pose.embed(poseIn);
    const sum = a.map((x, d) => x + b[d]!);
    const n = Math.hypot(...sum);
    P.set(
      sum.map((x) => x / n),
      c * 16,
    );
  });
  return P;
}

describe('createPipeline', () => {
  it('turns IMU and pose streams of two subjects into fused decisions, events and states, and drains on stop', async () => {
    const vt = new VirtualTime();
    const imu = imuEncoder(),
      pose = poseEncoder();
    const model = fakeModel([imu, pose], CLASSES, prototypes(imu, pose));
    const registry = new Registry();
    const pipeline = createPipeline(
      model,
      {
        batching: { mode: 'fixed', maxBatch: 8, maxWaitMs: 20 },
        smoothing: { gateway: 'gw-test', minDwellS: 1, stateIntervalS: 5 },
      },
      { clock: vt.clock, logger: silentLogger(), metrics: registry, scheduler: vt.scheduler },
    );
    const scores: SubjectScores[] = [],
      decisions: HopDecision[] = [],
      events: ActivityEvent[] = [],
      states: SubjectState[] = [];
    let completed = 0;
    const done = { complete: () => completed++ };
    pipeline.scores$.subscribe({ next: (s) => scores.push(s), ...done });
    pipeline.decisions$.subscribe({ next: (d) => decisions.push(d), ...done });
    pipeline.events$.subscribe({ next: (e) => events.push(e), ...done });
    pipeline.states$.subscribe({ next: (s) => states.push(s), ...done });

    const t0 = vt.nowNs + 7_300_000; // not on any grid
    const rnd = prng(5);
    const label = (subject: string, tNs: number): number => (subject === 's2' || tNs - t0 >= 10e9 ? 1 : 0);
    const cameraVisible = (tNs: number): boolean => tNs - t0 < 14e9 || tNs - t0 >= 17e9;
    // 22 s of data, delivered every 100 ms of virtual time (5 IMU samples, 2 pose frames per chunk).
    for (let step = 0; step < 220; step++) {
      const from = t0 + step * 1e8;
      const imuTimes = Array.from({ length: 5 }, (_, i) => from + i * 20e6 + (rnd() - 0.5) * 2e6);
      const poseTimes = Array.from({ length: 2 }, (_, i) => from + i * 50e6 + 3e6).filter(cameraVisible);
      await vt.advanceTo((from + 1e8) / 1e6 + 5);
      for (const subject of ['s1', 's2']) {
        pipeline.push(
          imuChunk(`wrist-${subject}`, subject, imuTimes, (t) =>
            IMU_PATTERN[label(subject, t)]!.map((v) => v + (rnd() - 0.5) * 0.2),
          ),
        );
      }
      if (poseTimes.length > 0)
        pipeline.push(
          poseChunk('cam/1', 's1', poseTimes, (t) => poseFrame(label('s1', t), (rnd() - 0.5) * 0.02)),
        );
      pipeline.push(imuChunk('stray', undefined, imuTimes, () => [0, 0, 9.81, 0, 0, 0]));
    }
    await vt.advanceBy(1000);

    // Window-level accuracy of the raw decisions (label at the window centre).
    const scored = decisions.filter((d) => Math.abs((d.startNs + d.endNs) / 2 - t0 - 10e9) > 1e9);
    const correct = scored.filter(
      (d) => CLASSES[label(d.subjectId, (d.startNs + d.endNs) / 2)]!.id === d.activity,
    ).length;
    assert.ok(scored.length > 50);
    assert.ok(correct / scored.length > 0.95, `accuracy ${correct}/${scored.length}`);

    // s1 is fused from both modalities, except while the camera lost the person.
    const s1 = scores.filter((s) => s.subjectId === 's1');
    const modalitiesAt = (sec: number): string | undefined =>
      s1.find((s) => Math.abs(s.endNs - t0 - sec * 1e9) < 2.5e8)?.modalities.join('+');
    assert.equal(modalitiesAt(8), 'imu+pose');
    assert.equal(modalitiesAt(13), 'imu+pose');
    // Last pose frame at 13.95 s: its last window ends by 14 s; from the next hop s1 is IMU only.
    const lastPoseEnd = Math.max(
      ...s1.filter((s) => s.modalities.includes('pose') && s.endNs - t0 < 15e9).map((s) => s.endNs),
    );
    for (const s of s1.filter((x) => x.endNs > lastPoseEnd && x.endNs - t0 < 17e9))
      assert.deepEqual(s.modalities, ['imu']);
    assert.ok(lastPoseEnd - t0 <= 14e9 && lastPoseEnd - t0 > 13e9);
    // Back in view at 17 s: its first full window ends at 19.5 s and trails that slot; from the next one it is fused again.
    assert.equal(modalitiesAt(19.5), 'imu');
    assert.equal(modalitiesAt(20), 'imu+pose', 'the camera is back within one hop of its first full window');
    assert.ok(scores.filter((s) => s.subjectId === 's2').every((s) => s.modalities.join() === 'imu'));

    // One decision per subject per hop.
    for (const subject of ['s1', 's2']) {
      const ends = scores.filter((s) => s.subjectId === subject).map((s) => s.endNs);
      for (let i = 1; i < ends.length; i++) assert.equal(ends[i]! - ends[i - 1]!, 5e8, `${subject} hop ${i}`);
    }

    assert.deepEqual(
      events.map((e) => `${e.subject}:${e.transition}:${e.activity}`).sort(),
      ['s1:changed:wave', 's1:started:rest', 's2:started:wave'],
      'nothing ends while the streams run',
    );
    await pipeline.stop();
    assert.equal(completed, 4, 'every output completes');
    assert.deepEqual(events.map((e) => `${e.subject}:${e.transition}:${e.activity}`).sort(), [
      's1:changed:wave',
      's1:ended:wave',
      's1:started:rest',
      's2:ended:wave',
      's2:started:wave',
    ]);
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
    );
    const changed = events.find((e) => e.transition === 'changed')!;
    assert.ok(
      Math.abs(changed.startNs - t0 - 10e9) < 1.5e9,
      `change dated ${(changed.startNs - t0) / 1e9} s`,
    );
    assert.ok(states.some((s) => s.subject === 's1' && s.activity === 'wave'));
    assert.deepEqual(
      [...new Set(states.slice(-2).map((s) => s.activity))],
      [null],
      'final states after stop',
    );

    const metric = async (name: string, series?: string): Promise<Record<string, number>> => {
      const m = await registry.getSingleMetric(name)!.get();
      return Object.fromEntries(
        m.values
          .filter((v) => !series || (v as { metricName?: string }).metricName === series)
          .map((v) => [Object.values(v.labels).join('/'), v.value]),
      );
    };
    const windows = await metric('mujo_pipeline_windows_total');
    assert.ok(windows['imu']! >= 2 * 36 && windows['pose']! > 20, JSON.stringify(windows));
    assert.equal(
      (await metric('mujo_pipeline_dropped_total'))['ingress/reject-invalid/unassigned-subject'],
      220 * 5,
    );
    assert.equal((await metric('mujo_pipeline_events_total'))['ended'], 2);
    const batches = await metric('mujo_pipeline_batch_size', 'mujo_pipeline_batch_size_sum');
    assert.equal(batches['imu'], windows['imu'], 'every window went through inference');
    assert.ok(
      imu.batches.some((n) => n > 1),
      'windows of the two subjects share batches',
    );
  });

  it('takes input from observables (finite ones do not stop it) and stops cleanly', async () => {
    const vt = new VirtualTime();
    const imu = imuEncoder();
    const model = fakeModel([imu], CLASSES, prototypes(imu, poseEncoder()));
    const registry = new Registry();
    const pipeline = createPipeline(
      model,
      { smoothing: { gateway: 'gw-test' } },
      { clock: vt.clock, logger: silentLogger(), metrics: registry, scheduler: vt.scheduler },
    );
    const windows: number[] = [];
    pipeline.windows$.subscribe((w) => windows.push(w.endNs));
    const t0 = vt.nowNs;
    const chunk = (i: number) =>
      imuChunk('w1', 's1', times(t0 + i * 1e9, 20e6, 50), () => [0, 0, 9.81, 0, 0, 0]);
    const { of } = await import('rxjs');
    pipeline.connect(of(chunk(0), chunk(1)));
    // A pose chunk: this model has no pose encoder, so it is refused and counted.
    pipeline.push(poseChunk('cam/1', 's1', [t0], () => new Array(51).fill(0.5)));
    pipeline.connect(of(chunk(2), chunk(3), chunk(4)));
    await pipeline.stop();
    // 5 s of contiguous samples → 2 s windows every 0.5 s: only possible if both inputs arrived.
    assert.ok(windows.length >= 6, `${windows.length} windows`);
    const dropped = await registry.getSingleMetric('mujo_pipeline_dropped_total')!.get();
    assert.equal(dropped.values.find((v) => v.labels['reason'] === 'no-encoder-for-modality')?.value, 1);
    pipeline.push(chunk(5)); // ignored after stop, no throw
  });
});
