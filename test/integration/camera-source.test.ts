import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DeviceState } from '../../gateway/domain/events.ts';
import type { PoseChunk } from '../../gateway/domain/samples.ts';
import { systemClock } from '../../gateway/domain/time.ts';
import { HealthRegistry } from '../../gateway/observability/health.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { createMetricsRegistry } from '../../gateway/observability/metrics.ts';
import { createCameraSource } from '../../gateway/sources/camera/camera-source.ts';
import { moveNetEstimatorFactory } from '../../gateway/sources/camera/pose-estimator.ts';
import { writePhotoPng as photoFile } from '../fixtures/people/photos.ts';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.ts';

/*
 * The camera source end to end: a real gst-rtsp-server → ffmpeg → MoveNet (ONNX) → tracker
 * → pose chunks. A test pattern has nobody in it; a stream made from a real photo of three
 * people gives three stable tracks whose zones name their subjects; a camera that dies and
 * comes back resumes the streams and counts the gap.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** A PNG of a fixture photo, for the RTSP server to stream (as a still camera view). */

function makeSource(
  url: string,
  model: 'lightning' | 'multipose',
  extra: { zones?: { subject: string; x0: number; y0: number; x1: number; y1: number }[] } = {},
) {
  const registry = createMetricsRegistry({ defaultMetrics: false });
  const health = new HealthRegistry();
  const source = createCameraSource(
    {
      cameras: [{ id: 'gym', url, width: 320, height: 240, fps: 15, model, stallTimeoutMs: 2000, ...extra }],
      matching: { enabled: false },
    },
    {
      gatewayId: 'gw-test',
      clock: systemClock,
      registry,
      health,
      logger: silentLogger(),
      createEstimator: moveNetEstimatorFactory({ logger: silentLogger() }),
      backoff: { initialMs: 150, maxMs: 1000 },
    },
  );
  const chunks: PoseChunk[] = [];
  const states: DeviceState[] = [];
  source.chunks$.subscribe((c) => chunks.push(c));
  source.devices$.subscribe((s) => states.push(s));
  return { source, registry, health, chunks, states };
}

async function estimatedFrames(registry: ReturnType<typeof createMetricsRegistry>): Promise<number> {
  const m = await registry.getSingleMetric('mujo_camera_estimate_seconds')?.get();
  return (
    m?.values.find((v) => (v as { metricName?: string }).metricName === 'mujo_camera_estimate_seconds_count')
      ?.value ?? 0
  );
}

