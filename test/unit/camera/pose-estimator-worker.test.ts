/**
 * The camera's MoveNet session in the inference worker (model.inferenceThread 'worker')
 * against the same session on the main thread: real onnxruntime, real models, real photos.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InferenceThread } from '../../../gateway/model/inference-thread.ts';
import { GatewayError } from '../../../gateway/observability/errors.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { letterbox, resizeLetterbox } from '../../../gateway/sources/camera/image.ts';
import { defaultMoveNetDir, MoveNetEstimator } from '../../../gateway/sources/camera/pose-estimator.ts';
import type { PoseModelName } from '../../../gateway/sources/camera/types.ts';
import { loadPhoto, testPattern } from '../../fixtures/people/photos.ts';

const thread = new InferenceThread({ logger: silentLogger() });
after(() => thread.stop());

function estimators(model: PoseModelName) {
  const options = { model, logger: silentLogger(), intraOpThreads: 1 };
  return Promise.all([MoveNetEstimator.create(options), MoveNetEstimator.create({ ...options, thread })]);
}

describe('MoveNet in the inference worker', () => {
  for (const [model, photo] of [
    ['lightning', 'standing-skirt'],
    ['multipose', 'trio'],
  ] as const) {
    it(`${model}: raw output and people on '${photo}' are bit-identical to the main thread's`, async () => {
      // Same onnxruntime build, options (one intra-op thread, sequential) and kernels on the
      // same bytes: equality is exact, not a tolerance.
      const [main, worker] = await estimators(model);
      try {
        assert.equal(worker.provider, 'cpu');
        assert.ok(thread.threadId !== undefined, 'the session is open in the worker');
        const img = loadPhoto(photo);
        const square = resizeLetterbox(img.data, letterbox(img.width, img.height, main.inputSize));
        const before = square.slice();
        const raw = await worker.runSquare(square);
        assert.deepEqual(raw, await main.runSquare(square));
        // runSquare leaves the caller's input as it was (copied for the worker).
        assert.deepEqual(square, before);

        const people = await main.estimate(img.data, img.width, img.height);
        assert.ok(
          people.length >= 1 && people[0]!.score > 0.3,
          'a person is found, so the comparison means something',
        );
        // Repeated: later frames travel in the input buffers that came back from the worker.
        for (let i = 0; i < 3; i++)
          assert.deepEqual(await worker.estimate(img.data, img.width, img.height), people);
      } finally {
        await Promise.all([main.close(), worker.close()]);
      }
    });
  }

  it('concurrent frames of several cameras do not mix; closed, runs fail with POSE_ESTIMATOR_CLOSED', async () => {
    const [main, worker] = await estimators('lightning');
    const a = loadPhoto('standing-wall');
    const b = testPattern(320, 240);
    const c = loadPhoto('stool');
    const frames = [a, b, c, a, b, c];
    const expected = [];
    for (const f of frames) expected.push(await main.estimate(f.data, f.width, f.height));
    const actual = await Promise.all(frames.map((f) => worker.estimate(f.data, f.width, f.height)));
    assert.deepEqual(actual, expected);
    await Promise.all([main.close(), worker.close()]);
    await assert.rejects(
      worker.estimate(a.data, a.width, a.height),
      (e: unknown) => e instanceof GatewayError && e.code === 'POSE_ESTIMATOR_CLOSED',
    );
  });

  it('a frame buffer handed over travels to the worker and back without a copy', async () => {
    const worker = await MoveNetEstimator.create({ logger: silentLogger(), thread });
    const bytes = await readFile(worker.file);
    const opened = await thread
      .openSession(
        bytes,
        { kind: 'pose', model: 'lightning', file: worker.file, inputName: 'input', outputName: 'output' },
        { providers: ['cpu'], intraOpThreads: 1 },
      )
      .catch(async (err: unknown) => {
        await worker.close();
        throw err;
      });
    try {
      const img = loadPhoto('standing-skirt');
      const input = resizeLetterbox(img.data, letterbox(img.width, img.height, worker.inputSize));
      const sent = input.slice();
      const result = await opened.session.runHandingOver(input, [1, worker.inputSize, worker.inputSize, 3]);
      // Moved, not cloned: the caller's view is detached, and the same bytes come back.
      assert.equal(input.length, 0);
      assert.ok(result.input);
      assert.deepEqual(result.input, sent);
      assert.deepEqual(result.data, await worker.runSquare(sent));
    } finally {
      await Promise.all([opened.session.release(), worker.close()]);
    }
  });

  it('a graph whose input or output the manifest misnames is refused in the worker with POSE_MODEL_INVALID', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'movenet-names-'));
    try {
      const src = defaultMoveNetDir();
      const manifest = JSON.parse(await readFile(join(src, 'manifest.json'), 'utf8')) as {
        models: Record<string, { file: string; output: { name: string } }>;
      };
      const lightning = manifest.models['lightning']!;
      lightning.output.name = 'no_such_output';
      await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
      await writeFile(join(dir, lightning.file), await readFile(join(src, lightning.file)));
      for (const where of [{}, { thread }]) {
        await assert.rejects(
          MoveNetEstimator.create({ modelDir: dir, logger: silentLogger(), ...where }),
          (e: unknown) =>
            e instanceof GatewayError &&
            e.code === 'POSE_MODEL_INVALID' &&
            /the manifest names input '.+' and output 'no_such_output', the graph has inputs/.test(e.message),
        );
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
