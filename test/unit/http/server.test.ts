import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createHttpServer, type HttpServer } from '../../../gateway/http/server.ts';
import type { HttpServerOptions } from '../../../gateway/http/types.ts';
import { GatewayError } from '../../../gateway/observability/errors.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { MODEL, ScriptedView } from './scripted-view.ts';
import { SseReader } from './sse-reader.ts';
import { VirtualTimers } from '../../fakes/virtual-timers.ts';

let servers: HttpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

function setup(options: Partial<HttpServerOptions> = {}): { server: HttpServer; view: ScriptedView } {
  const view = new ScriptedView();
  view.healthRegistry.set('model', { status: 'up', details: { provider: 'cpu', model: 'mujo-utd 1.0.0' } });
  view.healthRegistry.set('mqtt', { status: 'up' });
  const server = createHttpServer({ logger: silentLogger(), view, port: 0, ...options });
  servers.push(server);
  return { server, view };
}

describe('HTTP routes (inject)', () => {
  it('GET /health: 200 when up or degraded, 503 when down or starting, with every component', async () => {
    const { server, view } = setup();
    let res = await server.fastify.inject('/health');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {
      status: 'up',
      components: {
        model: { status: 'up', details: { provider: 'cpu', model: 'mujo-utd 1.0.0' } },
        mqtt: { status: 'up' },
      },
    });
    view.healthRegistry.set('mqtt', {
      status: 'degraded',
      error: { code: 'MQTT_DISCONNECTED', message: 'broker away', at: new Date().toISOString() },
    });
    res = await server.fastify.inject('/health');
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().status, 'degraded');
    assert.equal(res.json().components.mqtt.error.code, 'MQTT_DISCONNECTED');
    view.healthRegistry.set('model', {
      status: 'down',
      error: { code: 'MODEL_INVALID', message: 'bad', at: new Date().toISOString() },
    });
    res = await server.fastify.inject('/health');
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().status, 'down');
    view.healthRegistry.set('model', { status: 'starting' });
    view.healthRegistry.set('mqtt', { status: 'up' });
    assert.equal((await server.fastify.inject('/health')).statusCode, 503);
  });

  it('GET /metrics renders the app registry in Prometheus text, with the HTTP metrics on it', async () => {
    const { server, view } = setup();
    view.pushActivity('s1', 'jog', 'jogging', 0.9, ['imu']);
    const res = await server.fastify.inject('/metrics');
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(res.body, /^mujo_events_total 1$/m);
    assert.match(res.body, /^mujo_http_sse_clients 0$/m);
    assert.match(res.body, /^mujo_http_sse_dropped_clients_total 0$/m);
  });

  it('GET /api/subjects, /api/devices, /api/model, /api/info, /api/events/recent return the view', async () => {
    const { server, view } = setup();
    view.pushActivity('s1', 'jog', 'jogging', 0.9, ['imu', 'pose'], 2);
    view.pushActivity('s2', 'wave', 'waving', 0.7, ['pose']);
    view.pushActivity('s1', 'wave', 'waving', 0.8, ['imu']);
    view.pushDevice('imu-s1', 'imu', 's1', true);

    const subjects = (await server.fastify.inject('/api/subjects')).json().subjects;
    assert.deepEqual(
      subjects.map((s: { subject: string; activity: string }) => [s.subject, s.activity]),
      [
        ['s1', 'wave'],
        ['s2', 'wave'],
      ],
    );
    const devices = (await server.fastify.inject('/api/devices')).json().devices;
    assert.deepEqual(
      devices.map((d: { device: string; connected: boolean }) => [d.device, d.connected]),
      [['imu-s1', true]],
    );
    assert.deepEqual((await server.fastify.inject('/api/model')).json(), { model: MODEL });
    assert.equal((await server.fastify.inject('/api/info')).json().gateway, 'test-gw');
    const recent = (await server.fastify.inject('/api/events/recent?n=2')).json().events;
    assert.deepEqual(
      recent.map((e: { seq: number }) => e.seq),
      [2, 3],
    );
    view.currentModel = null;
    assert.deepEqual((await server.fastify.inject('/api/model')).json(), { model: null });
  });

  it('errors are JSON {error: {code, message}}', async () => {
    const { server } = setup();
    let res = await server.fastify.inject('/api/nothing');
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), { error: { code: 'HTTP_NOT_FOUND', message: 'no route GET /api/nothing' } });
    res = await server.fastify.inject('/api/events/recent?n=0');
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'HTTP_BAD_REQUEST');
    assert.match(res.json().error.message, /n/);
  });

  it('POST /api/model/reload is refused (403) when no token is configured', async () => {
    const { server, view } = setup();
    const res = await server.fastify.inject({
      method: 'POST',
      url: '/api/model/reload',
      headers: { authorization: 'Bearer anything' },
    });
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().error.code, 'HTTP_MUTATION_DISABLED');
    assert.match(res.json().error.message, /no HTTP token is configured/);
    assert.equal(view.reloads, 0);
  });

  it('POST /api/model/reload: 401 without a bearer token, 403 with a wrong one, 200 with the right one', async () => {
    const { server, view } = setup({ token: 's3cret-token' });
    const post = (authorization?: string) =>
      server.fastify.inject({
        method: 'POST',
        url: '/api/model/reload',
        headers: authorization === undefined ? {} : { authorization },
      });

    let res = await post();
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer');
    assert.equal(res.json().error.code, 'HTTP_UNAUTHORIZED');
    res = await post('Basic czNjcmV0');
    assert.equal(res.statusCode, 401);
    res = await post('Bearer s3cret-tokeN');
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().error.code, 'HTTP_FORBIDDEN');
    assert.equal(view.reloads, 0);

    res = await post('Bearer s3cret-token');
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().model.version, '1.0.1');
    assert.equal(view.reloads, 1);
    assert.equal((await server.fastify.inject('/api/model')).json().model.version, '1.0.1');
  });

  it('a failed reload answers with the error code and says the old model keeps serving; concurrent reloads get 409', async () => {
    const { server, view } = setup({ token: 't' });
    view.reloadBehaviour = async () => {
      throw new GatewayError(
        'MODEL_HASH_MISMATCH',
        'models/default/imu.onnx: sha256 does not match the manifest',
      );
    };
    let res = await server.fastify.inject({
      method: 'POST',
      url: '/api/model/reload',
      headers: { authorization: 'Bearer t' },
    });
    assert.equal(res.statusCode, 500);
    assert.equal(res.json().error.code, 'MODEL_HASH_MISMATCH');
    assert.match(res.json().error.message, /previous model keeps serving.*imu\.onnx/);
    assert.equal((await server.fastify.inject('/api/model')).json().model.version, '1.0.0');

    let release!: () => void;
    let reloading!: () => void;
    const reloadStarted = new Promise<void>((resolve) => (reloading = resolve));
    view.reloadBehaviour = () =>
      new Promise((resolve) => {
        release = () => resolve(MODEL);
        reloading();
      });
    const first = server.fastify.inject({
      method: 'POST',
      url: '/api/model/reload',
      headers: { authorization: 'Bearer t' },
    });
    await reloadStarted;
    res = await server.fastify.inject({
      method: 'POST',
      url: '/api/model/reload',
      headers: { authorization: 'Bearer t' },
    });
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().error.code, 'HTTP_RELOAD_IN_PROGRESS');
    release();
    assert.equal((await first).statusCode, 200);
  });

  it('GET / serves the live page and its assets with a strict content security policy', async () => {
    const { server } = setup();
    const page = await server.fastify.inject('/');
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    assert.match(page.body, /<script src="\/app\.js"/);
    const js = await server.fastify.inject('/app.js');
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assert.match(js.body, /new EventSource\('\/api\/events'\)/);
    assert.match(String((await server.fastify.inject('/style.css')).headers['content-type']), /^text\/css/);
  });

  it('refuses to start without the live page files, naming the missing file', () => {
    assert.throws(
      () =>
        createHttpServer({
          logger: silentLogger(),
          view: new ScriptedView(),
          publicDir: '/nonexistent/public',
        }),
      (e: unknown) =>
        e instanceof GatewayError &&
        e.code === 'HTTP_PUBLIC_MISSING' &&
        e.message.includes('/nonexistent/public/index.html'),
    );
  });

  it('GET /api/events streams a snapshot, then activity, state and device events, with heartbeats', async () => {
    const timers = new VirtualTimers();
    const { server, view } = setup({ sse: { heartbeatMs: 15_000, timers } });
    view.pushActivity('s1', 'jog', 'jogging', 0.9, ['imu']);
    const controller = new AbortController();
    const res = await server.fastify.inject({
      url: '/api/events',
      payloadAsStream: true,
      signal: controller.signal,
    });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    assert.equal(res.headers['cache-control'], 'no-cache, no-transform');
    const reader = new SseReader(res.stream());
    await reader.until((r) => r.messages().length >= 1);
    assert.match(reader.text, /^retry: 2000\n\n/);
    const snapshot = reader.messages()[0];
    assert.equal(snapshot?.event, 'snapshot');
    const snap = JSON.parse(snapshot?.data ?? '{}');
    assert.deepEqual(Object.keys(snap).sort(), [
      'devices',
      'health',
      'history',
      'info',
      'model',
      'recent',
      'subjects',
    ]);
    assert.equal(snap.subjects[0].activity, 'jog');
    assert.equal(snap.recent[0].seq, 1);

    const event = view.pushActivity('s2', 'wave', 'waving', 0.75, ['pose']);
    view.pushDevice('cam1', 'camera', null, true);
    await reader.until((r) => r.messages().length >= 4);
    const [, activity, state, device] = reader.messages();
    assert.equal(activity?.event, 'activity');
    assert.equal(activity?.id, String(event.seq));
    assert.deepEqual(JSON.parse(activity?.data ?? '{}'), JSON.parse(JSON.stringify(event)));
    assert.equal(state?.event, 'state');
    assert.equal(JSON.parse(state?.data ?? '{}').subject, 's2');
    assert.equal(device?.event, 'device');
    assert.equal(JSON.parse(device?.data ?? '{}').device, 'cam1');
    assert.equal(reader.comments().length, 0, 'no heartbeat before its interval');
    await timers.advance(14_999);
    assert.equal(reader.comments().length, 0, 'no heartbeat before its interval');
    await timers.advance(1);
    await reader.until((r) => r.comments().length === 1);
    await timers.advance(3 * 15_000);
    await reader.until((r) => r.comments().length === 4);
    assert.deepEqual(new Set(reader.comments()), new Set([': heartbeat']));
    assert.equal(server.sseClients, 1);
    controller.abort();
  });
});
