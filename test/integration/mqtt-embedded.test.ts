import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startEmbeddedBroker } from '../../gateway/broker/embedded.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { createMetricsRegistry } from '../../gateway/observability/metrics.ts';
import { MqttSink } from '../../gateway/sinks/mqtt/index.ts';
import { MqttImuIngest, encodeImuBinary, type IngestedImu } from '../../gateway/sources/mqtt/index.ts';
import { observe } from '../helpers/mosquitto.ts';
import { activityEventFor, subjectStateFor } from '../helpers/mqtt-payloads.ts';

describe('embedded aedes broker (MQTT 3.1.1)', () => {
  it('carries events, retained state, requests and ingest between v4 clients, and closes', async () => {
    const broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0 });
    assert.match(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(broker.protocolVersion, 4);
    const spool = mkdtempSync(join(tmpdir(), 'mujo-embedded-'));
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const sink = new MqttSink({
      url: broker.url,
      protocolVersion: broker.protocolVersion,
      gatewayId: 'demo',
      queue: { spoolDir: spool },
      logger: silentLogger(),
      registry,
    });
    const ingest = new MqttImuIngest({
      subscriber: sink,
      topics: sink.topics,
      subjectForDevice: () => 's1',
      maxSamplesPerMessage: 100,
      logger: silentLogger(),
      registry,
    });
    const decoded: IngestedImu[] = [];
    ingest.samples$.subscribe((m) => decoded.push(m));
    ingest.start();
    const obs = await observe(broker.url, ['mujo/demo/#'], { protocolVersion: 4 });
    try {
      await sink.start();
      await sink.waitConnected(5000);
      await sink.whenSubscribed();
      for (let seq = 0; seq < 10; seq++) sink.publishActivity(activityEventFor('demo', 's1', seq));
      sink.publishSubjectState(subjectStateFor('demo', 's1', 'squat'));
      assert.ok(await sink.waitIdle(5000));
      const events = await obs.waitFor((m) => m.topic.endsWith('/activity'), 10);
      assert.deepEqual(
        events.map((m) => (JSON.parse(m.payload.toString()) as { seq: number }).seq),
        [...Array(10).keys()],
      );

      await obs.client.publishAsync('mujo/demo/request/status', JSON.stringify({ correlationId: 'e-1' }), {
        qos: 1,
      });
      const [resp] = await obs.waitFor((m) => m.topic === 'mujo/demo/response/status');
      assert.equal(
        (JSON.parse(resp!.payload.toString()) as { correlationId: string; ok: boolean }).correlationId,
        'e-1',
      );

      await obs.client.publishAsync(
        'mujo/demo/ingest/w1/imu',
        encodeImuBinary({ values: new Float32Array(12).fill(1), t0Ns: 5n, rateHz: 50, encoding: 'float32' }),
        { qos: 1 },
      );
      for (let i = 0; i < 100 && decoded.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(decoded.length, 1);
      assert.equal(decoded[0]!.chunk.tNs.length, 2);

      // Retained state reaches a late v4 subscriber through aedes too.
      const late = await observe(broker.url, ['mujo/demo/subjects/+/state'], { protocolVersion: 4 });
      const [state] = await late.waitFor((m) => m.retain);
      assert.equal((JSON.parse(state!.payload.toString()) as { activity: string }).activity, 'squat');
      await late.close();
    } finally {
      await obs.close();
      ingest.stop();
      await sink.stop();
      await broker.close();
      rmSync(spool, { recursive: true, force: true });
    }
  });
});
