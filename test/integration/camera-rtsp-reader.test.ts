import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { firstValueFrom, filter } from 'rxjs';
import { systemClock } from '../../gateway/domain/time.ts';
import { createMetricsRegistry } from '../../gateway/observability/metrics.ts';
import {
  RtspReader,
  type ReaderStatus,
  type RtspReaderOptions,
} from '../../gateway/sources/camera/rtsp-reader.ts';
import { freePort } from '../helpers/mosquitto.ts';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.ts';

/*
 * The ffmpeg RTSP reader against a real gst-rtsp-server started here: frames, the fps cap,
 * latest-frame-wins, several cameras at once, recovery from a killed and from a hung camera,
 * and the coded errors for the ways a camera can refuse.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fastRetry = { initialMs: 150, maxMs: 1000, factor: 2, jitter: 0.2 };

function reader(
  options: Partial<RtspReaderOptions> & Pick<RtspReaderOptions, 'url'>,
  registry = createMetricsRegistry({ defaultMetrics: false }),
) {
  return new RtspReader(
    {
      cameraId: 'cam',
      width: 160,
      height: 120,
      fps: 30,
      stallTimeoutMs: 1500,
      connectTimeoutMs: 8000,
      backoff: fastRetry,
      ...options,
    },
    { clock: systemClock, registry },
  );
}

/** Takes frames as fast as they come (or with `workMs` per frame) until stopped. */
function consume(r: RtspReader, workMs = 0) {
  const frames: { seq: number; tNs: number; bytes: number; atMs: number }[] = [];
  const done = (async () => {
    for (;;) {
      const f = await r.next();
      if (!f) return;
      frames.push({ seq: f.seq, tNs: f.tNs, bytes: f.data.length, atMs: performance.now() });
      if (workMs > 0) await sleep(workMs);
    }
  })();
  return { frames, done };
}

async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function nextError(r: RtspReader): Promise<ReaderStatus> {
  return firstValueFrom(r.status$.pipe(filter((s) => s.error !== undefined)));
}