describe('camera source against gst-rtsp-server with MoveNet', () => {
  let dir: string;
  let trio: { file: string; width: number; height: number };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mujo-camera-'));
    trio = photoFile(dir, 'trio');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a test-pattern stream: frames are estimated, nobody is found, no pose chunk', async () => {
    const cam = await startRtspServer({ width: 320, height: 240, fps: 15 });
    const { source, registry, chunks, states, health } = makeSource(cam.url, 'lightning');
    try {
      await source.start();
      await waitFor(() => source.readers.get('gym')!.stats().delivered >= 30, 15_000, '30 frames');
      assert.ok((await estimatedFrames(registry)) >= 29, 'the estimator ran on the frames');
      assert.equal(chunks.length, 0, 'no person in a test pattern');
      const last = states.at(-1)!;
      assert.equal(last.kind, 'camera');
      assert.equal(last.device, 'gym');
      assert.equal(last.connected, true);
      assert.equal(health.get('camera')?.status, 'up');
    } finally {
      await source.stop();
      await cam.stop();
    }
  });

  test('a stream of a real photo of three people: three stable tracks, zones name their subjects; camera killed and restarted → streams resume, gap counted', async () => {
    // Upscaled so each person spans a reasonable part of the 320×240 frame the reader makes.
    const cam: RtspServer = await startRtspServer({
      source: { file: trio.file },
      width: 280,
      height: 316,
      fps: 15,
    });
    const zones = [
      { subject: 'left', x0: 0, y0: 0, x1: 0.33, y1: 1 },
      { subject: 'middle', x0: 0.33, y0: 0, x1: 0.66, y1: 1 },
    ];
    const { source, registry, chunks, states } = makeSource(cam.url, 'multipose', { zones });
    try {
      await source.start();
      await waitFor(() => chunks.length >= 3 * 30, 20_000, '30 frames of three people');
      const bySource = new Map<string, PoseChunk[]>();
      for (const c of chunks) bySource.set(c.sourceId, [...(bySource.get(c.sourceId) ?? []), c]);
      assert.equal(bySource.size, 3, `tracks: ${[...bySource.keys()].join(', ')}`);
      for (const [sourceId, list] of bySource) {
        assert.match(sourceId, /^gym\/\d+$/);
        assert.ok(list.length >= 25, `${sourceId}: ${list.length} frames (a stable id, not re-created)`);
        for (const c of list) {
          assert.equal(c.values.length, 51);
          assert.equal(c.tNs.length, 1);
          for (let k = 0; k < 17; k++) {
            const x = c.values[k * 3]!;
            const y = c.values[k * 3 + 1]!;
            assert.ok(
              x >= -0.05 && x <= 1.05 && y >= -0.05 && y <= 1.05,
              `${sourceId} keypoint ${k} at ${x},${y}`,
            );
          }
        }
      }
      // Who stands where: hips x of each track decides its zone, and the subject matches.
      const hipX = (c: PoseChunk) => (c.values[11 * 3]! + c.values[12 * 3]!) / 2;
      const subjects = new Map<string, string | undefined>();
      for (const [sourceId, list] of bySource) {
        const x = list.reduce((s, c) => s + hipX(c), 0) / list.length;
        const expected = x < 0.33 ? 'left' : x < 0.66 ? 'middle' : undefined;
        assert.equal(list.at(-1)!.subjectId, expected, `${sourceId} at hips x=${x.toFixed(2)}`);
        subjects.set(sourceId, expected);
      }
      assert.deepEqual([...subjects.values()].filter(Boolean).sort(), ['left', 'middle']);
      assert.equal(
        [...subjects.values()].filter((s) => s === undefined).length,
        1,
        'the person right of every zone stays unassigned',
      );

      // The camera dies mid-stream and comes back.
      await cam.kill();
      const killedAt = performance.now();
      await waitFor(() => states.some((s) => !s.connected), 10_000, 'a disconnected state');
      await sleep(2500); // longer than the tracker's maxLostS: the people "left"
      const before = chunks.length;
      await cam.start();
      await waitFor(() => chunks.length >= before + 3 * 10, 20_000, 'pose chunks after the restart');
      const recoveredMs = performance.now() - killedAt;
      const after = chunks.slice(before);
      const afterSources = new Set(after.map((c) => c.sourceId));
      assert.equal(afterSources.size, 3);
      for (const id of afterSources)
        assert.ok(!bySource.has(id), `new track ids after the people were gone for 2.5 s (${id})`);
      assert.deepEqual(
        [...new Set(after.map((c) => c.subjectId).filter(Boolean))].sort(),
        ['left', 'middle'],
        'zones name them again',
      );
      const stats = source.readers.get('gym')!.stats();
      assert.equal(stats.gaps, 1);
      assert.ok(stats.gapS >= 2.5, `gap ${stats.gapS} s`);
      assert.ok(states.at(-1)!.connected);
      assert.ok(states.at(-1)!.reconnects >= 1);
      assert.ok(states.at(-1)!.dropped >= 30, `dropped counts the missed frames (${states.at(-1)!.dropped})`);
      const text = await registry.metrics();
      assert.match(text, /mujo_camera_gap_seconds_total\{camera="gym"\} [2-9]/);
      console.log(
        `camera back ${Math.round(recoveredMs)} ms after the kill (2500 ms down); gap ${stats.gapS.toFixed(2)} s, ${stats.gapFrames} frames missed; estimated ${await estimatedFrames(registry)} frames`,
      );
    } finally {
      await source.stop();
      await cam.stop();
    }
  });
});
