import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeviceService } from '../../../gateway/devices/device-service.ts';
import { createHttpServer } from '../../../gateway/http/server.ts';
import type { GatewayView } from '../../../gateway/http/types.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { createHarness } from '../../fakes/noble/harness.ts';
import { WitMotionSim } from '../../fakes/noble/sim-devices.ts';
import { ScriptedView } from './scripted-view.ts';
import { stoppedAfterEach } from './started.ts';

/*
 * POST / DELETE / PATCH /api/devices over fastify inject, with the real device service over
 * the real BLE source (noble over fake bindings): auth, status codes by error code, bodies.
 */

const TOKEN = 'device-token-123';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const WIT_UUID = 'c0ffee000021';
const WIT_ADDRESS = 'c0:ff:ee:00:00:21';

const { servers, harnesses } = stoppedAfterEach();

async function setup(options: { token?: string; manage?: boolean } = {}) {
  const h = createHarness({ devices: [] }, { seed: 11 });
  h.bindings.addDevice(new WitMotionSim({ uuid: WIT_UUID }));
  await h.source.start();
  harnesses.push(h);
  const service = new DeviceService({ ble: h.source, store: null, logger: silentLogger() });
  const view: GatewayView = new ScriptedView();
  if (options.manage !== false) {
    view.addDevice = (entry) => service.add(entry);
    view.assignDevice = (id, a) => service.assign(id, a);
    // Removal disconnects, which takes radio time on the virtual clock.
    view.removeDevice = async (id) => {
      const done = service.remove(id);
      done.catch(() => undefined); // awaited below; the route maps the refusal
      await h.timers.advance(2000);
      return done;
    };
  }
  const server = createHttpServer({
    logger: silentLogger(),
    view,
    port: 0,
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  servers.push(server);
  return { h, server };
}

describe('device management routes', () => {
  it('POST adds (201), PATCH assigns, DELETE removes; bodies carry the device, its config and whether it was saved', async () => {
    const { h, server } = await setup({ token: TOKEN });
    let res = await server.fastify.inject({
      method: 'POST',
      url: '/api/devices',
      headers: AUTH,
      payload: { id: 'wit', address: WIT_ADDRESS, family: 'witmotion', placement: 'wrist' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const added = res.json() as {
      device: string;
      persisted: boolean;
      note: string;
      config: { rateHz: number };
    };
    assert.equal(added.device, 'wit');
    assert.equal(added.persisted, false);
    assert.match(added.note, /until it restarts/);
    assert.equal(added.config.rateHz, 50);
    await h.timers.advance(3000);
    assert.ok(h.bindings.isConnected(WIT_UUID), 'the device added over HTTP is connected');

    res = await server.fastify.inject({
      method: 'PATCH',
      url: '/api/devices/wit',
      headers: AUTH,
      payload: { subject: 'alice' },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((res.json() as { config: { subject: string } }).config.subject, 'alice');
    await h.timers.advance(500);
    assert.equal(h.chunks.get('wit')?.at(-1)?.subjectId, 'alice');

    res = await server.fastify.inject({ method: 'DELETE', url: '/api/devices/wit', headers: AUTH });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual((res.json() as { action: string; config: null }).config, null);
    assert.equal(h.bindings.isConnected(WIT_UUID), false);
  });

  it('maps refusals to status codes with the error code and message', async () => {
    const { server } = await setup({ token: TOKEN });
    const call = async (method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) => {
      const res = await server.fastify.inject({
        method,
        url,
        headers: AUTH,
        ...(payload ? { payload } : {}),
      });
      return {
        status: res.statusCode,
        error: (res.json() as { error: { code: string; message: string } }).error,
      };
    };
    let r = await call('POST', '/api/devices', { family: 'witmotion' });
    assert.deepEqual([r.status, r.error.code], [400, 'DEVICE_INVALID']);
    assert.match(r.error.message, /address|namePattern/);
    r = await call('POST', '/api/devices', { address: WIT_ADDRESS, family: 'garmin' });
    assert.deepEqual([r.status, r.error.code], [400, 'BLE_UNKNOWN_FAMILY']);
    r = await call('POST', '/api/devices');
    assert.deepEqual([r.status, r.error.code], [400, 'DEVICE_INVALID']);
    assert.equal(
      (await call('POST', '/api/devices', { id: 'a', address: WIT_ADDRESS, family: 'witmotion' })).status,
      201,
    );
    r = await call('POST', '/api/devices', { id: 'a', address: WIT_ADDRESS, family: 'witmotion' });
    assert.deepEqual([r.status, r.error.code], [409, 'BLE_DUPLICATE_DEVICE']);
    r = await call('PATCH', '/api/devices/zzz', { subject: 'bob' });
    assert.deepEqual([r.status, r.error.code], [404, 'BLE_UNKNOWN_DEVICE']);
    r = await call('PATCH', '/api/devices/a', { placement: 'nose' });
    assert.deepEqual([r.status, r.error.code], [400, 'DEVICE_INVALID']);
    r = await call('DELETE', '/api/devices/zzz');
    assert.deepEqual([r.status, r.error.code], [404, 'BLE_UNKNOWN_DEVICE']);
  });

  it('needs the bearer token like every route that changes the gateway', async () => {
    const body = { address: WIT_ADDRESS, family: 'witmotion' };
    const { server: noToken } = await setup();
    let res = await noToken.fastify.inject({
      method: 'POST',
      url: '/api/devices',
      headers: AUTH,
      payload: body,
    });
    assert.equal(res.statusCode, 403);
    assert.equal((res.json() as { error: { code: string } }).error.code, 'HTTP_MUTATION_DISABLED');

    const { server, h } = await setup({ token: TOKEN });
    res = await server.fastify.inject({ method: 'DELETE', url: '/api/devices/x' });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer');
    res = await server.fastify.inject({
      method: 'PATCH',
      url: '/api/devices/x',
      headers: { authorization: 'Bearer wrong-token-0' },
      payload: { subject: 'a' },
    });
    assert.equal(res.statusCode, 403);
    assert.equal((res.json() as { error: { code: string } }).error.code, 'HTTP_FORBIDDEN');
    assert.deepEqual(h.source.deviceConfigs(), [], 'nothing was added without the token');
  });

  it('answers 501 when the gateway does not manage devices', async () => {
    const { server } = await setup({ token: TOKEN, manage: false });
    const res = await server.fastify.inject({ method: 'DELETE', url: '/api/devices/x', headers: AUTH });
    assert.equal(res.statusCode, 501);
    assert.equal((res.json() as { error: { code: string } }).error.code, 'HTTP_NOT_SUPPORTED');
  });
});
