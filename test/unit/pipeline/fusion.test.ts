import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Subject } from 'rxjs';
import { Registry } from 'prom-client';
import type { SubjectScores } from '../../../gateway/domain/events.ts';
import type { Modality } from '../../../gateway/domain/samples.ts';
import type { WindowEmbedding } from '../../../gateway/domain/windows.ts';
import { fuseSubjects } from '../../../gateway/pipeline/fusion/fuse-subjects.ts';
import { pipelineMetrics } from '../../../gateway/pipeline/metrics.ts';
import { VirtualTime } from './helpers/virtual-time.ts';

const HOP_NS = 5e8;
const TEMPERATURE = 0.5;
// Prototypes = identity: the logits of a window are its embedding / temperature.
const MODEL = {
  embeddingDim: 3,
  temperature: TEMPERATURE,
  prototypes: Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]),
  encoders: [
    { name: 'imu', modality: 'imu' as const, sampleRateHz: 50, windowSamples: 100, hopSamples: 25 },
    { name: 'pose', modality: 'pose' as const, sampleRateHz: 20, windowSamples: 40, hopSamples: 10 },
  ],
};

const unit = (v: number[]): Float32Array => {
  const n = Math.hypot(...v);
  return Float32Array.from(v.map((x) => x / n));
};
const A = unit([1, 0.2, 0.1]);
const B = unit([0.1, 1, 0.3]);
const C = unit([0.2, 0.3, 1]);

/** softmax(mean(e / T)), written out independently of the code under test. */
function expected(...vectors: Float32Array[]): number[] {
  const mean = [0, 1, 2].map((c) => vectors.reduce((s, v) => s + v[c]! / TEMPERATURE, 0) / vectors.length);
  const m = Math.max(...mean);
  const ex = mean.map((x) => Math.exp(x - m));
  const sum = ex.reduce((s, x) => s + x, 0);
  return ex.map((x) => x / sum);
}

function setup() {
  const vt = new VirtualTime();
  const registry = new Registry();
  const input = new Subject<WindowEmbedding>();
  const out: SubjectScores[] = [];
  input
    .pipe(
      fuseSubjects(
        MODEL,
        // The timing cases below are written for a source that is stale after one hop.
        { staleAfterHops: 1 },
        { clock: vt.clock, scheduler: vt.scheduler, metrics: pipelineMetrics(registry) },
      ),
    )
    .subscribe((s) => out.push(s));
  const base = Math.ceil(vt.nowNs / HOP_NS) * HOP_NS;
  const end = (k: number): number => base + k * HOP_NS;
  const send = (
    subjectId: string,
    sourceId: string,
    modality: Modality,
    k: number,
    vector: Float32Array,
  ): void => {
    input.next({
      window: {
        subjectId,
        sourceId,
        modality,
        encoder: modality,
        startNs: end(k) - 2e9,
        endNs: end(k),
        closedAtNs: vt.nowNs,
        input: new Float32Array(0),
      },
      vector,
      batchSize: 1,
      inferenceUs: 100,
    });
  };
  const dropped = async (reason: string): Promise<number> =>
    (await registry.getSingleMetric('mujo_pipeline_dropped_total')!.get()).values.find(
      (v) => v.labels['reason'] === reason,
    )?.value ?? 0;
  return { vt, input, out, end, send, dropped };
}

function assertScores(
  s: SubjectScores | undefined,
  want: { endNs: number; modalities: Modality[]; sources: string[]; vectors: Float32Array[] },
): void {
  assert.ok(s, 'scores emitted');
  assert.equal(s.endNs, want.endNs);
  assert.deepEqual(s.modalities, want.modalities);
  assert.deepEqual(s.sources, want.sources);
  const exp = expected(...want.vectors);
  s.probabilities.forEach((p, i) => assert.ok(Math.abs(p - exp[i]!) < 1e-6, `class ${i}: ${p} vs ${exp[i]}`));
}

