/**
 * Issue 5, runtime device management through the whole gateway: a GatewayApp started from
 * a YAML file with BLE enabled (real noble over fake bindings), real mosquitto, real HTTP.
 * A wearable added over HTTP connects and streams into the pipeline under its subject; an
 * MQTT `assign_device` request moves it to another subject; `remove_device` disconnects it.
 * Every change lands in the file's `ble.devices`, with the operator's comments kept, and
 * the device's retained state on MQTT follows.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { NobleBindings } from '@abandonware/noble/with-bindings';
import { GatewayApp } from '../../gateway/app.ts';
import { loadConfig } from '../../gateway/config/index.ts';
import type { DeviceState } from '../../gateway/domain/events.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import type { HopDecision } from '../../gateway/pipeline/stages/decisions.ts';
import { FakeBindings } from '../fakes/noble/fake-bindings.ts';
import { ORIGIN_NS, seeded } from '../fakes/noble/harness.ts';
import { WitMotionSim } from '../fakes/noble/sim-devices.ts';
import { VirtualTimers } from '../fakes/virtual-timers.ts';
import { commandRequest, observe, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

const GW = 'manage';
const TOKEN = 'manage-token-1234';
const WIT_UUID = 'c0ffee000031';
const WIT_ADDRESS = 'C0:FF:EE:00:00:31';

let broker: Mosquitto;
let dir: string;

before(async () => {
  broker = await startMosquitto();
  dir = await mkdtemp(join(tmpdir(), 'mujo-ble-manage-'));
});
after(async () => {
  await broker?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('add over HTTP, assign and remove over MQTT: the device streams, moves subject, disconnects, and the config file follows', async () => {
  const file = join(dir, 'gateway.yaml');
  await writeFile(
    file,
    `# Clinic room 3
gateway:
  id: ${GW}
model:
  path: test/fixtures/tiny-model
  providers: [cpu]
replay:
  enabled: false
mqtt:
  url: ${broker.url}
  queue:
    spoolDir: ${join(dir, 'spool')}
  homeAssistant:
    enabled: true
    discoveryPrefix: ha-ble
http:
  port: 0
  token: ${TOKEN}
ingest:
  enabled: false
ble:
  enabled: true   # the USB dongle
  devices: []
log:
  level: silent
`,
  );
  const { config } = await loadConfig({ file, env: {} });
  const timers = new VirtualTimers();
  const bindings = new FakeBindings({ timers, random: seeded(21) });
  bindings.addDevice(new WitMotionSim({ uuid: WIT_UUID }));
  const app = new GatewayApp(config, {
    logger: silentLogger(),
    configFile: file,
    clock: { nowNs: () => ORIGIN_NS + timers.now() * 1e6 },
    bleBindings: bindings as unknown as NobleBindings,
    timers,
  });
  const decisions: HopDecision[] = [];
  app.decisions$.subscribe((d) => decisions.push(d));
  const listener = await observe(broker.url, [
    `mujo/${GW}/devices/+/state`,
    `mujo/${GW}/response/+`,
    'ha-ble/#',
  ]);
  // Radio time runs ~10× real time in the background for as long as the test needs it.
  let pumping = true;
  const pump = (async () => {
    while (pumping) {
      await timers.advance(20);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  const deviceState = (predicate: (s: DeviceState) => boolean) =>
    listener.messages
      .filter((m) => m.topic === `mujo/${GW}/devices/wit/state`)
      .map((m) => JSON.parse(m.payload.toString()) as DeviceState)
      .find(predicate);
  const request = (action: string, body: object) =>
    commandRequest<{
      ok: boolean;
      result?: { device: string; persisted: boolean; config: { subject?: string } | null };
      error?: { code: string; message: string };
    }>(listener, GW, TOKEN, action, body);

  try {
    const endpoints = await app.start();
    assert.ok(endpoints.http);

    // Add over HTTP.
    const res = await fetch(`${endpoints.http}/api/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'wit',
        address: WIT_ADDRESS,
        family: 'witmotion',
        placement: 'wrist',
        subject: 'alice',
      }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const added = (await res.json()) as { persisted: boolean; file: string };
    assert.deepEqual([added.persisted, added.file], [true, file]);

    const listed = await until('wit connected on /api/devices', async () => {
      const body = (await (await fetch(`${endpoints.http}/api/devices`)).json()) as {
        devices: DeviceState[];
      };
      return body.devices.find((d) => d.device === 'wit' && d.connected && d.rateHz !== null);
    });
    assert.equal(listed.subject, 'alice');
    await until('retained connected state on MQTT', () => deviceState((s) => s.connected));
    // Home Assistant learns of the wearable added at runtime, with its battery and signal.
    const discovered = await until('Home Assistant discovery for wit', () => {
      const configs = listener.messages.filter(
        (m) => m.topic.startsWith('ha-ble/') && m.topic.includes('wit') && m.payload.length > 0,
      );
      return configs.length >= 2 ? configs : undefined;
    });
    const classes = discovered.map(
      (m) => (JSON.parse(m.payload.toString()) as { device_class?: string }).device_class,
    );
    assert.ok(classes.includes('battery'), `wit announced without a battery sensor: ${classes.join()}`);
    await until('decisions for alice from wit', () =>
      decisions.find((d) => d.subjectId === 'alice' && d.sources.includes('wit')),
    );
    const health = (await (await fetch(`${endpoints.http}/health`)).json()) as {
      components: Record<string, { status: string }>;
    };
    assert.equal(health.components['ble']?.status, 'up');

    // Assign over MQTT.
    const assigned = await request('assign_device', { device: 'wit', subject: 'bob' });
    assert.equal(assigned.ok, true, JSON.stringify(assigned.error));
    assert.equal(assigned.result?.config?.subject, 'bob');
    const mark = decisions.length;
    await until('decisions for bob from wit', () =>
      decisions.slice(mark).find((d) => d.subjectId === 'bob' && d.sources.includes('wit')),
    );
    let saved = (await loadConfig({ file, env: {} })).config.ble.devices;
    assert.deepEqual(
      saved.map((d) => [d.id, d.subject, d.placement, d.address]),
      [['wit', 'bob', 'wrist', WIT_ADDRESS]],
    );

    // A bad request is answered, not ignored.
    const bad = await request('add_device', { config: { family: 'witmotion' } });
    assert.equal(bad.ok, false);
    assert.equal(bad.error?.code, 'DEVICE_INVALID');
    const noDevice = await request('remove_device', {});
    assert.equal(noDevice.error?.code, 'DEVICE_INVALID');

    // Remove over MQTT.
    const removed = await request('remove_device', { device: 'wit' });
    assert.equal(removed.ok, true, JSON.stringify(removed.error));
    await until('wit disconnected', () => (bindings.isConnected(WIT_UUID) ? undefined : true));
    await until('retained disconnected state after removal', () =>
      listener.messages
        .filter((m) => m.topic === `mujo/${GW}/devices/wit/state`)
        .map((m) => JSON.parse(m.payload.toString()) as DeviceState)
        .at(-1)?.connected === false
        ? true
        : undefined,
    );
    const body = (await (await fetch(`${endpoints.http}/api/devices`)).json()) as { devices: DeviceState[] };
    assert.equal(
      body.devices.find((d) => d.device === 'wit'),
      undefined,
    );
    saved = (await loadConfig({ file, env: {} })).config.ble.devices;
    assert.deepEqual(saved, []);
    const text = await readFile(file, 'utf8');
    assert.ok(text.startsWith('# Clinic room 3\n') && text.includes('# the USB dongle'), text);
  } finally {
    const stopped = app.stop();
    await stopped.catch(() => undefined);
    pumping = false;
    await pump;
    await listener.close();
  }
});
