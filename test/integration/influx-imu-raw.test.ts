/**
 * Raw IMU to InfluxDB (`influx.imuRaw`): every sample published through real mosquitto
 * reaches real VictoriaMetrics as its own `imu` point, however its chunk arrived:
 *  - a phone on its own clock whose chunks arrive out of order (a Wi-Fi retry, two
 *    connections), and
 *  - a phone without device time whose chunks arrive back to back, so the arrival-stamped
 *    sample times of consecutive chunks interleave a few ms apart.
 * Averaging into buckets (imuDownsampleHz) loses samples in both cases (a late sample's
 * bucket is already written; two samples in one bucket become one point). Each sample
 * carries a unique value, so the test checks that every one arrived, not only how many.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
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
  workDir = await mkdtemp(join(tmpdir(), 'mujo-imu-raw-'));
});

after(async () => {
  await Promise.all([broker?.dispose(), vm?.dispose()]);
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const RATE_HZ = 50;
const PER_MESSAGE = 10;
const CHUNKS = 12;
const PHONE_BOOT_NS = 9_000_000_000_000n;
/** Chunk order on the wire for the device-clock phone: pairs swapped, one chunk very late. */
const OUT_OF_ORDER = [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10].map((k) => (k === 2 ? 11 : k === 11 ? 2 : k));

/** A chunk whose acc x values are the samples' global indices (unique per sample). */
function chunk(firstSample: number, t0Ns?: bigint): string {
  const acc = Array.from({ length: PER_MESSAGE }, (_, i) => [firstSample + i, 0, 9.81]);
  const gyro = Array.from({ length: PER_MESSAGE }, () => [0, 0, 0.5]);
  return JSON.stringify({
    v: 1,
    ...(t0Ns !== undefined ? { t0Ns: t0Ns.toString() } : {}),
    rateHz: RATE_HZ,
    acc,
    gyro,
  });
}

test('raw IMU: out-of-order and back-to-back chunks through mosquitto, every sample lands in VictoriaMetrics', async () => {
  const config = validateConfig({
    gateway: { id: 'gwraw' },
    mqtt: { url: broker.url, queue: { spoolDir: join(workDir, 'mqtt') } },
    http: { enabled: false },
    replay: { enabled: false },
    subjects: [{ id: 'ann', devices: ['late', 'burst'] }],
    influx: influxConfigFor(vm, join(workDir, 'influx'), {
      imuRaw: true,
      statsIntervalMs: 0,
      // stop() writes everything, however slow a shared machine makes the server.
      drainTimeoutMs: 60_000,
    }),
    log: { level: 'silent' },
  });
  const app = new GatewayApp(config, { logger: silentLogger() });
  await app.start();
  const phone = await connectAsync(broker.url);
  try {
    // Device clock, chunks out of order.
    for (const k of OUT_OF_ORDER) {
      const t0Ns = PHONE_BOOT_NS + BigInt(k * PER_MESSAGE) * BigInt(1e9 / RATE_HZ);
      await phone.publishAsync('mujo/gwraw/ingest/late/imu', chunk(k * PER_MESSAGE, t0Ns), { qos: 1 });
    }
    // No device time, chunks back to back: each is stamped with its arrival, so the samples
    // of consecutive chunks (200 ms of data each) overlap in time.
    for (let k = 0; k < CHUNKS; k++)
      await phone.publishAsync('mujo/gwraw/ingest/burst/imu', chunk(k * PER_MESSAGE), { qos: 1 });
    // Stop only once the gateway has every message: QoS 1 is acknowledged by the broker, and
    // a message still on its way to the gateway when it stops is not the sink's to keep.
    const decoded = async () =>
      ((await app.metrics.getSingleMetric('mujo_ingest_samples_total')?.get())?.values ?? []).reduce(
        (sum, v) => sum + v.value,
        0,
      );
    const deadline = Date.now() + 30_000;
    while ((await decoded()) < 2 * CHUNKS * PER_MESSAGE && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
  } finally {
    await phone.endAsync();
  }
  await app.stop();

  const total = CHUNKS * PER_MESSAGE;
  const everySample = Array.from({ length: total }, (_, i) => i);
  for (const device of ['late', 'burst']) {
    const series = await vm.exportSettled(`{__name__="imu_ax",gateway="gwraw",device="${device}"}`, total);
    assert.equal(series.length, 1, `${device}: one series`);
    const values = series[0]!.values.slice().sort((a, b) => a - b);
    assert.deepEqual(values, everySample, `${device}: every published sample once`);
  }
});