describe('fuseSubjects', () => {
  it('classifies IMU-only and pose-only subjects from their single window', () => {
    const { out, end, send } = setup();
    send('s1', 'wrist', 'imu', 0, A);
    send('s2', 'cam/7', 'pose', 0, B);
    assertScores(out[0], { endNs: end(0), modalities: ['imu'], sources: ['wrist'], vectors: [A] });
    assertScores(out[1], { endNs: end(0), modalities: ['pose'], sources: ['cam/7'], vectors: [B] });
    assert.equal(out[0]!.subjectId, 's1');
    assert.equal(out[1]!.subjectId, 's2');
  });

  it('waits for every active source of a subject and fuses IMU + pose by mean logits', async () => {
    const { vt, out, end, send } = setup();
    send('s1', 'wrist', 'imu', 0, A);
    send('s1', 'cam/1', 'pose', 0, B); // a source's first window may trail its slot
    out.length = 0;
    await vt.advanceBy(500);
    send('s1', 'wrist', 'imu', 1, A);
    assert.equal(out.length, 0, 'pose is active, so the slot waits for it');
    await vt.advanceBy(40);
    send('s1', 'cam/1', 'pose', 1, B);
    assertScores(out[0], {
      endNs: end(1),
      modalities: ['imu', 'pose'],
      sources: ['cam/1', 'wrist'],
      vectors: [A, B],
    });
    assert.equal(out[0]!.latencyMs, 0, 'latency counts from the latest window close');
  });

  it('counts two IMUs as two windows', async () => {
    const { vt, out, end, send } = setup();
    for (let k = 0; k < 3; k++) {
      send('s1', 'wrist', 'imu', k, A);
      send('s1', 'thigh', 'imu', k, C);
      await vt.advanceBy(500);
    }
    assertScores(out.at(-1), {
      endNs: end(2),
      modalities: ['imu'],
      sources: ['thigh', 'wrist'],
      vectors: [A, C],
    });
    assert.equal(
      out.length,
      3,
      'slot 0 went out with the first IMU alone (the second was late), then one decision per slot',
    );
  });

  it('drops a source that goes silent within one window and takes it back when it returns', async () => {
    const { vt, out, end, send, dropped } = setup();
    const at = (k: number): number => end(k) / 1e6 + 60; // windows close shortly after their end
    for (let k = 0; k < 4; k++) {
      await vt.advanceTo(at(k));
      send('s1', 'wrist', 'imu', k, A);
      send('s1', 'cam/1', 'pose', k, B);
    }
    assert.deepEqual(
      out.map((s) => s.modalities.join('+')),
      ['imu', 'imu+pose', 'imu+pose', 'imu+pose'],
    );
    const lateAtStart = await dropped('slot-already-fused');
    assert.equal(lateAtStart, 1, "the camera's very first window trailed slot 0");
    // The camera loses the person after slot 3.
    await vt.advanceTo(at(4));
    send('s1', 'wrist', 'imu', 4, A);
    assert.equal(out.length, 4, 'slot 4 waits for the camera…');
    await vt.advanceTo(at(4) + 499);
    assert.equal(out.length, 4);
    await vt.advanceTo(at(4) + 500);
    assertScores(out[4], { endNs: end(4), modalities: ['imu'], sources: ['wrist'], vectors: [A] });
    assert.ok(Math.abs(out[4]!.latencyMs - 500) < 1e-6, '…for at most one hop');
    for (let k = 5; k < 8; k++) {
      await vt.advanceTo(at(k));
      send('s1', 'wrist', 'imu', k, A);
      assertScores(out.at(-1), { endNs: end(k), modalities: ['imu'], sources: ['wrist'], vectors: [A] });
      assert.equal(out.at(-1)!.latencyMs, 0, 'a silent source is no longer waited for');
    }
    // The person is back in view: from its second window on the camera is fused again.
    await vt.advanceTo(at(8));
    send('s1', 'wrist', 'imu', 8, A);
    send('s1', 'cam/1', 'pose', 8, B);
    assert.equal(
      await dropped('slot-already-fused'),
      lateAtStart + 1,
      'its first window trailed a slot already decided: counted',
    );
    await vt.advanceTo(at(9));
    send('s1', 'wrist', 'imu', 9, A);
    send('s1', 'cam/1', 'pose', 9, B);
    assertScores(out.at(-1), {
      endNs: end(9),
      modalities: ['imu', 'pose'],
      sources: ['cam/1', 'wrist'],
      vectors: [A, B],
    });
    assert.deepEqual(
      out.map((s) => s.endNs),
      Array.from({ length: 10 }, (_, k) => end(k)),
      'one decision per slot, in time order',
    );
  });

  it('decides slots in time order even when a later slot completes first', async () => {
    const { vt, out, end, send } = setup();
    send('s1', 'wrist', 'imu', 0, A);
    send('s1', 'cam/1', 'pose', 0, B);
    out.length = 0;
    await vt.advanceBy(500);
    send('s1', 'wrist', 'imu', 1, A); // waits for pose 1
    send('s1', 'wrist', 'imu', 2, A); // waits for pose 2, behind slot 1
    assert.equal(out.length, 0);
    send('s1', 'cam/1', 'pose', 2, B); // pose skipped slot 1 (a gap in the camera)
    assert.deepEqual(
      out.map((s) => [s.endNs, s.modalities.join('+')]),
      [
        [end(1), 'imu'],
        [end(2), 'imu+pose'],
      ],
    );
  });

  it('on completion decides every open slot', () => {
    const { input, out, send } = setup();
    send('s1', 'wrist', 'imu', 0, A);
    send('s1', 'cam/1', 'pose', 0, B);
    send('s1', 'wrist', 'imu', 1, A);
    assert.equal(out.length, 1, 'slot 1 waits for the camera');
    input.complete();
    assert.equal(out.length, 2);
  });
});
