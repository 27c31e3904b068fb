import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { createMetricsRegistry } from '../../gateway/observability/metrics.ts';
import { MqttSink } from '../../gateway/sinks/mqtt/index.ts';
import { MqttImuIngest, encodeImuBinary, type IngestedImu } from '../../gateway/sources/mqtt/index.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

const G = 9.80665;

describe('IMU ingest over real mosquitto', () => {
  let broker: Mosquitto;
  let spool: string;
  let sink: MqttSink;
  let ingest: MqttImuIngest;
  let phone: MqttClient;
  const received: IngestedImu[] = [];
  const logLines: Array<Record<string, unknown>> = [];
  const registry = createMetricsRegistry({ defaultMetrics: false });

  before(async () => {
    broker = await startMosquitto();
    spool = mkdtempSync(join(tmpdir(), 'mujo-ingest-'));
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _e, cb) {
          for (const l of chunk.toString().split('\n').filter(Boolean))
            logLines.push(JSON.parse(l) as Record<string, unknown>);
          cb();
        },
      }),
    );
    sink = new MqttSink({ url: broker.url, gatewayId: 'gw-i', queue: { spoolDir: spool }, logger, registry });
    ingest = new MqttImuIngest({
      subscriber: sink,
      topics: sink.topics,
      subjectForDevice: (d) => (d === 'phone1' || d === 'watch1' ? 's1' : undefined),
      maxSamplesPerMessage: 1000,
      logger,
      registry,
      rejectLogIntervalMs: 60000,
    });
    ingest.samples$.subscribe((m) => received.push(m));
    ingest.start();
    await sink.start();
    await sink.waitConnected(5000);
    phone = await connectAsync(broker.url);
    await sink.whenSubscribed();
  });
  after(async () => {
    await phone.endAsync();
    ingest.stop();
    await sink.stop();
    await broker.dispose();
    rmSync(spool, { recursive: true, force: true });
  });

  async function waitReceived(n: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (received.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} decoded messages, have ${received.length}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async function metric(name: string): Promise<string> {
    return registry.getSingleMetricAsString(name);
  }

  it('decodes the JSON format (units converted, device clock mapped onto the gateway clock)', async () => {
    const before = received.length;
    await phone.publishAsync(
      'mujo/gw-i/ingest/phone1/imu',
      JSON.stringify({
        v: 1,
        t0Ns: '1717000000123456789',
        tMs: [0, 20, 40],
        acc: [
          [0, 0, 1],
          [0.1, 0, 1],
          [0.2, 0, 1],
        ],
        gyro: [
          [0, 0, 90],
          [0, 0, 180],
          [0, 0, -90],
        ],
        accUnit: 'g',
        gyroUnit: 'deg/s',
        placement: 'wrist',
        seq: 7,
      }),
      { qos: 1 },
    );
    await waitReceived(before + 1);
    const m = received[before]!;
    assert.equal(m.deviceId, 'phone1');
    assert.equal(m.format, 'json');
    assert.equal(m.clock, 'device');
    assert.equal(m.seq, 7);
    assert.equal(m.chunk.subjectId, 's1');
    assert.equal(m.chunk.placement, 'wrist');
    // t0 as a string keeps 64 bits; the chunk's float64 times resolve 256 ns at this magnitude.
    assert.deepEqual(
      [...(m.deviceTNs ?? [])],
      [0n, 20_000_000n, 40_000_000n].map((d) => Number(1717000000123456789n + d)),
    );
    // The chunk itself is on the gateway clock: the newest sample at arrival, 20 ms apart.
    assert.equal(m.chunk.clockDomain, 'gateway');
    assert.ok(
      Math.abs(m.chunk.tNs[2]! - m.receivedNs) < 1e6,
      `newest sample mapped to its arrival: ${m.chunk.tNs[2]! - m.receivedNs}`,
    );
    assert.ok(Math.abs(m.chunk.tNs[1]! - m.chunk.tNs[0]! - 20e6) < 1e3);
    assert.ok(Math.abs(m.chunk.values[2]! - G) < 1e-5, 'az of 1 g is 9.80665 m/s²');
    assert.ok(Math.abs(m.chunk.values[6]! - 0.1 * G) < 1e-5);
    assert.ok(Math.abs(m.chunk.values[5]! - Math.PI / 2) < 1e-6, '90 °/s is π/2 rad/s');
    assert.ok(m.receivedNs > Date.now() * 1e6 - 10e9);
  });

  it('decodes the binary MJI1 format, int16 and float32, round trip', async () => {
    const before = received.length;
    const n = 50;
    const values = new Float32Array(n * 6);
    for (let i = 0; i < n; i++)
      values.set([Math.sin(i / 5), Math.cos(i / 5), G, 0.5 * Math.sin(i / 3), -0.25, 1.5], i * 6);
    const t0 = 42_000_000_000n;
    await phone.publishAsync(
      'mujo/gw-i/ingest/watch1/imu',
      encodeImuBinary({ values, t0Ns: t0, rateHz: 50, encoding: 'int16', placement: 'wrist', seq: 1 }),
      { qos: 1 },
    );
    await phone.publishAsync(
      'mujo/gw-i/ingest/watch1/imu',
      encodeImuBinary({ values, t0Ns: t0 + 1_000_000_000n, rateHz: 50, encoding: 'float32', seq: 2 }),
      { qos: 1 },
    );
    await waitReceived(before + 2);
    const [q, f] = [received[before]!, received[before + 1]!];
    assert.equal(q.format, 'binary');
    assert.equal(q.chunk.tNs.length, n);
    assert.equal(q.deviceTNs?.[0], 42e9);
    assert.equal(q.deviceTNs?.[49], 42e9 + 49 * 20e6);
    assert.equal(q.chunk.placement, 'wrist');
    for (let i = 0; i < values.length; i++) {
      const tol = i % 6 < 3 ? (16 * G) / 32767 : (2000 * Math.PI) / 180 / 32767;
      assert.ok(
        Math.abs(q.chunk.values[i]! - values[i]!) <= tol / 2 + 1e-6,
        `int16 value ${i} within half an LSB`,
      );
    }
    assert.deepEqual(f.chunk.values, values, 'float32 is exact');
    assert.equal(f.deviceTNs?.[0], 43e9);
    assert.equal(f.seq, 2);
  });

  it('counts malformed messages by reason, logs them rate-limited, and keeps running', async () => {
    const bad: Array<[string, Buffer | string]> = [
      ['phone1', 'not json at all'],
      ['phone1', '{"v":1,"acc":[[0,0,1]]'],
      ['phone1', JSON.stringify({ v: 1, rateHz: 50, acc: [[0, 0, 1]], gyro: [[0, 0]] })],
      [
        'phone1',
        JSON.stringify({
          v: 1,
          rateHz: 50,
          acc: [
            [0, 0, 1],
            [0, 0, 1],
          ],
          gyro: [[0, 0, 0]],
        }),
      ],
      [
        'phone1',
        JSON.stringify({
          v: 1,
          tMs: [0, 0],
          acc: [
            [0, 0, 1],
            [0, 0, 1],
          ],
          gyro: [
            [0, 0, 0],
            [0, 0, 0],
          ],
        }),
      ],
      ['phone1', Buffer.from('MJI1 too short')],
      ['phone1', Buffer.alloc(0)],
      [
        'phone1',
        Buffer.concat([
          encodeImuBinary({ values: new Float32Array(6), t0Ns: 1n, rateHz: 50, encoding: 'float32' }),
          Buffer.from([0]),
        ]),
      ],
    ];
    const before = received.length;
    for (const [device, payload] of bad)
      await phone.publishAsync(`mujo/gw-i/ingest/${device}/imu`, payload, { qos: 1 });
    // A good message after the bad ones proves the ingest is alive, and fixes the ordering point.
    await phone.publishAsync(
      'mujo/gw-i/ingest/phone1/imu',
      JSON.stringify({ v: 1, rateHz: 100, acc: [[0, 0, 9.8]], gyro: [[0, 0, 0]] }),
      { qos: 1 },
    );
    await waitReceived(before + 1);
    assert.equal(received.length, before + 1, 'only the good message came through');
    assert.equal(received[before]!.clock, 'gateway', 'no t0: stamped on arrival');
    const text = await metric('mujo_ingest_rejected_total');
    for (const reason of [
      'unknown_format',
      'json_syntax',
      'json_schema',
      'length_mismatch',
      'time_not_ascending',
      'binary_header',
      'empty',
      'binary_length',
    ]) {
      assert.match(text, new RegExp(`reason="${reason}"} 1\\b`), `${reason} counted once`);
    }
    const logged = logLines.filter((l) => l['code'] === 'INGEST_REJECTED' && l['device'] === 'phone1');
    assert.equal(logged.length, 1, 'one log line per device per interval, however many bad messages');
  });

  it('reports an unknown device once, counts its messages, and still emits its samples unassigned', async () => {
    const before = received.length;
    const msg = JSON.stringify({ v: 1, rateHz: 50, acc: [[0, 0, 9.8]], gyro: [[0, 0, 0]] });
    for (let i = 0; i < 3; i++) await phone.publishAsync('mujo/gw-i/ingest/stranger/imu', msg, { qos: 1 });
    await waitReceived(before + 3);
    assert.equal(received[before]!.chunk.subjectId, undefined);
    assert.equal(
      logLines.filter((l) => l['code'] === 'INGEST_UNKNOWN_DEVICE' && l['device'] === 'stranger').length,
      1,
    );
    assert.match(await metric('mujo_ingest_unknown_devices_total'), /mujo_ingest_unknown_devices_total 1\b/);
    assert.match(
      await metric('mujo_ingest_unassigned_messages_total'),
      /mujo_ingest_unassigned_messages_total 3\b/,
    );
  });
});
