import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { connectAsync } from 'mqtt';
import type { ActivityEvent, DeviceState, SubjectState } from '../../gateway/domain/events.ts';
import { HealthRegistry } from '../../gateway/observability/health.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { capturingLogger } from '../helpers/capturing-logger.ts';
import { createMetricsRegistry } from '../../gateway/observability/metrics.ts';
import { GatewayError } from '../../gateway/observability/errors.ts';
import { MqttSink, type RepsEvent } from '../../gateway/sinks/mqtt/index.ts';
import { observe, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { spawnChild } from '../helpers/mqtt-child.ts';
import {
  activityEventFor as activityEvent,
  deviceStateFor as deviceState,
  subjectStateFor as subjectState,
} from '../helpers/mqtt-payloads.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
const compiled = new Map<string, ValidateFunction>();
function schema(name: string): ValidateFunction {
  let validate = compiled.get(name);
  if (!validate) {
    const file = new URL(`../../config/schemas/${name}.schema.json`, import.meta.url);
    validate = ajv.compile(JSON.parse(readFileSync(file, 'utf8')) as object);
    compiled.set(name, validate);
  }
  return validate;
}
function assertValid(validate: ValidateFunction, payload: Buffer, what: string): unknown {
  const value: unknown = JSON.parse(payload.toString('utf8'));
  assert.ok(
    validate(value),
    `${what} does not match its schema: ${ajv.errorsText(validate.errors)}\n${payload.toString('utf8')}`,
  );
  return value;
}

describe('MQTT sink against real mosquitto', () => {
  let broker: Mosquitto;
  let spoolRoot: string;
  before(async () => {
    broker = await startMosquitto();
    spoolRoot = mkdtempSync(join(tmpdir(), 'mujo-spool-'));
  });
  after(async () => {
    await broker.dispose();
    rmSync(spoolRoot, { recursive: true, force: true });
  });

  function sink(gatewayId: string, extra: Partial<ConstructorParameters<typeof MqttSink>[0]> = {}) {
    return new MqttSink({
      url: broker.url,
      gatewayId,
      queue: { spoolDir: join(spoolRoot, gatewayId) },
      logger: silentLogger(),
      registry: createMetricsRegistry({ defaultMetrics: false }),
      softwareVersion: '0.1.0-test',
      ...extra,
    });
  }

  it('publishes availability, status, QoS 1 events and retained state whose payloads match their schemas', async () => {
    const health = new HealthRegistry();
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const { logger, lines } = capturingLogger();
    const gw = sink('gw-a', { health, registry, logger });
    const obs = await observe(broker.url, ['mujo/gw-a/#']);
    try {
      await gw.start();
      await gw.waitConnected(5000);
      gw.setStatus({
        model: { name: 'mujo-utd', version: '1.0.0' },
        encoders: [{ name: 'imu', modality: 'imu', provider: 'cpu' }],
      });
      const queuedAt = performance.now();
      for (let seq = 0; seq < 5; seq++) gw.publishActivity(activityEvent('gw-a', 's1', seq));
      gw.publishSubjectState(subjectState('gw-a', 's1', 'squat'));
      gw.publishDeviceState(deviceState('gw-a', 'wrist1', 80));
      const reps: RepsEvent = {
        v: 1,
        gateway: 'gw-a',
        subject: 's1',
        kind: 'rep',
        activity: 'squat',
        set: 1,
        count: 4,
        time: new Date().toISOString(),
        timeNs: Date.now() * 1e6,
        modality: 'imu',
        confidence: 0.8,
        latencyMs: 120,
        seq: 7,
      };
      gw.publishReps(reps);
      assert.equal(await gw.waitIdle(5000), true);
      const untilIdleS = (performance.now() - queuedAt) / 1000;

      const [online] = await obs.waitFor((m) => m.topic === 'mujo/gw-a/availability');
      assert.equal(online!.payload.toString(), 'online');
      const events = await obs.waitFor((m) => m.topic === 'mujo/gw-a/subjects/s1/activity', 5);
      const validateActivity = schema('mqtt-activity');
      assert.deepEqual(
        events.map((m) => (assertValid(validateActivity, m.payload, 'activity') as ActivityEvent).seq),
        [0, 1, 2, 3, 4],
      );
      for (const m of events) {
        assert.equal(m.qos, 1, 'activity events are delivered with QoS 1');
        assert.equal(m.retain, false);
      }
      const [state] = await obs.waitFor((m) => m.topic === 'mujo/gw-a/subjects/s1/state');
      assertValid(schema('mqtt-subject-state'), state!.payload, 'subject state');
      const [device] = await obs.waitFor((m) => m.topic === 'mujo/gw-a/devices/wrist1/state');
      assertValid(schema('mqtt-device-state'), device!.payload, 'device state');
      const [rep] = await obs.waitFor((m) => m.topic === 'mujo/gw-a/subjects/s1/reps');
      assertValid(schema('mqtt-reps'), rep!.payload, 'reps');
      const statuses = await obs.waitFor(
        (m) => m.topic === 'mujo/gw-a/status' && m.payload.includes('mujo-utd'),
      );
      const status = assertValid(schema('mqtt-status'), statuses[0]!.payload, 'status') as {
        encoders: Array<{ provider: string }>;
        model: { version: string };
      };
      assert.equal(status.encoders[0]!.provider, 'cpu');
      assert.equal(status.model.version, '1.0.0');

      assert.equal(health.get('mqtt')?.status, 'up');
      const metrics = await registry.getSingleMetricAsString('mujo_mqtt_messages_published_total');
      assert.match(metrics, /kind="activity"} 5/);
      // Queued → acknowledged, one observation per acknowledged event, each within the time
      // the queue took to drain.
      const publishTimes = await registry.getSingleMetricAsString('mujo_mqtt_publish_seconds');
      const count = Number(/_count\{kind="activity"\} (\S+)/.exec(publishTimes)?.[1]);
      const sum = Number(/_sum\{kind="activity"\} (\S+)/.exec(publishTimes)?.[1]);
      assert.equal(count, 5);
      assert.ok(sum > 0 && sum <= 5 * untilIdleS, `sum ${sum} s for 5 events drained in ${untilIdleS} s`);
      assert.match(await registry.getSingleMetricAsString('mujo_mqtt_connected'), /mujo_mqtt_connected 1/);
      // The broker's Receive Maximum (mosquitto's default 20) caps the in-flight window, and
      // the connect line says so.
      const connected = lines().find((l) => l['msg'] === 'connected to MQTT broker');
      assert.equal(connected?.['brokerReceiveMaximum'], 20);
      assert.equal(connected?.['inFlightWindow'], 20);
    } finally {
      await obs.close();
      await gw.stop();
    }
    assert.equal(health.get('mqtt')?.status, 'stopped');
  });

  it('keeps subject and device state retained for a late subscriber, latest value only, and says offline on stop', async () => {
    const gw = sink('gw-b');
    await gw.start();
    await gw.waitConnected(5000);
    gw.publishSubjectState(subjectState('gw-b', 's1', 'walk'));
    gw.publishSubjectState(subjectState('gw-b', 's1', 'squat'));
    gw.publishDeviceState(deviceState('gw-b', 'wrist1', 80));
    gw.publishDeviceState(deviceState('gw-b', 'wrist1', 79));
    assert.equal(await gw.waitIdle(5000), true);
    await gw.stop();

    const late = await observe(broker.url, ['mujo/gw-b/#']);
    try {
      const got = await late.waitFor((m) => m.retain, 4);
      const byTopic = new Map(got.map((m) => [m.topic, m]));
      assert.equal(
        (JSON.parse(byTopic.get('mujo/gw-b/subjects/s1/state')!.payload.toString()) as SubjectState).activity,
        'squat',
      );
      assert.equal(
        (JSON.parse(byTopic.get('mujo/gw-b/devices/wrist1/state')!.payload.toString()) as DeviceState)
          .battery,
        79,
      );
      assert.equal(byTopic.get('mujo/gw-b/availability')!.payload.toString(), 'offline');
      const status = JSON.parse(byTopic.get('mujo/gw-b/status')!.payload.toString()) as { state: string };
      assert.equal(status.state, 'offline');
    } finally {
      await late.close();
    }
  });

  it('answers requests on response/<action> with the correlation id, coded errors for unknown actions and bad bodies', async () => {
    const gw = sink('gw-c');
    let reloads = 0;
    gw.registerCommand('reload_model', (args) => {
      reloads++;
      if (args['path'] === 'missing') throw new GatewayError('MODEL_NOT_FOUND', 'no model at missing');
      return { reloaded: true, path: args['path'] ?? null };
    });
    await gw.start();
    await gw.waitConnected(5000);
    const obs = await observe(broker.url, ['mujo/gw-c/response/#', 'replies/#']);
    const validate = schema('mqtt-response');
    try {
      const ask = async (action: string, body: string) =>
        obs.client.publishAsync(`mujo/gw-c/request/${action}`, body, { qos: 1 });
      await ask('reload_model', JSON.stringify({ correlationId: 'r-1', path: 'models/x' }));
      await ask('reload_model', JSON.stringify({ correlationId: 'r-2', path: 'missing' }));
      await ask('status', JSON.stringify({ correlationId: 'r-3' }));
      await ask('self_destruct', JSON.stringify({ correlationId: 'r-4' }));
      await ask('status', 'not json');
      const answers = await obs.waitFor((m) => m.topic.startsWith('mujo/gw-c/response/'), 5);
      const byId = new Map<string | null, Record<string, unknown>>();
      for (const m of answers) {
        const r = assertValid(validate, m.payload, 'response') as Record<string, unknown>;
        assert.equal(m.topic, `mujo/gw-c/response/${r['action'] as string}`);
        byId.set(r['correlationId'] as string | null, r);
      }
      assert.deepEqual(byId.get('r-1')!['result'], { reloaded: true, path: 'models/x' });
      assert.deepEqual(byId.get('r-2')!['error'], {
        code: 'MODEL_NOT_FOUND',
        message: 'no model at missing',
      });
      const status = byId.get('r-3')!['result'] as { status: unknown };
      assertValid(schema('mqtt-status'), Buffer.from(JSON.stringify(status.status)), 'status result');
      assert.equal((byId.get('r-4')!['error'] as { code: string }).code, 'MQTT_UNKNOWN_ACTION');
      assert.equal((byId.get(null)!['error'] as { code: string }).code, 'MQTT_BAD_REQUEST');
      assert.equal(reloads, 2);

      // MQTT v5 request/response: response topic and correlation data as properties.
      await obs.client.publishAsync('mujo/gw-c/request/status', '', {
        qos: 1,
        properties: { responseTopic: 'replies/me', correlationData: Buffer.from('v5-corr') },
      });
      const [reply] = await obs.waitFor((m) => m.topic === 'replies/me');
      const r = assertValid(validate, reply!.payload, 'v5 response') as {
        correlationId: string;
        ok: boolean;
      };
      assert.equal(r.correlationId, 'v5-corr');
      assert.equal(r.ok, true);
      assert.deepEqual(reply!.properties?.['correlationData'], Buffer.from('v5-corr'));
    } finally {
      await obs.close();
      await gw.stop();
    }
  });

  it('last will: availability turns offline when the gateway process is killed', async () => {
    const obs = await observe(broker.url, ['mujo/gw-kill/availability']);
    const child = await spawnChild({
      url: broker.url,
      gatewayId: 'gw-kill',
      spoolDir: join(spoolRoot, 'gw-kill'),
      keepaliveS: 5,
    });
    try {
      await obs.waitFor((m) => m.payload.toString() === 'online');
      child.kill9();
      const offline = await obs.waitFor((m) => m.payload.toString() === 'offline', 1, 10000);
      assert.equal(offline.length, 1);
      // Retained: a client arriving now is told too.
      const late = await connectAsync(broker.url);
      const retained = await new Promise<string>((resolve) => {
        late.on('message', (_t, p) => resolve(p.toString()));
        void late.subscribeAsync('mujo/gw-kill/availability');
      });
      await late.endAsync();
      assert.equal(retained, 'offline');
    } finally {
      child.kill9();
      await obs.close();
    }
  });
});
