import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { SubjectScores } from '../../../gateway/domain/events.ts';
import { POSE_VALUES_PER_FRAME } from '../../../gateway/domain/samples.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { staggeredHops } from '../../../gateway/pipeline/hop-phase.ts';
import { createPipeline } from '../../../gateway/pipeline/pipeline.ts';
import { FakeEncoder, classes, fakeModel, imuChunk, poseChunk } from './helpers/fakes.ts';
import { VirtualTime } from './helpers/virtual-time.ts';

const imuSpec = {
  name: 'imu',
  modality: 'imu',
  sampleRateHz: 50,
  windowSamples: 100,
  hopSamples: 25,
} as const;
const poseSpec = {
  name: 'pose',
  modality: 'pose',
  sampleRateHz: 20,
  windowSamples: 40,
  hopSamples: 10,
} as const;
const HOP_NS = 5e8;

/** Where in the hop a window end falls, ns (exact integers: the ends are multiples of 1 µs). */
const phaseOf = (endNs: number): number =>
  Number(BigInt(Math.round(endNs / 1e3)) % BigInt(HOP_NS / 1e3)) * 1e3;

describe('staggered hops', () => {
  it('phases are whole multiples of every encoder period, inside the hop, spread over subjects', () => {
    const both = staggeredHops([imuSpec, poseSpec]);
    const counts = new Map<number, number>();
    for (let i = 0; i < 1000; i++) {
      const p = both(`p${String(i).padStart(4, '0')}`);
      assert.equal(p % 1e8, 0, 'a sample instant of both the 50 Hz and the 20 Hz grid');
      assert.ok(p >= 0 && p < HOP_NS);
      counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    assert.equal(counts.size, 5, 'five phases 100 ms apart');
    for (const [p, n] of counts)
      assert.ok(n > 120 && n < 280, `phase ${p / 1e6} ms has ${n} of 1000 subjects`);
    assert.equal(both('p0007'), both('p0007'), 'stable for a subject');

    const imuOnly = staggeredHops([imuSpec]);
    const phases = new Set(Array.from({ length: 1000 }, (_, i) => imuOnly(`s${i}`)));
    assert.equal(phases.size, 25, 'IMU only: every 20 ms sample of the hop');
    assert.equal(
      staggeredHops([{ ...imuSpec, sampleRateHz: 30, hopSamples: 15 }])('x'),
      0,
      'no whole-ns period: aligned',
    );
  });

  for (const stagger of [false, true]) {
    it(`${stagger ? 'staggered' : 'aligned'}: one decision per subject per hop, IMU and pose of a subject fused at the same instants`, async () => {
      const vt = new VirtualTime();
      const imu = new FakeEncoder({ ...imuSpec, embeddingDim: 8, seed: 1 });
      const pose = new FakeEncoder({ ...poseSpec, embeddingDim: 8, seed: 2 });
      const model = fakeModel([imu, pose], classes('rest', 'wave'), new Float32Array(16).fill(0.25));
      const pipeline = createPipeline(
        model,
        { staggerHops: stagger, batching: { maxBatch: 64, maxWaitMs: 5 }, smoothing: { gateway: 'gw' } },
        { clock: vt.clock, logger: silentLogger(), metrics: new Registry(), scheduler: vt.scheduler },
      );
      const scores: SubjectScores[] = [];
      pipeline.scores$.subscribe((s) => scores.push(s));
      const subjects = Array.from({ length: 12 }, (_, i) => `p${String(i).padStart(4, '0')}`);
      const t0 = vt.nowNs + 3_000_000;
      // 6 s of data every 100 ms: 5 IMU samples for every subject, 2 pose frames for the first.
      for (let step = 0; step < 60; step++) {
        const from = t0 + step * 1e8;
        await vt.advanceTo((from + 1e8) / 1e6 + 5);
        for (const s of subjects)
          pipeline.push(
            imuChunk(
              `wrist-${s}`,
              s,
              [0, 1, 2, 3, 4].map((i) => from + i * 2e7),
              () => [0, 0, 9.81, 0, 0, 0],
            ),
          );
        pipeline.push(
          poseChunk(
            'cam/1',
            subjects[0],
            [0, 1].map((i) => from + i * 5e7),
            () => Array.from({ length: POSE_VALUES_PER_FRAME }, () => 0.5),
          ),
        );
      }
      await vt.advanceBy(2000);
      await pipeline.stop();

      const phases = new Set<number>();
      for (const s of subjects) {
        const mine = scores.filter((x) => x.subjectId === s);
        assert.ok(mine.length >= 6, `${s}: ${mine.length} decisions`);
        for (let i = 1; i < mine.length; i++)
          assert.equal(mine[i]!.endNs - mine[i - 1]!.endNs, HOP_NS, `${s} hop ${i}`);
        const p = phaseOf(mine[0]!.endNs);
        assert.equal(
          p,
          stagger ? staggeredHops([imuSpec, poseSpec])(s) : 0,
          `${s}: windows end at its phase`,
        );
        phases.add(p);
      }
      assert.equal(phases.size > 1, stagger, `${phases.size} distinct phases`);
      const first = scores.filter((x) => x.subjectId === subjects[0] && x.endNs - t0 < 5e9);
      assert.ok(
        first.slice(1).every((x) => x.modalities.join('+') === 'imu+pose'),
        'IMU and pose fused every hop',
      );
    });
  }
});
