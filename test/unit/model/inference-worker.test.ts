/**
 * The encoders' sessions in the inference worker thread (model.inferenceThread 'worker')
 * against the same sessions on the main thread, with real onnxruntime and real models.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { loadModel, type OrtLoadedModel } from '../../../gateway/model/load-model.ts';
import { InferenceThread, type InferenceThreadOptions } from '../../../gateway/model/inference-thread.ts';
import { checkParity, readTestVectors } from '../../../gateway/model/test-vectors.ts';
import { GatewayError } from '../../../gateway/observability/errors.ts';
import { HealthRegistry } from '../../../gateway/observability/health.ts';
import { VirtualTimers } from '../../fakes/virtual-timers.ts';
import { pino } from 'pino';
import { silentLogger, type Logger } from '../../../gateway/observability/logger.ts';
import { TINY_MODEL } from './tiny-model.ts';

const DEFAULT_MODEL = fileURLToPath(new URL('../../../models/default', import.meta.url));
const cpu = { providers: ['cpu'] as const, logger: silentLogger(), intraOpThreads: 1 };

const threads: InferenceThread[] = [];
function thread(options: Partial<InferenceThreadOptions> = {}) {
  const t = new InferenceThread({ ...options, logger: options.logger ?? silentLogger() });
  threads.push(t);
  return t;
}
after(() => Promise.all(threads.map((t) => t.stop())));

/** A real pino logger whose JSON lines land in `lines`. */
function recordingLogger(lines: Record<string, unknown>[]): Logger {
  return pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
}

/** A deterministic batch of `n` inputs, values of the magnitude of normalised IMU/pose. */
function batchOf(n: number, inputSize: number, seed = 0): Float32Array {
  return Float32Array.from({ length: n * inputSize }, (_, i) => Math.sin((i + seed) * 0.37) * 1.5);
}

async function withModels<T>(
  dir: string,
  body: (main: OrtLoadedModel, worker: OrtLoadedModel) => Promise<T>,
) {
  const main = await loadModel(dir, cpu);
  const worker = await loadModel(dir, { ...cpu, thread: thread() });
  try {
    return await body(main, worker);
  } finally {
    await Promise.all([main.close(), worker.close()]);
  }
}

for (const [label, dir] of [
  ['models/default', DEFAULT_MODEL],
  ['test/fixtures/tiny-model', TINY_MODEL],
] as const) {
  test(`${label}: the worker's embeddings are bit-identical to the main thread's for the same batch`, async () => {
    // Same onnxruntime build, same session options (one intra-op thread, sequential), same
    // CPU kernels on the same bytes: nothing may differ, so equality is exact, not a tolerance.
    await withModels(dir, async (main, worker) => {
      for (const encoder of main.encoders) {
        // Large first: later, smaller batches travel in the larger buffers the worker handed back.
        for (const n of [32, 1, 7, 32]) {
          const batch = batchOf(n, encoder.inputSize, n);
          const before = batch.slice();
          const expected = await encoder.run(batch, n);
          const actual = await worker.encoder(encoder.name)!.run(batch, n);
          assert.equal(actual.length, n * encoder.embeddingDim);
          assert.deepEqual(actual, expected, `${encoder.name} batch ${n}`);
          // The caller's buffer is copied for the worker, never detached or changed.
          assert.equal(batch.length, n * encoder.inputSize);
          assert.deepEqual(batch, before);
        }
      }
    });
  });
}

test("models/default: the trainer's test vectors pass through the worker (PyTorch parity)", async () => {
  const model = await loadModel(DEFAULT_MODEL, { ...cpu, thread: thread() });
  try {
    const report = await checkParity(model, await readTestVectors(model));
    assert.ok(report.ok, JSON.stringify(report));
    assert.ok(report.encoders.length >= 2);
  } finally {
    await model.close();
  }
});

test('a batch buffer reused for the next batch while a run is in flight does not change that run', async () => {
  await withModels(TINY_MODEL, async (main, worker) => {
    const imu = worker.encoder('imu')!;
    const buffer = batchOf(4, imu.inputSize);
    const expected = await main.encoder('imu')!.run(buffer.slice(), 4);
    const pending = imu.run(buffer, 4);
    buffer.fill(0); // what batch-inference does when it fills the buffer with the next batch
    assert.deepEqual(await pending, expected);
  });
});

test('close waits for runs in flight in the worker, then runs fail with MODEL_CLOSED', async () => {
  const model = await loadModel(DEFAULT_MODEL, { ...cpu, thread: thread() });
  const imu = model.encoder('imu')!;
  const runs = [1, 2, 3].map((i) => imu.run(batchOf(32, imu.inputSize, i), 32));
  const closing = model.close();
  for (const out of await Promise.all(runs)) assert.equal(out.length, 32 * imu.embeddingDim);
  await closing;
  await assert.rejects(imu.run(batchOf(1, imu.inputSize), 1), { code: 'MODEL_CLOSED' });
});

