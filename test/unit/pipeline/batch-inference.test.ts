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
    .subscribe({ next: (e) => out.push(e), complete: () => (completed = true) });
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
  return { vt, encoder, input, out, window, counter, isCompleted: () => completed };
}

describe('batchInference', () => {
  it('runs full batches at once and the remainder after the bounded wait', async () => {
    const { vt, encoder, input, out, window } = setup({ maxBatch: 4, maxWaitMs: 20, maxInFlight: 4 });
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
      { maxBatch: 4, maxWaitMs: 5, maxInFlight: 1, queueCapacity: 8 },
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
      { maxBatch: 8, maxWaitMs: 1000, maxInFlight: 1 },
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
    const { vt, encoder, input, out, window, counter } = setup({ maxBatch: 2, maxWaitMs: 10 });
    encoder.failNext = 1;
    for (let i = 0; i < 4; i++) input.next(window());
    await vt.advanceBy(0);
    assert.equal(out.length, 2);
    assert.equal(await counter('mujo_pipeline_inference_errors_total', { code: 'FAKE_FAILURE' }), 1);
    assert.equal(await counter('mujo_pipeline_dropped_total', { reason: 'inference-error' }), 2);
  });
});
