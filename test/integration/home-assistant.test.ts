/**
 * Home Assistant discovery against real mosquitto: with `mqtt.homeAssistant.enabled` the
 * gateway announces itself, every subject and every device (retained), and every announced
 * entity reads a topic the gateway really publishes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import {
  discoveryProblems,
  isNumericSensor,
  isNumericState,
  renderTemplates,
} from '../helpers/home-assistant-rules.ts';
import { observe, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

let broker: Mosquitto;
let workDir: string;

before(async () => {
  broker = await startMosquitto();
  workDir = await mkdtemp(join(tmpdir(), 'mujo-ha-'));
});

after(async () => {
  await broker?.dispose();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

function config(enabled: boolean, id: string) {
  return validateConfig({
    gateway: { id },
    model: { path: 'test/fixtures/tiny-model', providers: ['cpu'] },
    mqtt: {
      url: broker.url,
      queue: { spoolDir: join(workDir, id) },
      homeAssistant: { enabled, discoveryPrefix: 'ha-test' },
    },
    http: { enabled: false },
    replay: { path: 'test/fixtures/recording-small', speed: 20, loop: false },
    log: { level: 'silent' },
  });
}

test('discovery announces the gateway, each subject and each device, on topics the gateway publishes', async () => {
  const app = new GatewayApp(config(true, 'ha1'), { logger: silentLogger() });
  await app.start();
  const announced = await observe(broker.url, ['ha-test/#']);
  const published = await observe(broker.url, ['mujo/ha1/#']);
  try {
    // 1 gateway entity + 4 per subject (2 subjects) + 4 per wearable, 2 per camera (no battery, no RSSI).
    const snapshot = app.devices.snapshot();
    const devices = snapshot.map((d) => d.device);
    assert.ok(devices.length >= 2);
    const expected = 1 + 4 * 2 + snapshot.reduce((n, d) => n + (d.kind === 'camera' ? 2 : 4), 0);
    const configs = await announced.waitFor((m) => m.retain, expected);
    const payloads = configs.map((m) => ({
      topic: m.topic,
      body: JSON.parse(m.payload.toString()) as Record<string, unknown>,
    }));
    assert.equal(
      new Set(payloads.map((p) => p.body['unique_id'])).size,
      expected,
      'unique ids must be unique',
    );

    const event = payloads.find((p) => p.topic === 'ha-test/event/mujo_ha1/s1_activity/config');
    assert.ok(event, 'subject s1 has an event entity');
    assert.deepEqual(event.body['event_types'], ['started', 'changed', 'ended']);
    // Home Assistant's discovery rules hold for every payload as it arrived from the broker.
    assert.deepEqual(discoveryProblems(payloads.map((p) => ({ topic: p.topic, payload: p.body }))), []);
    assert.equal(event.body['state_topic'], 'mujo/ha1/subjects/s1/activity');
    const reps = payloads.find((p) => p.topic === 'ha-test/sensor/mujo_ha1/s1_reps/config');
    assert.ok(reps, 'subject s1 has a repetitions sensor');
    assert.equal(reps.body['state_topic'], 'mujo/ha1/subjects/s1/state');

    // Every entity's state topic is one the gateway actually publishes (retained ones arrive on subscribe).
    await published.waitFor(
      (m) => m.topic.endsWith('/state') && m.topic.includes('/devices/'),
      devices.length,
    );
    await published.waitFor((m) => m.topic === 'mujo/ha1/availability' && m.payload.toString() === 'online');
    const stateTopics = new Set(payloads.map((p) => String(p.body['state_topic'])));
    for (const topic of stateTopics) {
      if (topic.endsWith('/activity')) continue; // events are not retained; checked above
      assert.ok(
        published.messages.some((m) => m.topic === topic),
        `announced state topic ${topic} has no message from the gateway`,
      );
    }
    for (const p of payloads) assert.equal(p.body['availability_topic'], 'mujo/ha1/availability');

    // Every numeric sensor, rendered by Jinja2 on the gateway's own retained state, is a number or None.
    const jobs = payloads
      .filter((p) => isNumericSensor(p.topic, p.body))
      .flatMap((p) =>
        published.messages
          .filter((m) => m.topic === p.body['state_topic'])
          .map((m) => ({ template: String(p.body['value_template']), payload: m.payload.toString() })),
      );
    assert.ok(jobs.length >= expected - devices.length - 3, `only ${jobs.length} numeric renders`);
    const rendered = renderTemplates(jobs);
    rendered.forEach((r, i) => assert.ok(isNumericState(r), `${jobs[i]!.template} → ${r}`));
    // Replayed devices report no battery: unknown (None), not the string 'unknown'.
    const batteryJobs = jobs.filter((j) => j.template.includes('battery'));
    assert.ok(batteryJobs.length > 0);
    for (const r of renderTemplates(batteryJobs)) assert.equal(r, 'None');
  } finally {
    await app.stop();
    await announced.close();
    await published.close();
  }
});

test('discovery is off by default: nothing under the discovery prefix', async () => {
  const app = new GatewayApp(config(false, 'ha2'), { logger: silentLogger() });
  await app.start();
  const announced = await observe(broker.url, ['ha-test/+/mujo_ha2/#']);
  const published = await observe(broker.url, ['mujo/ha2/availability']);
  try {
    await published.waitFor((m) => m.payload.toString() === 'online');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(announced.messages.length, 0);
  } finally {
    await app.stop();
    await announced.close();
    await published.close();
  }
});
