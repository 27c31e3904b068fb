import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelManager } from '../../../gateway/model/model-manager.ts';
import type { OrtLoadedModel } from '../../../gateway/model/load-model.ts';
import { HealthRegistry } from '../../../gateway/observability/health.ts';
import { createMetricsRegistry } from '../../../gateway/observability/metrics.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { copyTinyModel, type ModelCopy } from './tiny-model.ts';

const copies: ModelCopy[] = [];
async function copy(version?: string): Promise<ModelCopy> {
  const c = await copyTinyModel();
  copies.push(c);
  if (version) await c.editManifest((m) => (m['version'] = version));
  return c;
}
after(() => Promise.all(copies.map((c) => c.remove())));

function manager(dir: string, inferenceThread: 'worker' | 'main' = 'worker') {
  const health = new HealthRegistry();
  const metrics = createMetricsRegistry({ defaultMetrics: false });
  const models = new ModelManager({
    dir,
    providers: ['cpu'],
    intraOpThreads: 1,
    inferenceThread,
    logger: silentLogger(),
    health,
    metrics,
  });
  return { models, health, metrics };
}

async function imuInput(model: OrtLoadedModel): Promise<Float32Array> {
  const vectors = JSON.parse(await readFile(join(model.dir, 'test-vectors.json'), 'utf8')) as {
    encoders: Record<string, { input: number[] }>;
  };
  return Float32Array.from(vectors.encoders['imu']!.input);
}

// Hot reload and rollback behave the same with the sessions in the inference worker (default)
// and on the main thread.
for (const where of ['worker', 'main'] as const) {
  describe(`sessions on the ${where} thread`, () => {
    test('start loads the configured model and reports it in /health', async () => {
      const good = await copy('1.0.0');
      const { models, health } = manager(good.dir, where);
      const model = await models.start();
      assert.equal(models.current, model);
      const h = health.get('model')!;
      assert.equal(h.status, 'up');
      assert.equal(h.details?.['version'], '1.0.0');
      assert.deepEqual(
        (h.details?.['encoders'] as { name: string; provider: string }[]).map(
          (e) => `${e.name}:${e.provider}`,
        ),
        ['imu:cpu', 'pose:cpu'],
      );
      await models.close();
      assert.equal(health.get('model')!.status, 'stopped');
    });

    test('start with a broken model throws the coded error and marks the model down', async () => {
      const broken = await copy();
      await broken.editManifest((m) => (m['prototypes'].sha256 = '0'.repeat(64)));
      const { models, health } = manager(broken.dir, where);
      await assert.rejects(models.start(), { code: 'MODEL_HASH_MISMATCH' });
      assert.equal(models.current, undefined);
      assert.throws(() => models.requireCurrent(), { code: 'MODEL_NOT_LOADED' });
      assert.equal(health.get('model')!.status, 'down');
      assert.equal(health.get('model')!.error?.code, 'MODEL_HASH_MISMATCH');
      await models.close();
    });

    test('a failed reload keeps the old model serving, returns the coded error, health degraded', async () => {
      const good = await copy('1.0.0');
      const broken = await copy('2.0.0');
      await broken.replaceFile('imu.onnx', Buffer.from('garbage'));
      const { models, health, metrics } = manager(good.dir, where);
      const old = await models.start();
      const result = await models.reload(broken.dir);
      assert.equal(result.ok, false);
      assert.ok(!result.ok);
      assert.equal(result.error.code, 'MODEL_ONNX_INVALID');
      assert.equal(result.model, old);
      assert.equal(models.current, old);
      const out = await old.encoder('imu')!.run(await imuInput(old), 4);
      assert.equal(out.length, 4 * 8, 'the old sessions still run');
      const h = health.get('model')!;
      assert.equal(h.status, 'degraded');
      assert.equal(h.error?.code, 'MODEL_ONNX_INVALID');
      assert.equal(h.details?.['version'], '1.0.0');
      const text = await metrics.metrics();
      assert.match(text, /mujo_model_loads_total\{result="ok"\} 1/);
      assert.match(text, /mujo_model_loads_total\{result="MODEL_ONNX_INVALID"\} 1/);
      await models.close();
    });

    test('a successful reload swaps, notifies, and closes the old sessions after their in-flight run', async () => {
      const v1 = await copy('1.0.0');
      const v2 = await copy('2.0.0');
      const { models, health } = manager(v1.dir, where);
      const old = await models.start();
      const swaps: string[] = [];
      models.onSwap((next, previous) => swaps.push(`${previous?.version}->${next.version}`));

      const input = await imuInput(old);
      const inFlight = old.encoder('imu')!.run(input, 4); // started before the swap
      const result = await models.reload(v2.dir);
      assert.ok(result.ok);
      assert.equal(result.model.version, '2.0.0');
      assert.deepEqual(result.previous, { name: 'tiny-fixture', version: '1.0.0' });
      assert.equal(models.current, result.model);
      assert.deepEqual(swaps, ['1.0.0->2.0.0']);
      assert.equal(health.get('model')!.details?.['version'], '2.0.0');

      assert.equal((await inFlight).length, 4 * 8, 'a batch in flight during the swap completes');
      await assert.rejects(old.encoder('imu')!.run(input, 4), { code: 'MODEL_CLOSED' });
      assert.equal((await result.model.encoder('imu')!.run(input, 4)).length, 4 * 8);
      await models.close();
    });

    test('reloads run one at a time in call order', async () => {
      const v1 = await copy('1.0.0');
      const v2 = await copy('2.0.0');
      const v3 = await copy('3.0.0');
      const { models } = manager(v1.dir, where);
      await models.start();
      const [r2, r3] = await Promise.all([models.reload(v2.dir), models.reload(v3.dir)]);
      assert.ok(r2.ok && r3.ok);
      assert.deepEqual(r3.previous, { name: 'tiny-fixture', version: '2.0.0' });
      assert.equal(models.current?.version, '3.0.0');
      await assert.rejects(r2.model.encoders[0]!.run(new Float32Array(120), 1), { code: 'MODEL_CLOSED' });
      await models.close();
      const after = await models.reload(v1.dir);
      assert.ok(!after.ok);
      assert.equal(after.error.code, 'MODEL_CLOSED');
    });
  });
}

test('a worker that died between reloads: the reload opens its sessions in a new worker, shared ones are opened again', async () => {
  const v1 = await copy('1.0.0');
  const v2 = await copy('2.0.0');
  const { models, metrics } = manager(v1.dir, 'worker');
  const first = await models.start();
  const input = await imuInput(first);
  const expected = await first.encoder('imu')!.run(input, 4);
  await models.thread!.terminate();
  // Same files: the new version shares the sessions, which the dead worker took with it.
  const shared = await models.reload(v2.dir, { shareSessions: true });
  assert.ok(shared.ok, shared.ok ? '' : shared.error.message);
  assert.deepEqual(await shared.model.encoder('imu')!.run(input, 4), expected);
  await models.thread!.terminate();
  const fresh = await models.reload(v1.dir);
  assert.ok(fresh.ok, fresh.ok ? '' : fresh.error.message);
  assert.deepEqual(await fresh.model.encoder('imu')!.run(input, 4), expected);
  const exits = await metrics.getSingleMetric('mujo_inference_worker_exits_total')!.get();
  assert.equal(
    exits.values.reduce((sum, v) => sum + v.value, 0),
    2,
  );
  await models.close();
  assert.equal(models.thread!.threadId, undefined, 'closing the manager ends the worker');
});