describe('RTSP reader against gst-rtsp-server', () => {
  let camA: RtspServer;
  let camB: RtspServer;
  before(async () => {
    [camA, camB] = await Promise.all([
      startRtspServer({ width: 320, height: 240, fps: 15 }),
      startRtspServer({ width: 160, height: 120, fps: 10 }),
    ]);
  });
  after(async () => {
    await Promise.all([camA?.stop(), camB?.stop()]);
  });

  test('two cameras at once: whole RGB24 frames of the configured size, in order, at the source rate; the fps cap and a slow consumer drop frames and count them', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const fast = reader({ cameraId: 'a', url: camA.url, width: 320, height: 240, fps: 30 }, registry);
    const capped = reader({ cameraId: 'a-capped', url: camA.url, width: 64, height: 48, fps: 5 }, registry);
    const slow = reader({ cameraId: 'b-slow', url: camB.url, width: 96, height: 64, fps: 30 }, registry);
    const t0 = performance.now();
    for (const r of [fast, capped, slow]) r.start();
    const cf = consume(fast);
    const cc = consume(capped);
    const cs = consume(slow, 350);
    try {
      await waitFor(
        () => cf.frames.length > 0 && cc.frames.length > 0 && cs.frames.length > 0,
        10_000,
        'first frames',
      );
      const firstMs = performance.now() - t0;
      const mark = { f: cf.frames.length, c: cc.frames.length };
      await sleep(3000);
      const got = { f: cf.frames.length - mark.f, c: cc.frames.length - mark.c };

      assert.ok(cf.frames.every((f) => f.bytes === 320 * 240 * 3));
      assert.ok(cc.frames.every((f) => f.bytes === 64 * 48 * 3));
      assert.ok(cs.frames.every((f) => f.bytes === 96 * 64 * 3));
      for (const fr of [cf.frames, cc.frames, cs.frames])
        for (let i = 1; i < fr.length; i++) {
          assert.ok(fr[i]!.seq > fr[i - 1]!.seq, 'seq ascending');
          assert.ok(fr[i]!.tNs >= fr[i - 1]!.tNs, 'tNs ascending');
        }
      // 15 fps source, uncapped: about 45 frames in 3 s.
      assert.ok(got.f >= 35 && got.f <= 55, `uncapped reader got ${got.f} frames in 3 s of a 15 fps stream`);
      // Capped at 5 fps: about 15, the rest counted as fps_cap drops.
      assert.ok(got.c >= 11 && got.c <= 19, `5 fps cap delivered ${got.c} frames in 3 s`);
      const sc = capped.stats();
      assert.ok(sc.dropped.fps_cap >= 15, `fps_cap drops ${sc.dropped.fps_cap}`);
      // A consumer taking 350 ms per frame of a 10 fps stream: latest frame wins, ~2 of 3 superseded.
      const ss = slow.stats();
      assert.ok(
        ss.dropped.superseded >= ss.delivered,
        `superseded ${ss.dropped.superseded} vs delivered ${ss.delivered}`,
      );
      for (const s of [fast.stats(), sc, ss]) {
        const unaccounted = s.decoded - s.delivered - s.dropped.superseded - s.dropped.fps_cap;
        assert.ok(
          unaccounted === 0 || unaccounted === 1,
          `every decoded frame delivered, pending or counted (off by ${unaccounted})`,
        );
      }
      const text = await registry.metrics();
      assert.match(text, /mujo_camera_frames_dropped_total\{camera="b-slow",reason="superseded"\} [1-9]/);
      assert.match(text, /mujo_camera_frames_dropped_total\{camera="a-capped",reason="fps_cap"\} [1-9]/);
      assert.match(text, /mujo_camera_connected\{camera="a"\} 1/);
      console.log(
        `first frames of 3 readers within ${Math.round(firstMs)} ms; first-frame times ${[fast, capped, slow].map((r) => Math.round(r.stats().firstFrameMs ?? -1)).join(', ')} ms`,
      );
    } finally {
      await Promise.all([fast.stop(), capped.stop(), slow.stop()]);
      await Promise.all([cf.done, cc.done, cs.done]);
    }
  });

  test('camera killed and restarted mid-stream: the reader reconnects by itself and counts the gap', async () => {
    const cam = await startRtspServer({ width: 160, height: 120, fps: 15 });
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const r = reader({ cameraId: 'restart', url: cam.url }, registry);
    const statuses: ReaderStatus[] = [];
    r.status$.subscribe((s) => statuses.push(s));
    r.start();
    const c = consume(r);
    try {
      await waitFor(() => c.frames.length >= 10, 10_000, '10 frames');
      await cam.kill();
      const killedAt = performance.now();
      await sleep(1000);
      await cam.start();
      const before = c.frames.length;
      await waitFor(() => c.frames.length > before + 5, 15_000, 'frames after the restart');
      const firstAfter = c.frames[before]!;
      const recoveryMs = firstAfter.atMs - killedAt;
      const s = r.stats();
      assert.equal(s.gaps, 1);
      assert.ok(s.gapS >= 1.0 && s.gapS < 15, `gap ${s.gapS} s covers the 1 s outage`);
      assert.ok(s.gapFrames >= 10, `missed frames ${s.gapFrames} at ~15 fps over ≥ 1 s`);
      assert.ok(s.reconnects >= 1);
      assert.ok(
        statuses.some((x) => !x.connected && x.error),
        'an outage status with an error code',
      );
      assert.equal(statuses.at(-1)?.connected, true);
      const text = await registry.metrics();
      assert.match(text, /mujo_camera_gap_seconds_total\{camera="restart"\} [1-9]/);
      assert.match(text, /mujo_camera_reconnects_total\{camera="restart",code="CAMERA_/);
      console.log(
        `recovered ${Math.round(recoveryMs)} ms after the kill (1000 ms down); gap ${s.gapS.toFixed(2)} s, ${s.gapFrames} frames missed, ${s.reconnects} reconnects; errors: ${[...new Set(statuses.map((x) => x.error?.code).filter(Boolean))].join(', ')}`,
      );
    } finally {
      await r.stop();
      await c.done;
      await cam.stop();
    }
  });

  test('a camera that hangs (connection open, no data) trips the watchdog and recovers when it resumes', async () => {
    const cam = await startRtspServer({ width: 160, height: 120, fps: 15 });
    const r = reader({ cameraId: 'hang', url: cam.url, stallTimeoutMs: 1000, connectTimeoutMs: 2000 });
    const statuses: ReaderStatus[] = [];
    r.status$.subscribe((s) => statuses.push(s));
    r.start();
    const c = consume(r);
    try {
      await waitFor(() => c.frames.length >= 5, 10_000, '5 frames');
      cam.pause();
      await waitFor(() => statuses.some((s) => s.error?.code === 'CAMERA_STALLED'), 5000, 'CAMERA_STALLED');
      cam.resume();
      const before = c.frames.length;
      await waitFor(() => c.frames.length > before + 3, 20_000, 'frames after resuming');
      assert.equal(r.stats().gaps, 1);
    } finally {
      cam.resume();
      await r.stop();
      await c.done;
      await cam.stop();
    }
  });

  test('coded errors: auth refused, path not found, nothing listening, undecodable codec, ffmpeg missing', async () => {
    const secured = await startRtspServer({ user: 'coach', password: 's3cret' });
    const gst = await startRtspServer({ payload: 'gst' });
    const deadPort = await freePort();
    const cases: { url: string; code: string; ffmpegPath?: string }[] = [
      { url: secured.url, code: 'CAMERA_AUTH_REFUSED' },
      { url: secured.url.replace('rtsp://', 'rtsp://coach:wrong@'), code: 'CAMERA_AUTH_REFUSED' },
      { url: `${camA.url}-missing`, code: 'CAMERA_NOT_FOUND' },
      { url: `rtsp://127.0.0.1:${deadPort}/cam`, code: 'CAMERA_UNREACHABLE' },
      { url: gst.url, code: 'CAMERA_UNSUPPORTED_CODEC' },
      { url: camA.url, code: 'CAMERA_FFMPEG_MISSING', ffmpegPath: '/nonexistent/bin/ffmpeg' },
    ];
    const readers: RtspReader[] = [];
    try {
      const results = await Promise.all(
        cases.map(async (c, i) => {
          const r = new RtspReader(
            { cameraId: `err${i}`, url: c.url, width: 64, height: 48, fps: 5, backoff: { initialMs: 5000 } },
            { clock: systemClock, ...(c.ffmpegPath ? { ffmpegPath: c.ffmpegPath } : {}) },
          );
          readers.push(r);
          const err = nextError(r);
          r.start();
          return { c, status: await err };
        }),
      );
      for (const { c, status } of results) {
        assert.equal(status.error?.code, c.code, `${c.url}: ${status.error?.message}`);
        assert.ok(
          !status.error?.message.includes('s3cret') && !status.error?.message.includes(':wrong@'),
          'no password in messages',
        );
        assert.equal(status.fatal, c.code === 'CAMERA_FFMPEG_MISSING');
      }
      // The right credentials work.
      const ok = reader({ cameraId: 'auth-ok', url: secured.url.replace('rtsp://', 'rtsp://coach:s3cret@') });
      readers.push(ok);
      ok.start();
      const f = await ok.next();
      assert.equal(f?.data.length, 160 * 120 * 3);
    } finally {
      await Promise.all(readers.map((r) => r.stop()));
      await Promise.all([secured.stop(), gst.stop()]);
    }
  });
});
