import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeviceService } from '../../../gateway/devices/device-service.ts';
import { createHttpServer } from '../../../gateway/http/server.ts';
import type { GatewayView } from '../../../gateway/http/types.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import type { NearbyReport } from '../../../gateway/sources/ble/ble-source.ts';
import { createHarness } from '../../fakes/noble/harness.ts';
import { WitMotionSim } from '../../fakes/noble/sim-devices.ts';
import { ScriptedView } from './scripted-view.ts';
import { stoppedAfterEach } from './started.ts';

/*
 * POST /api/ble/scan and GET /api/ble/nearby over fastify inject, with the real device service
 * over the real BLE source (noble over fake bindings, virtual time): the scan turns the radio
 * on for its seconds and off after, the list names the family, and refusals carry their codes.
 */

const TOKEN = 'ble-token-123';
const AUTH = { authorization: `Bearer ${TOKEN}` };

const { servers, harnesses } = stoppedAfterEach();

async function setup(ble: boolean) {
  const h = createHarness({ devices: [] }, { seed: 5 });
  h.bindings.addDevice(new WitMotionSim({ uuid: 'c0ffee000051' }));
  await h.source.start();
  harnesses.push(h);
  const service = new DeviceService({ ble: ble ? h.source : null, store: null, logger: silentLogger() });
  const view: GatewayView = new ScriptedView();
  view.scanDevices = (request) => service.scan(request);
  view.nearbyDevices = () => service.nearby();
  view.bleEnabled = () => service.enabled;
  const server = createHttpServer({ logger: silentLogger(), view, port: 0, token: TOKEN });
  servers.push(server);
  return { h, server };
}

describe('BLE scan routes', () => {
  it('a scan hears the wearable for its seconds, then the radio stops listening', async () => {
    const { h, server } = await setup(true);
    const nearby = async (): Promise<NearbyReport> =>
      (await server.fastify.inject({ method: 'GET', url: '/api/ble/nearby' })).json();
    await h.timers.advance(2000);
    assert.deepEqual((await nearby()).devices, [], 'nothing configured: no scan, nothing heard');

    const res = await server.fastify.inject({
      method: 'POST',
      url: '/api/ble/scan',
      headers: AUTH,
      payload: { seconds: 10 },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().scanning, true);
    await h.timers.advance(1000);
    const during = await nearby();
    assert.equal(during.scanning, true);
    assert.deepEqual(
      during.devices.map((d) => [d.address, d.name, d.family, d.device]),
      [['C0:FF:EE:00:00:51', 'WT901BLE68', 'witmotion', null]],
    );
    assert.deepEqual(during.configured, []);

    await h.timers.advance(10_000);
    assert.equal((await nearby()).scanning, false, 'the scan ends by itself');
    const heardAt = (await nearby()).devices[0]!.lastSeenMsAgo;
    await h.timers.advance(5000);
    assert.ok((await nearby()).devices[0]!.lastSeenMsAgo >= heardAt + 5000, 'not heard any more');
    const info = (await server.fastify.inject({ method: 'GET', url: '/api/info' })).json();
    assert.equal(info.features.ble, true);
  });

  it('refusals: token, BLE disabled', async () => {
    const { server } = await setup(false);
    const post = (headers: Record<string, string>, payload: object) =>
      server.fastify.inject({ method: 'POST', url: '/api/ble/scan', headers, payload });
    assert.equal((await post({}, {})).statusCode, 401);
    assert.equal((await post({ authorization: 'Bearer nope' }, {})).statusCode, 403);
    const disabled = await post(AUTH, {});
    assert.deepEqual([disabled.statusCode, disabled.json().error.code], [409, 'BLE_DISABLED']);
    const list = await server.fastify.inject({ method: 'GET', url: '/api/ble/nearby' });
    assert.deepEqual([list.statusCode, list.json().error.code], [409, 'BLE_DISABLED']);
    const info = (await server.fastify.inject({ method: 'GET', url: '/api/info' })).json();
    assert.equal(info.features.ble, false, 'the page offers no scan');
  });

  it('a scan request with unknown keys or out-of-range seconds is refused with the key named', async () => {
    const { server } = await setup(true);
    for (const payload of [{ seconds: 0 }, { seconds: 301 }, { seconds: 'long' }, { secs: 5 }]) {
      const res = await server.fastify.inject({
        method: 'POST',
        url: '/api/ble/scan',
        headers: AUTH,
        payload,
      });
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
      assert.equal(res.json().error.code, 'DEVICE_INVALID');
      assert.match(res.json().error.message, /seconds|secs/);
    }
  });
});
