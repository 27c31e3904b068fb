import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Subject, timer, firstValueFrom } from 'rxjs';
import { Registry } from 'prom-client';
import type { SensorWindow, WindowEmbedding } from '../../../gateway/domain/windows.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { batchInference, type BatchOptions } from '../../../gateway/pipeline/inference/batch-inference.ts';
import { pipelineMetrics } from '../../../gateway/pipeline/metrics.ts';
import { FakeEncoder } from './helpers/fakes.ts';
import { VirtualTime } from './helpers/virtual-time.ts';

function setup(options: BatchOptions, delayMs?: number) {
  const vt = new VirtualTime();
  const registry = new Registry();
  const metrics = pipelineMetrics(registry);
  const encoder = new FakeEncoder({
    name: 'imu',
    modality: 'imu',
    sampleRateHz: 50,
    windowSamples: 10,
    hopSamples: 5,
    embeddingDim: 8,
    ...(delayMs === undefined
      ? {}
      : { delay: () => firstValueFrom(timer(delayMs, vt.scheduler)).then(() => undefined) }),
  });
  const input = new Subject<SensorWindow>();
  const out: WindowEmbedding[] = [];
  /** Virtual time (ns) at which each embedding came out, same order as `out`. */
  const outAtNs: number[] = [];
  let completed = false;
  input
    .pipe(
      batchInference([encoder], options, {
        clock: vt.clock,
        scheduler: vt.scheduler,
        metrics,
        logger: silentLogger(),
      }),
    )
    .subscribe({
      next: (e) => {
        out.push(e);
        outAtNs.push(vt.nowNs);
      },
      complete: () => (completed = true),
    });
  let n = 0;
  const window = (subjectId = `s${n % 7}`): SensorWindow => {
    const i = n++;
    const input = Float32Array.from({ length: 60 }, (_, j) => Math.sin(i * 0.1 + j));
    return {
      subjectId,
      sourceId: `w${i}`,
      modality: 'imu',
      encoder: 'imu',
      startNs: 0,
      endNs: i,
      closedAtNs: vt.nowNs,
      input,
    };
  };
  /** Sum of a metric's series matching `labels` (for histograms: of the `series` sample, e.g. `_count`). */
  const counter = async (
    name: string,
    labels: Record<string, string> = {},
    series?: string,
  ): Promise<number> => {
    const m = await registry.getSingleMetric(name)!.get();
    return m.values
      .filter(
        (v) =>
          (series === undefined || (v as { metricName?: string }).metricName === series) &&
          Object.entries(labels).every(([k, val]) => v.labels[k] === val),
      )
      .reduce((s, v) => s + v.value, 0);
  };
  return { vt, encoder, input, out, outAtNs, window, counter, isCompleted: () => completed };
}

