import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { Subject } from 'rxjs';
import type { WindowEmbedding } from '../../../gateway/domain/windows.ts';
import { EnrollmentService } from '../../../gateway/enrollment/service.ts';
import { ModelManager } from '../../../gateway/model/model-manager.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { TINY_MODEL } from '../model/tiny-model.ts';
import { quantile } from '../../../gateway/enrollment/prototypes.ts';

const RECORDING = fileURLToPath(new URL('../../fixtures/recording-small', import.meta.url));

const DIM = 8;
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mujo-enroll-unit-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function unitVector(seed: number): Float32Array {
  const v = Float32Array.from({ length: DIM }, (_, i) => Math.sin(seed * 7.1 + i * 1.3));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

function embedding(
  subject: string,
  modality: 'imu' | 'pose',
  startS: number,
  vector: Float32Array,
): WindowEmbedding {
  return {
    window: {
      subjectId: subject,
      sourceId: `${subject}-${modality}`,
      modality,
      encoder: modality,
      startNs: startS * 1e9,
      endNs: (startS + 0.4) * 1e9,
      closedAtNs: 0,
      input: new Float32Array(0),
    },
    vector,
    batchSize: 1,
    inferenceUs: 0,
  };
}

async function setup(name: string) {
  const models = new ModelManager({ dir: TINY_MODEL, providers: ['cpu'], logger: silentLogger() });
  await models.start();
  const embeddings$ = new Subject<WindowEmbedding>();
  const service = new EnrollmentService(
    {
      storeDir: join(dir, name),
      bundledDir: TINY_MODEL,
      minWindows: 3,
      defaultSeconds: 2,
      maxSeconds: 60,
      graceS: 0,
    },
    {
      models,
      embeddings$,
      subjects: () => ['s1', 's2'],
      lastWindowEndNs: (s) => (s === 's1' ? 10e9 : undefined),
      logger: silentLogger(),
    },
  );
  /** Feeds windows of s1 from `fromS`, every 0.2 s, both modalities, then one past the interval. */
  const feed = (fromS: number, untilS: number, seed: number) => {
    for (let t = fromS; t + 0.4 <= untilS + 1e-9; t += 0.2) {
      embeddings$.next(embedding('s1', 'imu', t, unitVector(seed)));
      embeddings$.next(embedding('s1', 'pose', t, unitVector(seed + 0.5)));
    }
    embeddings$.next(embedding('s1', 'imu', untilS + 1, unitVector(seed)));
  };
  return { models, service, embeddings$, feed };
}

test('live enrollment writes a new version with per-modality prototypes and provenance, and swaps it in', async () => {
  const { models, service, feed } = await setup('live');
  try {
    const before = models.requireCurrent();
    const pending = service.enroll({ subject: 's1', class: 'jump_rope', seconds: 2 });
    // windows starting before the request's interval (s1's last window ended at 10 s) are not used
    feed(9.8, 12, 1);
    const result = await pending;
    assert.equal(result.classes[0]!.id, 'jump_rope');
    assert.deepEqual(result.classes[0]!.windows, { imu: 9, pose: 9 });
    assert.ok(result.classes[0]!.score.min > 0.999);
    const model = models.requireCurrent();
    assert.equal(model.version, result.model.version);
    assert.equal(model.classes.length, 4);
    assert.equal(model.classes[3]!.id, 'jump_rope');
    // Only prototypes changed: the encoders' sessions carry over and keep running after the swap.
    assert.equal(model.encoder('imu'), before.encoder('imu'));
    const imu = model.encoder('imu')!;
    assert.equal((await imu.run(new Float32Array(imu.inputSize), 1)).length, DIM);
    assert.ok(model.modalityPrototypes?.imu && model.modalityPrototypes.pose);
    // the new class's imu row is the imu examples' direction
    const row = model.modalityPrototypes.imu.slice(3 * DIM, 4 * DIM);
    const expected = unitVector(1);
    for (let i = 0; i < DIM; i++) assert.ok(Math.abs(row[i]! - expected[i]!) < 1e-6);
    const manifest = JSON.parse(await readFile(join(result.model.dir, 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.enrollment.parent, { name: 'tiny-fixture', version: '0.0.1' });
    assert.equal(manifest.enrollment.classes[0].source.subjects[0], 's1');
    assert.equal(manifest.testVectors, undefined);
    const classes = service.classes();
    assert.equal(classes.find((c) => c.id === 'jump_rope')?.enrolled?.k, 1);
    assert.equal(classes[0]!.enrolled, null);
  } finally {
    await models.close();
  }
});

test('coded refusals: unknown subject, bad class id, too few windows, empty interval, busy; the model keeps serving', async () => {
  const { models, service, feed } = await setup('refusals');
  try {
    const version = models.requireCurrent().version;
    assert.throws(() => service.enroll({ subject: 'nobody', class: 'x' }), {
      code: 'ENROLL_UNKNOWN_SUBJECT',
    });
    assert.throws(() => service.enroll({ subject: 's1', class: 'unknown' }), { code: 'ENROLL_BAD_REQUEST' });
    assert.throws(() => service.enroll({ subject: 's1', class: 'Squat' }), { code: 'ENROLL_BAD_REQUEST' });
    assert.throws(() => service.enroll({ subject: 's1', class: 'x', seconds: 600 }), {
      code: 'ENROLL_BAD_REQUEST',
    });
    const few = service.enroll({ subject: 's1', class: 'jump_rope', seconds: 0.5 });
    await assert.rejects(service.rollback(), { code: 'ENROLL_BUSY' });
    feed(10, 10.5, 2);
    await assert.rejects(few, { code: 'ENROLL_TOO_FEW_WINDOWS' });
    // s2 sends nothing: the (zero-grace) timeout ends it with nothing collected
    await assert.rejects(service.enroll({ subject: 's2', class: 'jump_rope', seconds: 0.1 }), {
      code: 'ENROLL_EMPTY_INTERVAL',
    });
    await assert.rejects(service.removeClass('nope'), { code: 'ENROLL_UNKNOWN_CLASS' });
    await assert.rejects(service.rollback(), { code: 'ENROLL_NO_PREVIOUS' });
    await assert.rejects(service.activate('9.9.9'), { code: 'ENROLL_UNKNOWN_VERSION' });
    assert.equal(models.requireCurrent().version, version);
  } finally {
    await models.close();
  }
});

test('versions: list, remove a class, roll back, activate by version, the bundled model stays untouched', async () => {
  const { models, service, feed } = await setup('versions');
  const bundled = await readFile(join(TINY_MODEL, 'manifest.json'), 'utf8');
  try {
    const first = service.enroll({ subject: 's1', class: 'jump_rope', seconds: 2 });
    feed(10, 12, 3);
    const v1 = (await first).model.version;
    const removed = await service.removeClass('jump_rope');
    assert.notEqual(removed.model.version, v1);
    assert.equal(models.requireCurrent().classes.length, 3);
    assert.deepEqual(models.requireCurrent().manifest.enrollment?.classes, []);
    const { versions, active } = await service.versions();
    assert.deepEqual(
      versions.map((v) => [v.bundled, v.active]),
      [
        [true, false],
        [false, false],
        [false, true],
      ],
    );
    assert.equal(active?.version, removed.model.version);
    await service.rollback();
    assert.equal(models.requireCurrent().version, v1);
    await service.rollback();
    assert.equal(models.requireCurrent().dir, TINY_MODEL);
    await service.activate(removed.model.version);
    assert.equal(models.requireCurrent().version, removed.model.version);
    assert.equal(await service.startDir(), removed.model.dir);
    await service.activate('bundled');
    assert.equal(await service.startDir(), TINY_MODEL);
    assert.equal(await readFile(join(TINY_MODEL, 'manifest.json'), 'utf8'), bundled);
    // too few classes
    const tiny = models.requireCurrent();
    assert.equal(tiny.classes.length, 3);
    await service.removeClass(tiny.classes[0]!.id);
    await assert.rejects(service.removeClass(models.requireCurrent().classes[0]!.id), {
      code: 'ENROLL_TOO_FEW_CLASSES',
    });
  } finally {
    await models.close();
  }
});

test('from a recording with two intervals of a class: prototypes from both, open-set threshold learnt by leave-one-interval-out', async () => {
  const { models, service } = await setup('recording');
  try {
    const result = await service.enroll({
      recording: RECORDING,
      class: 'jump_rope',
      intervals: [
        { subject: 's1', startS: 0, endS: 1.4 },
        { subject: 's1', startS: 1.5, endS: 3 },
      ],
    });
    const summary = result.classes[0]!;
    assert.equal(summary.k, 2);
    assert.deepEqual(summary.modalities, ['imu', 'pose']);
    assert.ok(summary.windows.imu! >= 8 && summary.windows.pose! >= 4);
    // the tiny model has no thresholds: they are learnt from the two intervals
    assert.equal(result.openSet.from, 'enrollment');
    const model = models.requireCurrent();
    assert.equal(typeof model.openSetThresholds?.['imu'], 'number');
    assert.equal(typeof model.openSetThresholds?.['pose'], 'number');
    assert.equal(model.manifest.openSet?.calibration?.['targetKnownRejection'], 0.05);
    assert.equal(model.manifest.enrollment?.classes[0]?.source?.recording, RECORDING);
    // a second enrollment keeps the thresholds it now has (unless asked to calibrate again)
    await assert.rejects(service.enroll({ recording: RECORDING, class: 'nothing_here' }), {
      code: 'ENROLL_UNKNOWN_CLASS',
    });
    const again = await service.enroll({ recording: RECORDING, class: 'wave' });
    assert.equal(again.openSet.from, 'parent');
    assert.equal(again.classes[0]!.replaced, true); // the model's own 'wave', now from examples
    await assert.rejects(
      service.enroll({
        recording: RECORDING,
        class: 'x',
        intervals: [{ subject: 'nobody', startS: 0, endS: 1 }],
      }),
      { code: 'ENROLL_UNKNOWN_SUBJECT' },
    );
    await assert.rejects(
      service.enroll({
        recording: RECORDING,
        class: 'x',
        intervals: [{ subject: 's1', startS: 0, endS: 0.2 }],
      }),
      { code: 'ENROLL_EMPTY_INTERVAL' },
    );
  } finally {
    await models.close();
  }
});

test('quantile is numpy’s linear one', () => {
  assert.equal(quantile([4, 1, 3, 2], 0.05), 1.15);
  assert.equal(quantile([7], 0.05), 7);
});