test('a worker that is terminated is counted and logged as an exit, and the next run starts a new one', async () => {
  // Terminated while idle: a worker terminated while onnxruntime runs natively in it takes the
  // whole process down (the binding throws into a torn-down environment: "terminate called
  // after throwing an instance of 'Napi::Error'"), which is why stop() waits for the runs in
  // flight. Runs failed by an exit are proved by the crash test below.
  const metrics = new Registry();
  const lines: Record<string, unknown>[] = [];
  const logger = recordingLogger(lines);
  const t = thread({ metrics, logger });
  const main = await loadModel(DEFAULT_MODEL, cpu);
  const model = await loadModel(DEFAULT_MODEL, { ...cpu, thread: t });
  try {
    const imu = model.encoder('imu')!;
    const pose = model.encoder('pose')!;
    await imu.run(batchOf(2, imu.inputSize), 2);
    const firstThread = t.threadId;
    assert.ok(firstThread !== undefined);
    await t.terminate();
    assert.equal(await total(metrics, 'mujo_inference_worker_exits_total', { reason: 'exit' }), 1);
    const logged = lines.find((l) => l['code'] === 'MODEL_WORKER_EXITED');
    assert.ok(logged, 'the exit is logged with its code');
    assert.equal(logged['inFlight'], 0);

    // Next runs start a new worker, open both sessions again, and compute the same thing.
    for (const encoder of [imu, pose]) {
      const batch = batchOf(5, encoder.inputSize, 3);
      assert.deepEqual(await encoder.run(batch, 5), await main.encoder(encoder.name)!.run(batch, 5));
    }
    assert.notEqual(t.threadId, firstThread);
    assert.ok(lines.some((l) => /started again/.test(String(l['msg']))));
  } finally {
    await Promise.all([main.close(), model.close()]);
  }
});

test('provider refusals in the worker are logged by the main logger and reported on the encoder', async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = recordingLogger(lines);
  const model = await loadModel(TINY_MODEL, {
    providers: ['dml', 'cpu'],
    logger,
    thread: thread({ logger }),
  });
  try {
    for (const encoder of model.encoders) {
      assert.equal(encoder.provider, 'cpu');
      assert.deepEqual(
        encoder.providerFailures.map((f) => f.provider),
        ['dml'],
      );
    }
    assert.ok(
      lines.some((l) => l['provider'] === 'dml' && /provider dml failed, trying cpu/.test(String(l['msg']))),
      JSON.stringify(lines),
    );
  } finally {
    await model.close();
  }
});

test('a gateway started with V8 flags (--expose-gc, --max-old-space-size) still starts its inference worker', async () => {
  // Flags a worker refuses when given explicitly; the worker inherits what it may take.
  const repo = fileURLToPath(new URL('../../..', import.meta.url));
  const script = `
    import { loadModel } from './gateway/model/load-model.ts';
    import { InferenceThread } from './gateway/model/inference-thread.ts';
    import { silentLogger } from './gateway/observability/logger.ts';
    const thread = new InferenceThread({ logger: silentLogger() });
    const model = await loadModel('test/fixtures/tiny-model', { providers: ['cpu'], logger: silentLogger(), thread });
    const imu = model.encoder('imu');
    const out = await imu.run(new Float32Array(imu.inputSize), 1);
    console.log(JSON.stringify({ values: out.length, inWorker: thread.threadId !== undefined }));
    await model.close();`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', '--max-old-space-size=256', '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: repo },
  );
  assert.deepEqual(JSON.parse(stdout), { values: 8, inWorker: true });
});

const ENTRIES = new URL('./worker-entries/', import.meta.url);

async function total(metrics: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await metrics.getSingleMetric(name)!.get();
  return metric.values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((s, v) => s + v.value, 0);
}