describe('batchInference, mode fixed', () => {
  it('runs full batches at once and the remainder after the bounded wait', async () => {
    const { vt, encoder, input, out, window } = setup({
      mode: 'fixed',
      maxBatch: 4,
      maxWaitMs: 20,
      maxInFlight: 4,
    });
    for (let i = 0; i < 10; i++) input.next(window());
    await vt.advanceBy(0);
    assert.deepEqual(encoder.batches, [4, 4]);
    assert.equal(out.length, 8);
    await vt.advanceBy(19);
    assert.equal(out.length, 8, 'the last two wait for company…');
    await vt.advanceBy(1);
    assert.deepEqual(encoder.batches, [4, 4, 2], '…but no longer than maxWaitMs');
    assert.equal(out.length, 10);
    // Each embedding belongs to its own window: the fake is a deterministic function of the input.
    for (const e of out) {
      assert.deepEqual(Array.from(e.vector), Array.from(encoder.embed(e.window.input)));
    }
    assert.deepEqual(
      out.map((e) => e.batchSize),
      [4, 4, 4, 4, 4, 4, 4, 4, 2, 2],
    );
  });

  it('keeps at most maxInFlight batches running and drops (and counts) the oldest when the queue is full', async () => {
    const { vt, encoder, input, out, window, counter } = setup(
      { mode: 'fixed', maxBatch: 4, maxWaitMs: 5, maxInFlight: 1, queueCapacity: 8 },
      100,
    );
    const sent: SensorWindow[] = [];
    for (let i = 0; i < 30; i++) {
      const w = window();
      sent.push(w);
      input.next(w);
    }
    // First batch of 4 started at once; 26 arrived while it ran, the queue kept the newest 8.
    assert.deepEqual(encoder.batches, [4]);
    assert.equal(
      await counter('mujo_pipeline_dropped_total', { policy: 'drop-oldest', edge: 'inference_queue:imu' }),
      18,
    );
    assert.equal(await counter('mujo_pipeline_queue_depth', { edge: 'inference_queue:imu' }), 8);
    await vt.advanceBy(100);
    assert.deepEqual(encoder.batches, [4, 4], 'the next batch only starts when the first resolved');
    await vt.advanceBy(200);
    assert.deepEqual(encoder.batches, [4, 4, 4]);
    assert.equal(out.length, 12);
    assert.deepEqual(
      out.map((e) => e.window),
      [...sent.slice(0, 4), ...sent.slice(22)],
      'the survivors are the first batch and the newest 8',
    );
    assert.equal(await counter('mujo_pipeline_queue_depth', { edge: 'inference_queue:imu' }), 0);
    assert.equal(await counter('mujo_pipeline_batch_size', {}, 'mujo_pipeline_batch_size_count'), 3);
  });

  it('on completion runs what is queued without waiting, then completes after the last batch', async () => {
    const { vt, encoder, input, out, window, isCompleted } = setup(
      { mode: 'fixed', maxBatch: 8, maxWaitMs: 1000, maxInFlight: 1 },
      50,
    );
    for (let i = 0; i < 11; i++) input.next(window());
    input.complete();
    await vt.advanceBy(0);
    assert.deepEqual(encoder.batches, [8]);
    assert.equal(isCompleted(), false);
    await vt.advanceBy(50);
    assert.deepEqual(encoder.batches, [8, 3]);
    assert.equal(isCompleted(), false, 'waits for the batch in flight');
    await vt.advanceBy(50);
    assert.equal(out.length, 11);
    assert.equal(isCompleted(), true);
  });

  it('counts a failing batch and goes on with the next', async () => {
    const { vt, encoder, input, out, window, counter } = setup({ mode: 'fixed', maxBatch: 2, maxWaitMs: 10 });
    encoder.failNext = 1;
    for (let i = 0; i < 4; i++) input.next(window());
    await vt.advanceBy(0);
    assert.equal(out.length, 2);
    assert.equal(await counter('mujo_pipeline_inference_errors_total', { code: 'FAKE_FAILURE' }), 1);
    assert.equal(await counter('mujo_pipeline_dropped_total', { reason: 'inference-error' }), 2);
  });
});

