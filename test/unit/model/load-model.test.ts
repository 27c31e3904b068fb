import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { loadModel, type LoadModelOptions } from '../../../gateway/model/load-model.ts';
import { InferenceThread } from '../../../gateway/model/inference-thread.ts';
import { checkParity, readTestVectors } from '../../../gateway/model/test-vectors.ts';
import { GatewayError } from '../../../gateway/observability/errors.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { copyTinyModel, TINY_MODEL, type ModelCopy } from './tiny-model.ts';

const logger = silentLogger();
const cpu = { providers: ['cpu'] as const, logger, intraOpThreads: 1 };

const copies: ModelCopy[] = [];
async function copy(): Promise<ModelCopy> {
  const c = await copyTinyModel();
  copies.push(c);
  return c;
}
after(() => Promise.all(copies.map((c) => c.remove())));

/** Asserts a coded GatewayError whose message contains every fragment. */
async function rejectsWith(promise: Promise<unknown>, code: string, fragments: readonly (string | RegExp)[]) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof GatewayError, `expected GatewayError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const f of fragments) {
      if (typeof f === 'string') assert.ok(err.message.includes(f), `message lacks "${f}":\n${err.message}`);
      else assert.match(err.message, f);
    }
    return true;
  });
}

// Whether this machine has onnxruntime's CUDA provider library (then asking for cuda works).
const ortBin = join(
  dirname(createRequire(import.meta.url).resolve('onnxruntime-node')),
  '..',
  'bin',
  'napi-v6',
  process.platform,
  process.arch,
);
const hasCuda = existsSync(join(ortBin, 'libonnxruntime_providers_cuda.so'));

// Every case runs with the sessions on this thread and in the inference worker: the worker
// must load, refuse and report exactly as the main thread does.
const worker = new InferenceThread({ logger });
after(() => worker.stop());

for (const where of ['main', 'worker'] as const) {
  describe(`sessions on the ${where} thread`, () => {
    const load = (dir: string, options: LoadModelOptions) =>
      loadModel(dir, where === 'worker' ? { ...options, thread: worker } : options);

    test('loads the tiny model: manifest facts, prototypes, one CPU session per encoder', async () => {
      const model = await load(TINY_MODEL, cpu);
      try {
        assert.equal(model.name, 'tiny-fixture');
        assert.equal(model.embeddingDim, 8);
        assert.deepEqual(
          model.classes.map((c) => c.id),
          ['rest', 'wave', 'squat'],
        );
        assert.equal(model.prototypes.length, 3 * 8);
        for (let c = 0; c < 3; c++) {
          const row = model.prototypes.subarray(c * 8, c * 8 + 8);
          assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-5, 'prototype rows are L2-normalised');
        }
        const manifestBytes = await readFile(join(TINY_MODEL, 'manifest.json'));
        assert.equal(model.manifestSha256, createHash('sha256').update(manifestBytes).digest('hex'));
        const imu = model.encoder('imu')!;
        const pose = model.encoder('pose')!;
        assert.deepEqual(
          [imu.modality, imu.provider, imu.inputSize, imu.windowSamples, imu.hopSamples],
          ['imu', 'cpu', 6 * 20, 20, 10],
        );
        assert.deepEqual(
          [pose.modality, pose.provider, pose.inputSize, pose.sampleRateHz],
          ['pose', 'cpu', 10 * 17 * 3, 15],
        );
        assert.deepEqual(imu.providerFailures, []);
      } finally {
        await model.close();
      }
    });

    test('run: batches agree with PyTorch (test vectors) and with one-window runs; rows are unit length', async () => {
      const model = await load(TINY_MODEL, cpu);
      try {
        const vectors = await readTestVectors(model);
        const report = await checkParity(model, vectors);
        assert.ok(report.ok, JSON.stringify(report));
        assert.equal(report.encoders.length, 2);
        assert.equal(report.fusion.length, 4);

        const imu = model.encoder('imu')!;
        const input = Float32Array.from(vectors.encoders['imu']!.input);
        const batch = await imu.run(input, 4);
        assert.equal(batch.length, 4 * 8);
        for (let r = 0; r < 4; r++) {
          // A row of a larger buffer (subarray with an offset) must be read from its offset.
          const single = await imu.run(input.subarray(r * imu.inputSize, (r + 1) * imu.inputSize), 1);
          for (let k = 0; k < 8; k++) assert.ok(Math.abs(single[k]! - batch[r * 8 + k]!) < 1e-6);
          assert.ok(Math.abs(Math.hypot(...batch.subarray(r * 8, r * 8 + 8)) - 1) < 1e-5);
        }
        await rejectsWith(imu.run(new Float32Array(7), 1), 'MODEL_RUN_INVALID_INPUT', [
          'got 7 values',
          '1 × 120',
        ]);
      } finally {
        await model.close();
      }
      await rejectsWith(model.encoders[0]!.run(new Float32Array(120), 1), 'MODEL_CLOSED', ['imu']);
    });

    test('a missing model directory or manifest → MODEL_FILE_MISSING naming the path', async () => {
      await rejectsWith(load('/nonexistent/model', cpu), 'MODEL_FILE_MISSING', [
        '/nonexistent/model/manifest.json',
      ]);
    });

    test('a missing referenced file → MODEL_FILE_MISSING naming the file and its manifest key', async () => {
      const m = await copy();
      await rm(join(m.dir, 'imu.onnx'));
      await rm(join(m.dir, 'prototypes.f32'));
      await rejectsWith(load(m.dir, cpu), 'MODEL_FILE_MISSING', [
        join(m.dir, 'imu.onnx'),
        '$.encoders[0].file',
        join(m.dir, 'prototypes.f32'),
        '$.prototypes.file',
      ]);
    });

    test('manifest that is not JSON → MODEL_MANIFEST_INVALID', async () => {
      const m = await copy();
      await writeFile(join(m.dir, 'manifest.json'), '{"schemaVersion": 1,');
      await rejectsWith(load(m.dir, cpu), 'MODEL_MANIFEST_INVALID', ['manifest.json is not valid JSON']);
    });

    test('manifest against its schema → MODEL_MANIFEST_INVALID naming every JSON path', async () => {
      const m = await copy();
      await m.editManifest((manifest) => {
        delete manifest['temperature'];
        manifest['encoders'][0].sha256 = 'not-a-hash';
        manifest['encoders'][1].modality = 'video';
        manifest['fusion'] = { method: 'max' };
        manifest['extra'] = true;
      });
      await rejectsWith(load(m.dir, cpu), 'MODEL_MANIFEST_INVALID', [
        '$.temperature: missing, expected a number',
        '$.encoders[0].sha256: got "not-a-hash" (string), expected a string matching ^[0-9a-f]{64}$',
        '$.encoders[1].modality: got "video" (string), expected one of "imu", "pose"',
        '$.fusion.method: got "max"',
        '$.extra: unknown key',
      ]);
    });

    test('manifest facts that disagree with each other → MODEL_MANIFEST_INVALID', async () => {
      const m = await copy();
      await m.editManifest((manifest) => {
        manifest['prototypes'].shape = [4, 8];
        manifest['encoders'][0].windowSamples = 30;
        manifest['encoders'][1].output.shape = ['batch', 16];
      });
      await rejectsWith(load(m.dir, cpu), 'MODEL_MANIFEST_INVALID', [
        '$.prototypes.shape: got [4,8], expected [3, 8]',
        '$.encoders[0].input.shape: got ["batch",6,20], expected ["batch",6,30]',
        '$.encoders[1].output.shape',
      ]);
    });

    test('a file path leaving the model directory → MODEL_MANIFEST_INVALID', async () => {
      const m = await copy();
      await m.editManifest((manifest) => {
        manifest['encoders'][0].file = '../imu.onnx';
      });
      await rejectsWith(load(m.dir, cpu), 'MODEL_MANIFEST_INVALID', [
        '$.encoders[0].file',
        'inside the model directory',
      ]);
    });

    test('changed bytes → MODEL_HASH_MISMATCH naming the file and both hashes', async () => {
      const m = await copy();
      const original = await readFile(join(m.dir, 'pose.onnx'));
      const changed = Buffer.from(original);
      changed[changed.length - 1] = changed[changed.length - 1]! ^ 0xff;
      await m.replaceFile('pose.onnx', changed, { keepHash: true });
      const expected = createHash('sha256').update(original).digest('hex');
      const actual = createHash('sha256').update(changed).digest('hex');
      await rejectsWith(load(m.dir, cpu), 'MODEL_HASH_MISMATCH', [
        join(m.dir, 'pose.onnx'),
        '$.encoders[1].sha256',
        `manifest says ${expected}`,
        `file has ${actual}`,
      ]);
    });

    test('bytes onnxruntime refuses (hash updated to match) → MODEL_ONNX_INVALID', async () => {
      const m = await copy();
      await m.replaceFile('imu.onnx', Buffer.from('this is not an onnx protobuf'));
      await rejectsWith(load(m.dir, cpu), 'MODEL_ONNX_INVALID', [
        join(m.dir, 'imu.onnx'),
        'encoder imu',
        'cpu:',
      ]);
    });

    test('prototype file size disagreeing with its shape → MODEL_MANIFEST_INVALID', async () => {
      const m = await copy();
      await m.replaceFile('prototypes.f32', new Uint8Array(3 * 8 * 4 - 4));
      await rejectsWith(load(m.dir, cpu), 'MODEL_MANIFEST_INVALID', [
        '$.prototypes.shape',
        '92 bytes, expected 96',
      ]);
    });

    test('manifest input name not in the graph → MODEL_INPUT_MISMATCH naming both', async () => {
      const m = await copy();
      await m.editManifest((manifest) => {
        manifest['encoders'][0].input.name = 'accel';
      });
      await rejectsWith(load(m.dir, cpu), 'MODEL_INPUT_MISMATCH', [
        "'accel'",
        '$.encoders[0].input.name',
        'graph inputs: imu',
      ]);
    });

    test('manifest input shape different from the graph → MODEL_INPUT_MISMATCH naming the axis', async () => {
      const m = await copy();
      await m.editManifest((manifest) => {
        manifest['encoders'][0].windowSamples = 40;
        manifest['encoders'][0].input.shape = ['batch', 6, 40];
      });
      await rejectsWith(load(m.dir, cpu), 'MODEL_INPUT_MISMATCH', [
        'axis 2 is 20, expected 40',
        '$.encoders[0].input.shape',
      ]);
    });

    test('manifest output name not in the graph → MODEL_OUTPUT_MISMATCH', async () => {
      const m = await copy();
      await m.editManifest((manifest) => {
        manifest['encoders'][1].output.name = 'features';
      });
      await rejectsWith(load(m.dir, cpu), 'MODEL_OUTPUT_MISMATCH', [
        "'features'",
        'graph outputs: embedding',
      ]);
    });

    test(
      'providers [cuda, cpu] without CUDA libraries → loads on cpu and reports why cuda failed',
      { skip: hasCuda ? 'this machine has the CUDA provider; cuda would load' : false },
      async () => {
        const model = await load(TINY_MODEL, { providers: ['cuda', 'cpu'], logger });
        try {
          for (const encoder of model.encoders) {
            assert.equal(encoder.provider, 'cpu');
            assert.equal(encoder.providerFailures.length, 1);
            assert.equal(encoder.providerFailures[0]!.provider, 'cuda');
            // Skipped before onnxruntime is asked: its libraries are not installed here.
            assert.match(
              encoder.providerFailures[0]!.message,
              /cuda not installed: no libonnxruntime_providers_cuda\.so/,
            );
          }
        } finally {
          await model.close();
        }
      },
    );

    test(
      'providers [tensorrt, cuda] only, neither available → MODEL_PROVIDER_UNAVAILABLE with each reason',
      { skip: hasCuda ? 'this machine has the CUDA provider' : false },
      async () => {
        await rejectsWith(
          load(TINY_MODEL, { providers: ['tensorrt', 'cuda'], logger }),
          'MODEL_PROVIDER_UNAVAILABLE',
          ['tensorrt:', 'cuda:', "add 'cpu'"],
        );
      },
    );

    test(
      'a provider from another platform (dml on Linux) falls through to cpu',
      { skip: process.platform === 'win32' },
      async () => {
        const model = await load(TINY_MODEL, { providers: ['dml', 'cpu'], logger });
        try {
          assert.deepEqual(
            model.encoders.map((e) => [e.provider, e.providerFailures.map((f) => f.provider)]),
            [
              ['cpu', ['dml']],
              ['cpu', ['dml']],
            ],
          );
        } finally {
          await model.close();
        }
      },
    );

    test('close waits for runs already in flight, then refuses new ones', async () => {
      const model = await load(TINY_MODEL, cpu);
      const imu = model.encoder('imu')!;
      const pending = imu.run(new Float32Array(3 * imu.inputSize).fill(1), 3); // runs on a later tick
      const closing = model.close();
      assert.equal((await pending).length, 3 * 8);
      await closing;
      await rejectsWith(imu.run(new Float32Array(imu.inputSize), 1), 'MODEL_CLOSED', [
        'encoder imu was closed',
      ]);
    });
  });
}
