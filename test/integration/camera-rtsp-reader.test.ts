import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { firstValueFrom, filter } from 'rxjs';
import { systemClock } from '../../gateway/domain/time.ts';
import { createMetricsRegistry } from '../../gateway/observability/metrics.ts';
import {
  RtspReader,
  type ReaderStats,
  type ReaderStatus,
  type RtspReaderOptions,
} from '../../gateway/sources/camera/rtsp-reader.ts';
import { freePort } from '../helpers/mosquitto.ts';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.ts';
import { VirtualTimers } from '../fakes/virtual-timers.ts';

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
  timers?: VirtualTimers,
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
    { clock: timers?.clock ?? systemClock, registry, ...(timers ? { timers } : {}) },
  );
}

/** Every decoded frame was delivered, dropped and counted, or is the one still pending. */
function assertAccounted(s: ReaderStats): void {
  const unaccounted = s.decoded - s.delivered - s.dropped.superseded - s.dropped.fps_cap;
  assert.ok(
    unaccounted === 0 || unaccounted === 1,
    `every decoded frame delivered, pending or counted (off by ${unaccounted})`,
  );
}

/** Takes frames as fast as they come until stopped. */
function consume(r: RtspReader) {
  const frames: { seq: number; tNs: number; bytes: number; atMs: number }[] = [];
  const done = (async () => {
    for (;;) {
      const f = await r.next();
      if (!f) return;
      frames.push({ seq: f.seq, tNs: f.tNs, bytes: f.data.length, atMs: performance.now() });
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

  test('two cameras at once: whole RGB24 frames of the configured size, in order; every decoded frame delivered or counted', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const a = reader({ cameraId: 'a', url: camA.url, width: 320, height: 240, fps: 30 }, registry);
    const b = reader({ cameraId: 'b', url: camB.url, width: 96, height: 64, fps: 30 }, registry);
    const t0 = performance.now();
    for (const r of [a, b]) r.start();
    const ca = consume(a);
    const cb = consume(b);
    try {
      await waitFor(() => ca.frames.length >= 20 && cb.frames.length >= 20, 20_000, '20 frames from each');
      const firstMs = performance.now() - t0;
      assert.ok(ca.frames.every((f) => f.bytes === 320 * 240 * 3));
      assert.ok(cb.frames.every((f) => f.bytes === 96 * 64 * 3));
      for (const fr of [ca.frames, cb.frames])
        for (let i = 1; i < fr.length; i++) {
          assert.ok(fr[i]!.seq > fr[i - 1]!.seq, 'seq ascending');
          assert.ok(fr[i]!.tNs >= fr[i - 1]!.tNs, 'tNs ascending');
        }
      for (const s of [a.stats(), b.stats()]) assertAccounted(s);
      const text = await registry.metrics();
      assert.match(text, /mujo_camera_connected\{camera="a"\} 1/);
      assert.match(text, /mujo_camera_connected\{camera="b"\} 1/);
      console.log(
        `20 frames from 2 readers within ${Math.round(firstMs)} ms; first-frame times ${[a, b].map((r) => Math.round(r.stats().firstFrameMs ?? -1)).join(', ')} ms`,
      );
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await Promise.all([ca.done, cb.done]);
    }
  });

  test("the fps cap hands out one frame per 1/fps of the reader's clock and counts the frames it held back (virtual timers)", async () => {
    const timers = new VirtualTimers();
    const registry = createMetricsRegistry({ defaultMetrics: false });
    // A 15 fps camera capped at 5 fps: one frame per 200 ms of the reader's (virtual) clock.
    const capped = reader(
      { cameraId: 'a-capped', url: camA.url, width: 64, height: 48, fps: 5 },
      registry,
      timers,
    );
    capped.start();
    const c = consume(capped);
    try {
      await waitFor(
        () => c.frames.length === 1,
        10_000,
        'the first frame (the bucket starts with one token)',
      );
      for (let step = 1; step <= 5; step++) {
        const decoded = capped.stats().decoded;
        // Real frames keep arriving while the reader's clock stands still: all held back.
        await waitFor(() => capped.stats().decoded >= decoded + 2, 10_000, 'two more frames from the camera');
        assert.equal(c.frames.length, step, 'nothing more before the cap allows it');
        await timers.advance(200);
        await waitFor(() => c.frames.length === step + 1, 10_000, `frame ${step + 1} after 200 ms`);
      }
      const s = capped.stats();
      assert.equal(s.delivered, 6);
      // At least the one frame per step that arrived while the consumer waited for the cap.
      assert.ok(s.dropped.fps_cap >= 5, `the frames held back are counted as fps_cap (${s.dropped.fps_cap})`);
      assertAccounted(s);
      assert.match(
        await registry.metrics(),
        /mujo_camera_frames_dropped_total\{camera="a-capped",reason="fps_cap"\} [1-9]/,
      );
    } finally {
      await capped.stop();
      await c.done;
    }
  });

  test('a consumer slower than the camera gets the newest frame; the ones it missed are counted as superseded (virtual timers)', async () => {
    const timers = new VirtualTimers();
    const slow = reader(
      { cameraId: 'b-slow', url: camB.url, width: 96, height: 64, fps: 30 },
      undefined,
      timers,
    );
    slow.start();
    try {
      let last = await slow.next();
      assert.ok(last);
      for (let i = 0; i < 3; i++) {
        const before = slow.stats();
        // The consumer is busy while three frames arrive.
        await waitFor(() => slow.stats().decoded >= before.decoded + 3, 10_000, 'three frames');
        await timers.advance(100); // past the cap's 33 ms
        const decoded = slow.stats().decoded;
        const frame = await slow.next();
        assert.ok(frame && frame.seq > last!.seq);
        assert.equal(frame.seq, decoded - 1, 'the newest frame wins');
        assert.equal(
          slow.stats().dropped.superseded - before.dropped.superseded,
          frame.seq - last!.seq - 1,
          'every frame in between counted as superseded',
        );
        last = frame;
      }
      assert.equal(slow.stats().dropped.fps_cap, 0);
      assertAccounted(slow.stats());
    } finally {
      await slow.stop();
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

  test("a camera that hangs (connection open, no data) trips the watchdog after stallTimeoutMs of the reader's clock and recovers when it resumes (virtual timers)", async () => {
    const cam = await startRtspServer({ width: 160, height: 120, fps: 15 });
    const timers = new VirtualTimers();
    const r = reader(
      { cameraId: 'hang', url: cam.url, stallTimeoutMs: 1000, connectTimeoutMs: 2000 },
      undefined,
      timers,
    );
    const stalls: number[] = [];
    let lastFrameAt = 0;
    r.status$.subscribe((s) => {
      if (s.error?.code === 'CAMERA_STALLED') stalls.push(timers.now());
    });
    r.start();
    try {
      // The reader's clock stands still while the camera streams: no watchdog can fire.
      await waitFor(() => r.stats().decoded >= 5, 10_000, '5 frames');
      cam.pause();
      // Step the reader's clock. After each step, real time for frames still in flight after the
      // pause to come out (each restarts the stall count) and for a killed ffmpeg to be reported
      // (its status comes when the process has closed), before the clock moves on.
      for (let step = 0; step < 60 && stalls.length === 0; step++) {
        const decoded = r.stats().decoded;
        await timers.advance(100);
        await Promise.race([firstValueFrom(r.status$, { defaultValue: undefined }), sleep(200)]);
        if (r.stats().decoded > decoded) lastFrameAt = timers.now();
      }
      assert.ok(stalls.length >= 1, 'CAMERA_STALLED');
      const silentMs = stalls[0]! - lastFrameAt;
      // The watchdog checks every stallTimeoutMs / 4 (250 ms); a frame is seen at the step after it.
      assert.ok(
        silentMs > 1000 - 100 && silentMs <= 1000 + 250 + 100,
        `stalled after ${silentMs} ms of silence`,
      );
      cam.resume();
      const before = r.stats().decoded;
      await timers.advance(250); // the reconnect backoff (150 ms ± 20 %)
      await waitFor(() => r.stats().decoded > before + 3, 20_000, 'frames after resuming');
      assert.equal(r.stats().gaps, 1);
      assert.equal(r.stats().connected, true);
    } finally {
      cam.resume();
      await r.stop();
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