describe('batchInference, mode adaptive', () => {
  it('an idle encoder runs a lone window at once: a batch of 1, no waiting', async () => {
    const { vt, encoder, input, out, outAtNs, window } = setup(
      { mode: 'adaptive', maxBatch: 32, maxWaitMs: 5 },
      2,
    );
    const w = window();
    input.next(w);
    assert.deepEqual(encoder.batches, [1], 'launched on arrival, before any time passes');
    await vt.advanceBy(2);
    assert.equal(out.length, 1);
    // Epoch ns are float64 (256 ns steps): compared in whole µs.
    assert.equal(
      Math.round((outAtNs[0]! - w.closedAtNs) / 1e3),
      2000,
      'waited only for its own run (2 ms), not maxWaitMs',
    );
  });

  it('at low load every window runs alone and waits for nobody; fixed waits maxWaitMs for each', async () => {
    for (const mode of ['adaptive', 'fixed'] as const) {
      const { vt, encoder, input, out, outAtNs, window } = setup({ mode, maxBatch: 32, maxWaitMs: 5 }, 2);
      for (let i = 0; i < 5; i++) {
        input.next(window());
        await vt.advanceBy(50);
      }
      const latenciesMs = out.map((e, i) => Math.round((outAtNs[i]! - e.window.closedAtNs) / 1e3) / 1e3);
      assert.deepEqual(encoder.batches, [1, 1, 1, 1, 1], mode);
      assert.deepEqual(latenciesMs, mode === 'adaptive' ? [2, 2, 2, 2, 2] : [7, 7, 7, 7, 7], mode);
    }
  });

  it('while a batch runs, windows accumulate and the next batch takes all of them when it resolves', async () => {
    const { vt, encoder, input, out, window } = setup({ mode: 'adaptive', maxBatch: 32, maxInFlight: 2 }, 10);
    input.next(window());
    assert.deepEqual(encoder.batches, [1]);
    for (let i = 0; i < 5; i++) {
      await vt.advanceBy(1);
      input.next(window());
    }
    assert.deepEqual(encoder.batches, [1], 'a free slot is not used for a part batch while busy');
    await vt.advanceTo(vt.nowMs + 5);
    assert.deepEqual(encoder.batches, [1, 5], 'launched as the first resolved, with everything waiting');
    assert.equal(out.length, 1);
    await vt.advanceBy(10);
    assert.equal(out.length, 6);
    assert.deepEqual(
      out.map((e) => e.batchSize),
      [1, 5, 5, 5, 5, 5],
    );
    for (const e of out) assert.deepEqual(Array.from(e.vector), Array.from(encoder.embed(e.window.input)));
  });

  it('a full batch waiting while busy runs in the free slot at once; the rest waits for a slot', async () => {
    const { vt, encoder, input, window } = setup({ mode: 'adaptive', maxBatch: 4, maxInFlight: 2 }, 10);
    input.next(window());
    for (let i = 0; i < 7; i++) input.next(window());
    assert.deepEqual(encoder.batches, [1, 4], 'the 4th waiting window filled a batch: second slot used');
    await vt.advanceBy(10);
    assert.deepEqual(encoder.batches, [1, 4, 3]);
  });

  it('keeps the bounded queue: windows beyond capacity while busy drop the oldest, counted', async () => {
    const { vt, encoder, input, out, window, counter } = setup(
      { mode: 'adaptive', maxBatch: 4, maxInFlight: 1, queueCapacity: 8 },
      100,
    );
    const sent: SensorWindow[] = [];
    for (let i = 0; i < 30; i++) {
      const w = window();
      sent.push(w);
      input.next(w);
    }
    assert.deepEqual(encoder.batches, [1], 'the first ran alone; 29 arrived while it ran');
    assert.equal(
      await counter('mujo_pipeline_dropped_total', { policy: 'drop-oldest', edge: 'inference_queue:imu' }),
      21,
    );
    await vt.advanceBy(300);
    assert.deepEqual(encoder.batches, [1, 4, 4]);
    assert.deepEqual(
      out.map((e) => e.window),
      [sent[0], ...sent.slice(22)],
    );
  });

  it('on completion runs what is queued at once and completes after the last batch', async () => {
    const { vt, encoder, input, out, window, isCompleted } = setup(
      { mode: 'adaptive', maxBatch: 8, maxInFlight: 2 },
      50,
    );
    input.next(window());
    for (let i = 0; i < 3; i++) input.next(window());
    assert.deepEqual(encoder.batches, [1]);
    input.complete();
    assert.deepEqual(encoder.batches, [1, 3], 'no more input: the part batch runs in the free slot');
    await vt.advanceBy(50);
    assert.equal(out.length, 4);
    assert.equal(isCompleted(), true);
  });
});
