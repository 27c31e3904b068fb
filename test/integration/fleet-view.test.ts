/**
 * The fleet page in Chromium, on a site set up as docs/fleet.md says: a central mosquitto with
 * the shipped ACL, two rooms whose mosquittos are bridged to it with the shipped bridge file,
 * a gateway replaying the demo in each room, and the fleet view logged in to the central broker
 * as the fleet admin. The page lists both gateways (online, model, provider, streams) and every
 * person's current activity; a gateway that stops shows offline, and a central broker that
 * goes away puts up the banner.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import { FleetView } from '../../gateway/fleet/view/server.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.ts';
import { FLEET_ADMIN, startCentralBroker, startRoomBroker } from '../helpers/fleet.ts';
import type { Mosquitto } from '../helpers/mosquitto.ts';

const ROOMS = ['room-a', 'room-b'] as const;
const skip = chromiumSkipReason();

let workDir: string;
let central: Mosquitto;
let view: FleetView;
let browser: Browser | undefined;
const brokers: Mosquitto[] = [];
const apps = new Map<string, GatewayApp>();

before(async () => {
  if (skip) return;
  workDir = await mkdtemp(join(tmpdir(), 'mujo-fleet-view-'));
  central = await startCentralBroker(workDir, ROOMS);
  for (const id of ROOMS) {
    const broker = await startRoomBroker(id, central.port);
    brokers.push(broker);
    const app = new GatewayApp(
      validateConfig({
        gateway: { id },
        mqtt: { url: broker.url, queue: { spoolDir: join(workDir, id) } },
        http: { enabled: false },
        ingest: { enabled: false },
        replay: { path: 'recordings/demo', speed: 2, loop: true },
        log: { level: 'silent' },
      }),
      { logger: silentLogger() },
    );
    await app.start();
    apps.set(id, app);
  }
  view = new FleetView({
    broker: { url: central.url, username: FLEET_ADMIN.username, password: FLEET_ADMIN.password },
    baseTopic: 'mujo',
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
    pushIntervalMs: 100,
  });
  await view.start();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await view?.stop();
  for (const app of apps.values()) await app.stop().catch(() => undefined);
  for (const broker of brokers) await broker.dispose();
  await central?.dispose();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const rowText = (page: Page, selector: string) =>
  page.$$eval(selector, (rows) => rows.map((r) => [...r.children].map((td) => td.textContent ?? '')));

test('the fleet page shows every room and every person, and what is down', { skip }, async () => {
  const page = await browser!.newPage({ viewport: { width: 1100, height: 800 } });
  await page.goto(`${view.url}/`);

  // Both gateways online with their model and provider; the demo's four people with an activity.
  await page.waitForFunction(
    `document.querySelectorAll('#gateways tr[data-gateway] .pill.online').length === 2 &&
     [...document.querySelectorAll('#subjects tr[data-subject]')]
       .filter((r) => !r.children[2].classList.contains('muted')).length === 4`,
    undefined,
    { timeout: 120_000 },
  );
  const gateways = await rowText(page, '#gateways tr[data-gateway]');
  assert.deepEqual(
    gateways.map((r) => r[0]),
    ['room-a', 'room-b'],
  );
  for (const row of gateways) {
    assert.equal(row[1], 'online');
    assert.equal(row[2], 'default 0.1.0');
    assert.match(row[3] ?? '', /imu: cpu/);
    assert.match(row[4] ?? '', /^\d+ \/ \d+$/);
  }
  const people = await rowText(page, '#subjects tr[data-subject]');
  assert.deepEqual(
    people.map((r) => r[0]),
    ['s2', 's4', 's6', 's8'],
    'one row per person across both rooms',
  );
  for (const row of people) assert.ok(ROOMS.includes(row[1] as (typeof ROOMS)[number]), row.join('|'));
  assert.match((await page.textContent('#summary')) ?? '', /2 of 2 gateways online/);

  // Room B's gateway stops: its retained availability turns offline through the bridge.
  await apps.get('room-b')!.stop();
  await page.waitForSelector('#gateways tr[data-gateway="room-b"] .pill.offline', { timeout: 30_000 });
  assert.match((await page.textContent('#summary')) ?? '', /1 of 2 gateways online/);

  // The central broker goes away: the page says so and keeps the last known state.
  await central.stop();
  await page.waitForSelector('#offline:not([hidden])', { timeout: 30_000 });
  assert.match((await page.textContent('#offline')) ?? '', /cannot reach the central broker/);
  assert.equal((await rowText(page, '#gateways tr[data-gateway]')).length, 2);
  const health = await fetch(`${view.url}/health`);
  assert.equal(health.status, 503);
  assert.equal(((await health.json()) as { code: string }).code, 'FLEET_BROKER_UNREACHABLE');
});
