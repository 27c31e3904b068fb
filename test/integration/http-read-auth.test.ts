/**
 * Protected reads and HTTPS (real sockets): with http.readAuth every GET needs the token
 * (Bearer, or the cookie the login form trades a ?token= for); unauthenticated /health gives
 * the overall status only; over HTTPS with a certificate made here by openssl.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createHttpServer, type HttpServer } from '../../gateway/http/server.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { ScriptedView } from '../unit/http/scripted-view.ts';

const TOKEN = 'read-token-1234';

describe('HTTP read authentication and HTTPS', { timeout: 60_000 }, () => {
  let dir: string;
  let cert: Buffer;
  let key: Buffer;
  const servers: HttpServer[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mujo-https-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'pipe' },
    );
    cert = readFileSync(join(dir, 'cert.pem'));
    key = readFileSync(join(dir, 'key.pem'));
  });
  after(async () => {
    for (const s of servers) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(tls: boolean): Promise<string> {
    const view = new ScriptedView();
    view.healthRegistry.set('mqtt', { status: 'up', details: { url: 'mqtt://broker.local' } });
    const server = createHttpServer({
      logger: silentLogger(),
      view,
      port: 0,
      token: TOKEN,
      readAuth: true,
      ...(tls ? { tls: { cert, key } } : {}),
    });
    servers.push(server);
    return server.start();
  }

  /** GET over HTTPS trusting the test's own certificate. */
  function httpsGet(
    url: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { ca: cert, headers }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('every read needs the token; /health without it shows the status only', async () => {
    const url = await start(false);
    for (const path of [
      '/api/devices',
      '/api/subjects',
      '/api/info',
      '/api/model',
      '/metrics',
      '/api/events',
    ]) {
      const res = await fetch(url + path);
      assert.equal(res.status, 401, `${path} without a token`);
      await res.body?.cancel();
    }
    const page = await fetch(url + '/', { headers: { accept: 'text/html' } });
    assert.equal(page.status, 401);
    assert.match(await page.text(), /<form method="get">/, 'the page asks for the token');
    const bare = (await (await fetch(url + '/health')).json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(bare), ['status'], 'no details without the token');

    const withBearer = await fetch(url + '/api/devices', { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(withBearer.status, 200);
    const full = (await (
      await fetch(url + '/health', { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json()) as Record<string, unknown>;
    assert.ok(full['components'], 'details with the token');
    const wrong = await fetch(url + '/api/devices', { headers: { authorization: 'Bearer nope-nope' } });
    assert.equal(wrong.status, 401);

    // The login form: ?token= becomes a cookie, and the address loses the token.
    const login = await fetch(`${url}/?token=${TOKEN}`, {
      headers: { accept: 'text/html' },
      redirect: 'manual',
    });
    assert.equal(login.status, 303);
    assert.equal(login.headers.get('location'), '/');
    const cookie = login.headers.get('set-cookie') ?? '';
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const withCookie = await fetch(url + '/', {
      headers: { accept: 'text/html', cookie: cookie.split(';')[0]! },
    });
    assert.equal(withCookie.status, 200);
    assert.match(await withCookie.text(), /<html/i);
  });

  it('serves HTTPS with the configured certificate and key', async () => {
    const url = await start(true);
    assert.match(url, /^https:\/\//);
    const res = await httpsGet(url + '/api/devices', { authorization: `Bearer ${TOKEN}` });
    assert.equal(res.status, 200);
    const denied = await httpsGet(url + '/api/devices');
    assert.equal(denied.status, 401);
    const login = await httpsGet(`${url}/?token=${TOKEN}`, { accept: 'text/html' });
    assert.equal(login.status, 303);
  });
});
