/**
 * The discovery payloads by Home Assistant's current rules (test/helpers/home-assistant-rules.ts),
 * with every template rendered by Jinja2 against the payloads the gateway publishes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ACTIVITY_EVENT_TYPES,
  deviceDiscovery,
  gatewayDiscovery,
  reachableUrl,
  subjectDiscovery,
  type DiscoveryContext,
} from '../../../gateway/sinks/mqtt/home-assistant.ts';
import { mqttTopics } from '../../../gateway/sinks/mqtt/topics.ts';
import {
  discoveryProblems,
  isNumericSensor,
  isNumericState,
  renderTemplates,
} from '../../helpers/home-assistant-rules.ts';

const ctx: DiscoveryContext = {
  prefix: 'homeassistant',
  gatewayId: 'gym-1',
  topics: mqttTopics('mujo', 'gym-1'),
  softwareVersion: '0.1.0',
  configurationUrl: 'http://10.0.0.5:8080',
};

const all = [
  ...gatewayDiscovery(ctx),
  ...subjectDiscovery(ctx, 'Anna K'),
  ...deviceDiscovery(ctx, 'wrist-1', 'imu'),
  ...deviceDiscovery(ctx, 'cam-1', 'camera'),
];

test('every entity follows the discovery rules: default_entity_id, no object_id, known options, categories', () => {
  assert.deepEqual(discoveryProblems(all), []);
  for (const m of all) assert.ok(!('object_id' in m.payload));
  const battery = all.find((m) => m.topic === 'homeassistant/sensor/mujo_gym_1/wrist_1_battery/config');
  assert.equal(battery?.payload['default_entity_id'], 'sensor.mujo_gym_1_wrist_1_battery');
});

test('the rules checker refuses what Home Assistant refuses', () => {
  const good = deviceDiscovery(ctx, 'wrist-1', 'imu')[1]!;
  const broken = [
    { ...good, payload: { ...good.payload, object_id: 'x' } },
    {
      ...good,
      topic: 'homeassistant/sensor/mujo_gym_1/other/config',
      payload: { ...good.payload, unique_id: 'u2', default_entity_id: 'binary_sensor.x' },
    },
    {
      ...good,
      topic: 'homeassistant/sensor/mujo_gym_1/third/config',
      payload: { ...good.payload, unique_id: 'u3', entity_category: 'config' },
    },
    {
      ...good,
      topic: 'homeassistant/sensor/mujo_gym_1/fourth/config',
      payload: { ...good.payload, unique_id: 'u4', device: { name: 'x', configuration_url: 'not a url' } },
    },
  ];
  const problems = discoveryProblems(broken);
  assert.ok(problems.some((p) => p.includes('object_id is deprecated')));
  assert.ok(problems.some((p) => p.includes('default_entity_id binary_sensor.x')));
  assert.ok(problems.some((p) => p.includes('entity_category config')));
  assert.ok(problems.some((p) => p.includes('device without identifiers')));
  assert.ok(problems.some((p) => p.includes('configuration_url not a url')));
});

test('device diagnostics are entity_category diagnostic; a camera has no battery or RSSI entity', () => {
  const camera = deviceDiscovery(ctx, 'cam-1', 'camera');
  assert.deepEqual(
    camera.map((m) => m.topic.split('/')[3]),
    ['cam_1_connected', 'cam_1_rate'],
  );
  const wrist = deviceDiscovery(ctx, 'wrist-1', 'imu');
  assert.deepEqual(
    wrist.map((m) => m.topic.split('/')[3]),
    ['wrist_1_connected', 'wrist_1_rate', 'wrist_1_battery', 'wrist_1_rssi'],
  );
  for (const m of [...camera, ...wrist, ...gatewayDiscovery(ctx)])
    assert.equal(m.payload['entity_category'], 'diagnostic');
  // What a coach looks at is not a diagnostic.
  for (const m of subjectDiscovery(ctx, 's1')) assert.equal(m.payload['entity_category'], undefined);
});

test('every device links to the live page; a wildcard listen address becomes the host name', () => {
  for (const m of all) {
    const device = m.payload['device'] as Record<string, unknown>;
    assert.equal(device['configuration_url'], 'http://10.0.0.5:8080/');
  }
  assert.doesNotMatch(reachableUrl('http://0.0.0.0:8080')!, /0\.0\.0\.0/);
  const noHttp = subjectDiscovery({ ...ctx, configurationUrl: null }, 's1');
  assert.equal((noHttp[0]!.payload['device'] as Record<string, unknown>)['configuration_url'], undefined);
});

test('numeric sensors render a number or None (unknown), never a string, for known and unknown values', () => {
  const deviceStates = [
    {
      v: 1,
      gateway: 'gym-1',
      device: 'wrist-1',
      kind: 'imu',
      subject: 's1',
      connected: true,
      battery: 81,
      rssi: -67,
      rateHz: 50.2,
      dropped: 0,
      reconnects: 0,
      lastSeen: '2026-12-06T10:00:00Z',
    },
    {
      v: 1,
      gateway: 'gym-1',
      device: 'wrist-1',
      kind: 'imu',
      subject: 's1',
      connected: false,
      battery: null,
      rssi: null,
      rateHz: null,
      dropped: 0,
      reconnects: 1,
      lastSeen: null,
    },
  ];
  const subjectStates = [
    {
      v: 1,
      gateway: 'gym-1',
      subject: 's1',
      activity: 'squat',
      activityName: 'Squat',
      confidence: 0.874,
      since: '2026-12-06T10:00:00Z',
      reps: 7,
      updated: '2026-12-06T10:00:05Z',
      modalities: ['imu'],
      sources: ['wrist-1'],
    },
    {
      v: 1,
      gateway: 'gym-1',
      subject: 's1',
      activity: null,
      activityName: null,
      confidence: 0,
      since: null,
      reps: 0,
      updated: '2026-12-06T10:00:05Z',
      modalities: [],
      sources: [],
    },
  ];
  const numeric = all.filter((m) => isNumericSensor(m.topic, m.payload));
  assert.ok(numeric.length >= 5);
  const jobs = numeric.flatMap((m) =>
    (m.topic.includes('wrist_1')
      ? deviceStates
      : m.topic.includes('cam_1')
        ? deviceStates
        : subjectStates
    ).map((state) => ({
      template: String(m.payload['value_template']),
      payload: JSON.stringify(state),
    })),
  );
  const rendered = renderTemplates(jobs);
  rendered.forEach((r, i) => assert.ok(isNumericState(r), `${jobs[i]!.template} → ${JSON.stringify(r)}`));
  // An unknown battery is None, a known one its number.
  const battery = numeric.find((m) => m.topic.endsWith('wrist_1_battery/config'))!;
  assert.deepEqual(
    renderTemplates(
      deviceStates.map((s) => ({
        template: String(battery.payload['value_template']),
        payload: JSON.stringify(s),
      })),
    ),
    ['81', 'None'],
  );
});

test('the activity event fires a distinct event type per transition, each one of event_types', () => {
  const event = subjectDiscovery(ctx, 's1').find((m) => m.topic.includes('/event/'))!;
  assert.deepEqual(event.payload['event_types'], [...ACTIVITY_EVENT_TYPES]);
  const base = {
    v: 1,
    gateway: 'gym-1',
    subject: 's1',
    activity: 'squat',
    activityName: 'Squat',
    confidence: 0.87,
    topK: [],
    start: '2026-12-06T10:00:00Z',
    startNs: 1,
    model: 'default',
    modelVersion: '0.1.0',
    latencyMs: 12,
    seq: 1,
    modalities: ['imu'],
    sources: ['wrist-1'],
  };
  const events = [
    { ...base, transition: 'started' },
    {
      ...base,
      transition: 'changed',
      activity: 'lunge',
      activityName: 'Lunge',
      previous: 'squat',
      end: '2026-12-06T10:01:00Z',
      endNs: 2,
    },
    {
      ...base,
      transition: 'ended',
      activity: 'lunge',
      activityName: 'Lunge',
      confidence: 0.04,
      end: '2026-12-06T10:02:00Z',
      endNs: 3,
    },
  ];
  const rendered = renderTemplates(
    events.map((e) => ({ template: String(event.payload['value_template']), payload: JSON.stringify(e) })),
  );
  const fired = rendered.map((r) => JSON.parse(r) as Record<string, unknown>);
  assert.deepEqual(
    fired.map((f) => f['event_type']),
    ['started', 'changed', 'ended'],
  );
  for (const f of fired)
    assert.ok((event.payload['event_types'] as string[]).includes(String(f['event_type'])));
  assert.equal(fired[0]!['activity'], 'squat');
  assert.equal(fired[1]!['previous'], 'squat');
  // The ended activity's last probability is meaningless: not an attribute.
  assert.equal(fired[2]!['confidence'], null);
});
