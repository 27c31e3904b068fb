import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { createHttpServer, type HttpServer } from '../../gateway/http/server.ts';
import type { HttpServerOptions } from '../../gateway/http/types.ts';
import { GatewayError } from '../../gateway/observability/errors.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { ScriptedView } from '../unit/http/scripted-view.ts';
import { SseReader } from '../unit/http/sse-reader.ts';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function started(
  options: Partial<HttpServerOptions> = {},
): Promise<{ server: HttpServer; view: ScriptedView; url: string }> {
  const view = new ScriptedView();
  view.healthRegistry.set('model', { status: 'up' });
  const server = createHttpServer({ logger: silentLogger(), view, port: 0, ...options });
  cleanups.push(() => server.stop());
  const url = await server.start();
  return { server, view, url };
}

function openStream(url: string): Promise<{ res: IncomingMessage; reader: SseReader }> {
  return new Promise((resolve, reject) => {
    const req = get(`${url}/api/events`, (res) => resolve({ res, reader: new SseReader(res) }));
    req.on('error', reject);
    cleanups.push(() => void req.destroy());
  });
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in /metrics`);
  return Number(line.split(' ')[1]);
}

async function eventually(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('HTTP server on a real socket', () => {
  it('binds to 127.0.0.1 by default and serves /health', async () => {
    const { server, url } = await started();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const address = server.fastify.server.address();
    assert.ok(address && typeof address === 'object');
    assert.equal(address.address, '127.0.0.1');
    const res = await fetch(`${url}/health`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { status: string }).status, 'up');
  });

  it('reports a port already in use as HTTP_LISTEN_FAILED naming host and port', async () => {
    const { server } = await started();
    const address = server.fastify.server.address();
    assert.ok(address && typeof address === 'object');
    const second = createHttpServer({ logger: silentLogger(), view: new ScriptedView(), port: address.port });
    cleanups.push(() => second.stop());
    await assert.rejects(
      second.start(),
      (e: unknown) =>
        e instanceof GatewayError &&
        e.code === 'HTTP_LISTEN_FAILED' &&
        e.message.includes(`127.0.0.1:${address.port}`),
    );
  });

  it('forgets an SSE client when it disconnects', async () => {
    const { server, view, url } = await started();
    const { res, reader } = await openStream(url);
    await reader.until((r) => r.messages().some((m) => m.event === 'snapshot'));
    assert.equal(server.sseClients, 1);
    assert.equal(await metric(url, 'mujo_http_sse_clients'), 1);
    res.destroy();
    await eventually(() => server.sseClients === 0, 'client removed after close');
    assert.equal(await metric(url, 'mujo_http_sse_clients'), 0);
    // Broadcasting to nobody is fine.
    view.pushActivity('s1', 'jog', 'jogging', 0.9, ['imu']);
    assert.equal(await metric(url, 'mujo_http_sse_dropped_clients_total'), 0);
  });

  it('drops a client that stops reading once its buffer limit is reached, and keeps serving the others', async () => {
    const maxBufferedBytes = 64 * 1024;
    const { server, view, url } = await started({ sse: { maxBufferedBytes } });
    const port = Number(new URL(url).port);

    // A client that sends its request and then never reads: the kernel buffers fill, then ours.
    const slow: Socket = connect(port, '127.0.0.1');
    cleanups.push(() => void slow.destroy());
    await new Promise<void>((resolve) => slow.once('connect', () => resolve()));
    slow.write('GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n');
    slow.pause();
    let slowClosed = false;
    slow.on('close', () => (slowClosed = true));

    const { reader } = await openStream(url);
    await eventually(() => server.sseClients === 2, 'both clients connected');

    const padding = 'x'.repeat(2000);
    let pushed = 0;
    while (server.sseClients === 2) {
      // Bursts well under the limit, then a yield, so a client that reads keeps up.
      for (let i = 0; i < 8; i++) {
        view.pushState({
          subject: `s${pushed++}`,
          activity: padding,
          activityName: null,
          confidence: 0.5,
          modalities: ['imu'],
          reps: 0,
          since: null,
        });
      }
      await new Promise((r) => setTimeout(r, 1));
      assert.ok(pushed < 200_000, 'slow client was never dropped');
    }
    assert.equal(await metric(url, 'mujo_http_sse_dropped_clients_total'), 1);
    // The reading client got every state update, in order.
    await reader.until((r) => r.messages().filter((m) => m.event === 'state').length === pushed, 20_000);
    const subjects = reader
      .messages()
      .filter((m) => m.event === 'state')
      .map((m) => JSON.parse(m.data).subject);
    assert.deepEqual(
      subjects,
      Array.from({ length: pushed }, (_, i) => `s${i}`),
    );
    slow.resume();
    await eventually(() => slowClosed, 'slow socket closed by the server');
  });

  it('stop() ends open SSE streams instead of hanging on them', async () => {
    const { server, url } = await started();
    const { reader } = await openStream(url);
    await reader.until((r) => r.messages().length > 0);
    await server.stop();
    await eventually(() => reader.closed, 'client saw the stream end');
  });
});