for (const [label, entry, reason, exitReason] of [
  [
    'an entry that throws at load',
    new URL('throws-at-load.ts', ENTRIES),
    /onnxruntime binding failed to load/,
    'error',
  ],
  ['a missing entry file', new URL('no-such-worker.ts', ENTRIES), /no-such-worker/, 'ERR_MODULE_NOT_FOUND'],
] as const) {
  test(`${label}: restarts back off from 1 s to 60 s; runs in between fail at once with MODEL_WORKER_UNAVAILABLE, counted, the reason in /health`, async () => {
    const timers = new VirtualTimers();
    const metrics = new Registry();
    const health = new HealthRegistry();
    const t = thread({ metrics, health, timers, entry });
    const load = () => loadModel(TINY_MODEL, { ...cpu, thread: t });
    assert.equal(health.get('inferenceWorker')?.status, 'up');

    // The first exit restarts at once (a worker that crashed once may well work again).
    await assert.rejects(load(), { code: 'MODEL_WORKER_EXITED', message: reason });
    assert.equal(health.get('inferenceWorker')?.status, 'degraded');
    await assert.rejects(load(), { code: 'MODEL_WORKER_EXITED', message: reason });
    let exits = 2;
    let refused = 0;
    for (const delay of [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]) {
      const report = health.get('inferenceWorker')!;
      assert.equal(report.status, 'down');
      assert.match(report.error!.message, reason);
      assert.equal(report.details?.['retryInMs'], delay);
      assert.equal(report.details?.['failuresInARow'], exits);
      // No worker is started while the restart waits: the run fails without one.
      await assert.rejects(load(), (err: unknown) => {
        assert.ok(err instanceof GatewayError);
        assert.equal(err.code, 'MODEL_WORKER_UNAVAILABLE');
        assert.match(err.message, reason);
        assert.equal(err.details?.['retryInMs'], delay);
        return true;
      });
      assert.equal(t.threadId, undefined);
      await timers.advance(delay - 1);
      await assert.rejects(load(), { code: 'MODEL_WORKER_UNAVAILABLE' });
      refused += 2;
      await timers.advance(1);
      await assert.rejects(load(), { code: 'MODEL_WORKER_EXITED', message: reason });
      exits++;
    }
    assert.equal(await total(metrics, 'mujo_inference_worker_exits_total', { reason: exitReason }), exits);
    assert.equal(await total(metrics, 'mujo_inference_worker_unavailable_total'), refused);
    // Nothing armed: the backoff is a time to compare with, not a timer left behind.
    assert.equal(timers.pending, 0);
  });
}

test("an uncaught exception in the worker ('error') fails its runs with the reason; repeated crashes back off, one run answered resets", async () => {
  const timers = new VirtualTimers();
  const metrics = new Registry();
  const health = new HealthRegistry();
  const lines: Record<string, unknown>[] = [];
  const logger = recordingLogger(lines);
  const t = thread({ metrics, health, timers, logger, entry: new URL('crashes-on-batch-13.ts', ENTRIES) });
  const main = await loadModel(TINY_MODEL, cpu);
  const model = await loadModel(TINY_MODEL, { ...cpu, thread: t });
  const crash = /kernel crashed on a batch of 13/;
  try {
    const imu = model.encoder('imu')!;
    const good = batchOf(3, imu.inputSize);
    const expected = await main.encoder('imu')!.run(good, 3);
    assert.deepEqual(await imu.run(good, 3), expected);

    const poison = batchOf(13, imu.inputSize);
    // The poison batch first: the worker dies on it, before it answers those queued behind.
    const pose = model.encoder('pose')!;
    const inFlight = [imu.run(poison, 13), imu.run(good, 3), pose.run(batchOf(2, pose.inputSize), 2)];
    for (const run of inFlight) {
      await assert.rejects(run, (err: unknown) => {
        assert.ok(err instanceof GatewayError);
        assert.equal(err.code, 'MODEL_WORKER_EXITED');
        assert.match(err.message, /inference worker exited/);
        assert.match(err.message, crash);
        assert.equal(err.details?.['exitCode'], 1);
        return true;
      });
    }
    const logged = lines.find((l) => l['code'] === 'MODEL_WORKER_EXITED');
    assert.match(String(logged?.['reason']), crash);
    assert.equal(logged?.['inFlight'], 3);
    assert.equal(await total(metrics, 'mujo_inference_worker_exits_total', { reason: 'error' }), 1);

    // Second crash in a row (a new worker, the session opened again, the same batch): backoff.
    await assert.rejects(imu.run(poison, 13), { code: 'MODEL_WORKER_EXITED', message: crash });
    await assert.rejects(imu.run(good, 3), { code: 'MODEL_WORKER_UNAVAILABLE', message: crash });
    assert.equal(health.get('inferenceWorker')?.status, 'down');
    await timers.advance(1_000);
    await assert.rejects(imu.run(poison, 13), { code: 'MODEL_WORKER_EXITED' });
    await timers.advance(1_999);
    await assert.rejects(imu.run(good, 3), { code: 'MODEL_WORKER_UNAVAILABLE' });
    await timers.advance(1);
    // A run answered: healthy again, the backoff is reset.
    assert.deepEqual(await imu.run(good, 3), expected);
    assert.equal(health.get('inferenceWorker')?.status, 'up');
    assert.equal(health.get('inferenceWorker')?.error, undefined);
    assert.ok(lines.some((l) => /restart backoff reset/.test(String(l['msg']))));

    // So the next crash restarts at once, as the first one did.
    await assert.rejects(imu.run(poison, 13), { code: 'MODEL_WORKER_EXITED' });
    assert.deepEqual(await imu.run(good, 3), expected);
    assert.equal(await total(metrics, 'mujo_inference_worker_exits_total', { reason: 'error' }), 4);
    assert.equal(await total(metrics, 'mujo_inference_worker_unavailable_total'), 2);
  } finally {
    await Promise.all([main.close(), model.close()]);
  }
});
