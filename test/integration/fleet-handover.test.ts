/**
 * One subject across two rooms, on real brokers set up as docs/fleet.md says (each room's
 * mosquitto bridged to a central one with the shipped deploy/fleet files): a phone worn by
 * `ann` publishes the demo recording's wrist IMU to room A's gateway, then walks into room B
 * and publishes to B's. The central broker must show one continuous subject: A ends ann's activity as soon as B claims her
 * (not `pipeline.idleEndS` later), B's `started` comes after A's `ended`, and at no moment do
 * both gateways hold a started activity for her. With handover off, A would keep her activity
 * for the 30 s idle timeout while B starts its own: the assertions below would fail.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { connectAsync, type MqttClient } from 'mqtt';
import { FLEET_ADMIN, startCentralBroker, startRoomBroker } from '../helpers/fleet.ts';
import { observe, type Mosquitto, type Observer, type Received } from '../helpers/mosquitto.ts';

const RATE_HZ = 50;
const PER_MESSAGE = 10;
const IDLE_END_S = 30;

const ROOMS = ['gwA', 'gwB'] as const;
let central: Mosquitto;
let observer: Observer;
let workDir: string;
const brokers = new Map<string, Mosquitto>();
const phones = new Map<string, MqttClient>();
const apps: GatewayApp[] = [];

/** The demo recording's wrist IMU rows, [acc, gyro] in m/s² and rad/s. */
const rows = readFileSync('recordings/demo/imu/imu-s2.csv', 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => line.split(',').slice(1).map(Number));

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'mujo-handover-'));
  central = await startCentralBroker(workDir, ROOMS);
  observer = await observe(
    central.url,
    ['mujo/+/subjects/ann/activity', 'mujo/fleet/subjects/ann/owner', 'mujo/+/bridge/state'],
    FLEET_ADMIN,
  );
  for (const id of ROOMS) {
    const broker = await startRoomBroker(id, central.port);
    brokers.set(id, broker);
    phones.set(id, await connectAsync(broker.url));
    const app = new GatewayApp(
      validateConfig({
        gateway: { id },
        mqtt: { url: broker.url, queue: { spoolDir: join(workDir, id) } },
        http: { enabled: false },
        replay: { enabled: false },
        subjects: [{ id: 'ann', devices: ['phone1'] }],
        pipeline: { idleEndS: IDLE_END_S },
        fleet: { handover: { enabled: true } },
        log: { level: 'silent' },
      }),
      { logger: silentLogger() },
    );
    await app.start();
    apps.push(app);
  }
});

after(async () => {
  for (const app of apps) await app.stop().catch(() => undefined);
  for (const phone of phones.values()) await phone.endAsync();
  for (const broker of brokers.values()) await broker.dispose();
  await observer?.close();
  await central?.dispose();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

let next = 0;
/**
 * Publishes the phone's next messages to a room's broker (the gateway's ingest), at the
 * phone's pace, until `until` holds.
 */
async function walkIn(gateway: string, until: () => boolean, maxMessages: number): Promise<void> {
  for (let m = 0; m < maxMessages && !until(); m++) {
    const chunk = Array.from({ length: PER_MESSAGE }, () => rows[next++ % rows.length]!);
    await phones.get(gateway)!.publishAsync(
      `mujo/${gateway}/ingest/phone1/imu`,
      JSON.stringify({
        v: 1,
        rateHz: RATE_HZ,
        acc: chunk.map((r) => r.slice(0, 3)),
        gyro: chunk.map((r) => r.slice(3, 6)),
        placement: 'wrist',
      }),
      { qos: 1 },
    );
    await sleep((1000 * PER_MESSAGE) / RATE_HZ);
  }
}

interface ActivityMessage {
  readonly gateway: string;
  readonly kind: string;
  readonly at: number;
}
const activity = (): ActivityMessage[] =>
  observer.messages
    .filter((m: Received) => m.topic.endsWith('/activity'))
    .map((m) => {
      const body = JSON.parse(m.payload.toString()) as { gateway: string; transition: string };
      return { gateway: body.gateway, kind: body.transition, at: observer.messages.indexOf(m) };
    });
const started = (gateway: string) => () =>
  activity().some((e) => e.gateway === gateway && e.kind === 'started');

test('a phone that moves from room A to room B is one subject: A ends, then B starts', async (t) => {
  for (const room of ROOMS)
    await observer.waitFor(
      (m) => m.topic === `mujo/${room}/bridge/state` && m.payload.toString() === '1',
      1,
      20_000,
    );
  await walkIn('gwA', started('gwA'), 150);
  assert.ok(started('gwA')(), 'room A recognised an activity for ann');
  // A few more seconds in room A, then the walk to room B (no data for 2 s).
  await walkIn('gwA', () => false, 15);
  await sleep(2000);
  const movedAt = Date.now();
  await walkIn('gwB', started('gwB'), 150);
  assert.ok(started('gwB')(), 'room B recognised an activity for ann');

  const events = activity();
  t.diagnostic(
    `central broker, in order: ${events.map((e) => `${e.gateway}:${e.kind}`).join(' ')}; ` +
      `B started ${((Date.now() - movedAt) / 1000).toFixed(1)} s after the move`,
  );
  const endedA = events.find((e) => e.gateway === 'gwA' && e.kind === 'ended');
  const startedB = events.find((e) => e.gateway === 'gwB' && e.kind === 'started');
  assert.ok(endedA, `room A never ended ann's activity: ${JSON.stringify(events)}`);
  assert.ok(startedB && endedA.at < startedB.at, `B started before A ended: ${JSON.stringify(events)}`);
  assert.ok(Date.now() - movedAt < IDLE_END_S * 1000, 'A ended on the handover, not on its idle timeout');

  // Never two started activities for ann at once: replay the event order across both rooms.
  const open = new Set<string>();
  for (const e of events) {
    if (e.kind === 'started') {
      assert.equal(
        open.size,
        0,
        `a second started while ${[...open].join()} held ann: ${JSON.stringify(events)}`,
      );
      open.add(e.gateway);
    } else if (e.kind === 'ended') open.delete(e.gateway);
  }

  // The retained owner says where ann is now.
  const owners = observer.messages.filter((m) => m.topic === 'mujo/fleet/subjects/ann/owner');
  const last = JSON.parse(owners.at(-1)!.payload.toString()) as { gateway: string };
  assert.equal(last.gateway, 'gwB');
  assert.deepEqual(
    apps.map((app) => (app.health.get('handover')?.details as { held: number } | undefined)?.held),
    [0, 1],
    'A no longer holds ann; B does',
  );
});
