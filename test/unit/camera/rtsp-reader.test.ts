import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../../gateway/domain/time.ts';
import {
  RtspReader,
  classifyFfmpegFailure,
  ffmpegArgs,
} from '../../../gateway/sources/camera/rtsp-reader.ts';

/* The reader's pure parts: ffmpeg's command line, its error lines → codes, the backoff. */

const exit0 = { code: 0, signal: null };
const exit1 = { code: 1, signal: null };

test('ffmpeg args: TCP transport, no probing, scaled rgb24 raw frames on stdout', () => {
  const args = ffmpegArgs({ url: 'rtsp://10.0.0.2/s1', width: 320, height: 240 });
  const joined = args.join(' ');
  assert.match(
    joined,
    /-rtsp_transport tcp -analyzeduration 0 -probesize 32 -fflags nobuffer -i rtsp:\/\/10\.0\.0\.2\/s1 -an -vf scale=320:240 -pix_fmt rgb24 -f rawvideo pipe:1$/,
  );
  assert.ok(!ffmpegArgs({ url: 'http://cam/mjpeg', width: 8, height: 8 }).includes('-rtsp_transport'));
  assert.match(
    ffmpegArgs({ url: 'file:///tmp/a.mp4', width: 8, height: 8 }).join(' '),
    /-re -stream_loop -1/,
  );
  assert.match(
    ffmpegArgs({ url: 'rtsp://x/y', width: 8, height: 8, transport: 'udp' }).join(' '),
    /-rtsp_transport udp/,
  );
});

// Lines as ffmpeg 5.1 prints them at -loglevel error (captured from runs against gst-rtsp-server).
const cases: [string, string][] = [
  [
    '[rtsp @ 0x55c667ea0c00] method DESCRIBE failed: 401 Unauthorized\nrtsp://127.0.0.1:18555/cam: Server returned 401 Unauthorized (authorization failed)\n',
    'CAMERA_AUTH_REFUSED',
  ],
  [
    '[rtsp @ 0x556a43201c00] method DESCRIBE failed: 404 Not Found\nrtsp://127.0.0.1:18555/nope: Server returned 404 Not Found\n',
    'CAMERA_NOT_FOUND',
  ],
  [
    '[tcp @ 0x55c13348b840] Connection to tcp://127.0.0.1:18555?timeout=0 failed: Connection refused\nrtsp://127.0.0.1:18555/cam: Connection refused\n',
    'CAMERA_UNREACHABLE',
  ],
  ['Output file #0 does not contain any stream\n', 'CAMERA_UNSUPPORTED_CODEC'],
  ['Decoder (codec hevc) not found for input stream #0:0\n', 'CAMERA_UNSUPPORTED_CODEC'],
  ['[tcp @ 0x1] Failed to resolve hostname cam.invalid: Name or service not known\n', 'CAMERA_UNREACHABLE'],
];

for (const [stderr, code] of cases)
  test(`ffmpeg error → ${code}: ${stderr.split('\n').at(-2)}`, () => {
    const r = classifyFfmpegFailure(stderr, exit1);
    assert.equal(r.code, code);
    assert.ok(r.message.length > 10);
  });

test('a clean exit with nothing printed is a stream that ended; credentials never reach the message', () => {
  assert.equal(classifyFfmpegFailure('', exit0).code, 'CAMERA_STREAM_ENDED');
  const r = classifyFfmpegFailure(
    'rtsp://coach:s3cret@10.0.0.2/cam: Server returned 401 Unauthorized (authorization failed)\n',
    exit1,
  );
  assert.equal(r.code, 'CAMERA_AUTH_REFUSED');
  assert.ok(!r.message.includes('s3cret'), r.message);
  assert.match(r.message, /coach:<redacted>@/);
});

test('backoff doubles from initialMs up to maxMs, with ±jitter drawn from the injected random', () => {
  let rnd = 0.5;
  const r = new RtspReader(
    {
      cameraId: 'c',
      url: 'rtsp://x/y',
      width: 8,
      height: 8,
      fps: 5,
      backoff: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.2 },
    },
    { clock: systemClock, random: () => rnd },
  );
  const attempt = (n: number) => {
    (r as unknown as { attempt: number }).attempt = n;
    return r.backoffMs();
  };
  assert.deepEqual([0, 1, 2, 3, 4, 5].map(attempt), [100, 200, 400, 800, 1000, 1000]);
  rnd = 0;
  assert.equal(attempt(2), 320);
  rnd = 1;
  assert.equal(attempt(2), 480);
});

test('bad dimensions or fps are refused with a coded error', () => {
  assert.throws(
    () =>
      new RtspReader({ cameraId: 'c', url: 'rtsp://x', width: 0, height: 8, fps: 5 }, { clock: systemClock }),
    { code: 'CAMERA_BAD_CONFIG' },
  );
  assert.throws(
    () =>
      new RtspReader({ cameraId: 'c', url: 'rtsp://x', width: 8, height: 8, fps: 0 }, { clock: systemClock }),
    { code: 'CAMERA_BAD_CONFIG' },
  );
});
