/**
 * A phone publishing on its own clock (the documented, preferred way: `t0Ns` = the phone's
 * boot clock) through real mosquitto: its samples must reach every consumer on the gateway
 * clock — the InfluxDB `imu` measurement in real VictoriaMetrics and the recorder's CSV —
 * not only the pipeline.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectAsync } from 'mqtt';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { influxConfigFor, startVictoriaMetrics, type VictoriaMetrics } from '../helpers/victoria-metrics.ts';

let broker: Mosquitto;
let vm: VictoriaMetrics;
let workDir: string;

before(async () => {
  [broker, vm] = await Promise.all([startMosquitto(), startVictoriaMetrics()]);
  workDir = await mkdtemp(join(tmpdir(), 'mujo-device-clock-'));
});

after(async () => {
  await Promise.all([broker?.dispose(), vm?.dispose()]);
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const RATE_HZ = 50;
const PER_MESSAGE = 10;
const MESSAGES = 15;
/** The phone's clock: nanoseconds since it booted, nowhere near the gateway's epoch time. */
const PHONE_BOOT_NS = 4_000_000_000_000n;

test('device-clock ingest reaches InfluxDB and the recorder on the gateway clock', async () => {
  const recordings = join(workDir, 'recordings');
  const config = validateConfig({
    gateway: { id: 'gwclock' },
    mqtt: { url: broker.url, queue: { spoolDir: join(workDir, 'mqtt') } },
    http: { enabled: false },
    replay: { enabled: false },
    subjects: [{ id: 'ann', devices: ['phone1'] }],
    influx: influxConfigFor(vm, join(workDir, 'influx'), { imuDownsampleHz: 10 }),
    recorder: { enabled: true, dir: recordings, autoStart: true, name: 'phone' },
    log: { level: 'silent' },
  });
  const app = new GatewayApp(config, { logger: silentLogger() });
  await app.start();
  const phone = await connectAsync(broker.url);
  // The first message's samples were taken up to 180 ms before it arrived: let the
  // recording (autoStart) be older than that, so none of them predates it.
  await sleep(500);
  const firstWallMs = Date.now();
  try {
    for (let m = 0; m < MESSAGES; m++) {
      const t0Ns = PHONE_BOOT_NS + BigInt(m * PER_MESSAGE) * BigInt(1e9 / RATE_HZ);
      const acc = Array.from({ length: PER_MESSAGE }, (_, i) => [0.1 * i, 0, 9.81]);
      const gyro = Array.from({ length: PER_MESSAGE }, () => [0, 0, 0.5]);
      await phone.publishAsync(
        'mujo/gwclock/ingest/phone1/imu',
        JSON.stringify({ v: 1, t0Ns: t0Ns.toString(), rateHz: RATE_HZ, acc, gyro, placement: 'wrist' }),
        { qos: 1 },
      );
      // The phone sends as it samples: one message per 200 ms.
      await sleep((1000 * PER_MESSAGE) / RATE_HZ);
    }
  } finally {
    await phone.endAsync();
  }
  const lastWallMs = Date.now();
  await app.stop();

  // InfluxDB: imu points, on the gateway clock (within the publishing span, not at boot time).
  const series = await vm.exportSettled('{__name__="imu_az",gateway="gwclock",device="phone1"}', 10);
  const stamps = series.flatMap((s) => s.timestamps);
  assert.ok(stamps.length >= 10, `only ${stamps.length} imu points reached the database`);
  for (const ms of stamps) {
    assert.ok(
      ms >= firstWallMs - 2000 && ms <= lastWallMs + 2000,
      `imu point at ${new Date(ms).toISOString()} is outside the publishing span`,
    );
  }
  for (const v of series.flatMap((s) => s.values)) assert.ok(Math.abs(v - 9.81) < 1e-3);

  // Recorder: every sample in imu/phone1.csv, times relative to the recording's start.
  const [dir] = await readdir(recordings);
  assert.ok(dir, 'no recording was written');
  const meta = JSON.parse(await readFile(join(recordings, dir, 'recording.json'), 'utf8')) as {
    startTime: string;
  };
  const csv = (await readFile(join(recordings, dir, 'imu', 'phone1.csv'), 'utf8')).trim().split('\n');
  const rows = csv.slice(1).map((line) => Number(line.split(',')[0]));
  assert.equal(rows.length, MESSAGES * PER_MESSAGE, 'every published sample is in the recording');
  const startMs = Date.parse(meta.startTime);
  const lastRowMs = startMs + (rows.at(-1) as number) / 1e6;
  assert.ok(lastRowMs <= lastWallMs + 2000 && lastRowMs >= firstWallMs, 'recorded times are gateway times');
  for (let i = 1; i < rows.length; i++) assert.ok((rows[i] as number) > (rows[i - 1] as number));
});
