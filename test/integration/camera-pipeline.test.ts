import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Subject } from 'rxjs';
import type { SubjectScores } from '../../gateway/domain/events.ts';
import type { ImuChunk } from '../../gateway/domain/samples.ts';
import { systemClock } from '../../gateway/domain/time.ts';
import { InferenceThread } from '../../gateway/model/inference-thread.ts';
import { loadModel } from '../../gateway/model/load-model.ts';
import { HealthRegistry } from '../../gateway/observability/health.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { createMetricsRegistry } from '../../gateway/observability/metrics.ts';
import { createPipeline } from '../../gateway/pipeline/pipeline.ts';
import { createCameraSource } from '../../gateway/sources/camera/camera-source.ts';
import { moveNetEstimatorFactory } from '../../gateway/sources/camera/pose-estimator.ts';
import { writePhotoPng } from '../fixtures/people/photos.ts';
import { startRtspServer } from '../helpers/rtsp-server.ts';
import { DEMO_RECORDING, REPO_ROOT } from '../helpers/pose-scene.ts';
import { loadRecording } from '../../gateway/sources/replay/index.ts';

/*
 * Missing modality, for real: a subject wears an IMU (UTD-MHAD subject 2's wrist data played
 * live) and stands in a camera's zone (a real gst-rtsp-server streaming a photo of a person,
 * MoveNet on the gateway). Their fused scores use imu+pose; the camera dies → scores go on
 * from the IMU alone; the camera comes back → pose rejoins.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a subject with wearable + camera: camera lost → IMU-only scores, camera back → fused again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mujo-campipe-'));
  const { file: png } = writePhotoPng(dir, 'standing-wall');
  const cam = await startRtspServer({ source: { file: png }, width: 292, height: 316, fps: 15 });
  const rec = await loadRecording(DEMO_RECORDING);
  const imu = rec.streams.find((s) => s.modality === 'imu' && s.subjectId === 's2')!.data;
  const registry = createMetricsRegistry({ defaultMetrics: false });
  // As the gateway runs by default (model.inferenceThread 'worker'): the encoders and the
  // camera's MoveNet share one inference worker.
  const thread = new InferenceThread({ logger: silentLogger() });
  const model = await loadModel(join(REPO_ROOT, 'test', 'fixtures', 'tiny-model'), {
    providers: ['cpu'],
    logger: silentLogger(),
    thread,
  });
  const pipeline = createPipeline(
    model,
    { smoothing: { gateway: 'gw-test' } },
    { clock: systemClock, logger: silentLogger(), metrics: registry },
  );
  const imu$ = new Subject<ImuChunk>();
  const source = createCameraSource(
    {
      cameras: [
        {
          id: 'door',
          url: cam.url,
          width: 320,
          height: 240,
          fps: 15,
          model: 'lightning',
          zones: [{ subject: 'p1', x0: 0, y0: 0, x1: 1, y1: 1 }],
          stallTimeoutMs: 2000,
        },
      ],
      matching: { enabled: false },
    },
    {
      gatewayId: 'gw-test',
      clock: systemClock,
      registry,
      health: new HealthRegistry(),
      logger: silentLogger(),
      createEstimator: moveNetEstimatorFactory({ logger: silentLogger(), thread }),
      backoff: { initialMs: 150, maxMs: 1000 },
    },
  );
  const scores: { atMs: number; s: SubjectScores }[] = [];
  pipeline.scores$.subscribe((s) => {
    if (s.subjectId === 'p1') scores.push({ atMs: performance.now(), s });
  });
  pipeline.connect(source.chunks$);
  pipeline.connect(imu$);
  // The wearable: 50 Hz, delivered every 100 ms on the gateway clock, as a BLE source would.
  let i = 0;
  const imuTimer = setInterval(() => {
    const now = systemClock.nowNs();
    const n = 5;
    const tNs = Float64Array.from({ length: n }, (_, k) => now - (n - 1 - k) * 20e6);
    const values = imu.values.slice((i % (imu.tNs.length - n)) * 6, ((i % (imu.tNs.length - n)) + n) * 6);
    i += n;
    imu$.next({ modality: 'imu', sourceId: 'wrist-p1', subjectId: 'p1', placement: 'wrist', tNs, values });
  }, 100);
  const phase = (fromMs: number) =>
    scores.filter((x) => x.atMs >= fromMs).map((x) => x.s.modalities.join('+'));
  async function waitFor(pred: () => boolean, timeoutMs: number, what: string) {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline)
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; modalities seen: ${[...new Set(scores.map((x) => x.s.modalities.join('+')))].join(', ')}`,
        );
      await sleep(50);
    }
  }
  try {
    await source.start();
    const t0 = performance.now();
    await waitFor(
      () => phase(t0).filter((m) => m === 'imu+pose').length >= 5,
      25_000,
      'fused imu+pose scores',
    );
    const fused = scores.filter((x) => x.s.modalities.join('+') === 'imu+pose').at(-1)!.s;
    assert.deepEqual([...fused.sources].sort(), ['door/1', 'wrist-p1']);

    await cam.kill();
    const tKill = performance.now();
    // Windows already in flight may still fuse for a moment; then IMU alone.
    await waitFor(
      () => phase(tKill + 1500).filter((m) => m === 'imu').length >= 5,
      15_000,
      'IMU-only scores after the camera died',
    );
    assert.equal(
      phase(tKill + 2500).filter((m) => m.includes('pose')).length,
      0,
      'no pose once the camera is gone',
    );

    await cam.start();
    const tBack = performance.now();
    await waitFor(
      () => phase(tBack).filter((m) => m === 'imu+pose').length >= 3,
      25_000,
      'fused scores after the camera came back',
    );
    const back = scores.filter((x) => x.s.modalities.join('+') === 'imu+pose').at(-1)!.s;
    assert.ok(back.sources.includes('wrist-p1') && back.sources.some((s) => s.startsWith('door/')));
    console.log(
      `p1 scores: ${scores.length}; camera back → fused after ${Math.round(scores.find((x) => x.atMs >= tBack && x.s.modalities.length === 2)!.atMs - tBack)} ms; sources then ${back.sources.join(', ')}`,
    );
  } finally {
    clearInterval(imuTimer);
    await source.stop();
    imu$.complete();
    await pipeline.stop();
    await cam.stop();
    await model.close?.();
    await thread.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
