/**
 * Model rollout to a fleet over MQTT, on a real mosquitto and a real HTTP model server:
 * three gateways follow the retained desired-model message. A staged rollout to two of them,
 * then to all, where the third gets a corrupted file from the server (it refuses, keeps
 * serving its model and keeps producing events), then a roll back to the bundled model,
 * which needs no download.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import type { ActivityEvent } from '../../gateway/domain/events.ts';
import type { RolloutReport } from '../../gateway/fleet/rollout-service.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import {
  observe,
  startMosquitto,
  type Mosquitto,
  type Observer,
  type Received,
} from '../helpers/mosquitto.ts';

const GATEWAYS = ['gw-1', 'gw-2', 'gw-3'] as const;
const CORRUPTED_FOR = 'gw-3';
const BUNDLED = 'models/default';
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

let broker: Mosquitto;
let observer: Observer;
let server: Server;
let serverUrl: string;
let workDir: string;
const requests: { path: string; gateway: string }[] = [];
const apps = new Map<string, GatewayApp>();
const events = new Map<string, ActivityEvent[]>();

/** Version 0.2.0: the bundled model's files under a new manifest version. */
const bundledManifest = readFileSync(join(BUNDLED, 'manifest.json'));
const nextManifest = Buffer.from(
  JSON.stringify({ ...(JSON.parse(bundledManifest.toString()) as object), version: '0.2.0' }, null, 2),
);

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'mujo-rollout-'));
  broker = await startMosquitto();
  observer = await observe(broker.url, ['mujo/+/rollout']);
  // The model server. It names the requesting gateway from the User-Agent (its log would)
  // and, standing for a broken mirror, corrupts the pose encoder for one of them.
  server = createServer((req, res) => {
    const gateway = /\(([^)]+)\)$/.exec(req.headers['user-agent'] ?? '')?.[1] ?? '?';
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push({ path, gateway });
    let body: Buffer;
    try {
      body =
        path === '/v2/manifest.json'
          ? nextManifest
          : readFileSync(join(BUNDLED, path.replace(/^\/v2\//, '')));
    } catch {
      res.writeHead(404).end();
      return;
    }
    if (gateway === CORRUPTED_FOR && path.endsWith('pose.onnx')) {
      body = Buffer.from(body);
      body.writeUInt8(body.readUInt8(body.length - 1) ^ 0xff, body.length - 1);
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  serverUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  for (const id of GATEWAYS) {
    const app = new GatewayApp(
      validateConfig({
        gateway: { id },
        mqtt: { url: broker.url, queue: { spoolDir: join(workDir, id, 'spool') } },
        http: { enabled: false },
        ingest: { enabled: false },
        replay: { path: 'recordings/demo', speed: 4, loop: true },
        enrollment: { storeDir: join(workDir, id, 'models') },
        fleet: { rollout: { enabled: true, allowedUrlPrefixes: [`${serverUrl}/`] } },
        log: { level: 'silent' },
      }),
      { logger: silentLogger() },
    );
    const list: ActivityEvent[] = [];
    app.activity$.subscribe((e) => list.push(e));
    apps.set(id, app);
    events.set(id, list);
  }
});

after(async () => {
  for (const app of apps.values()) await app.stop().catch(() => undefined);
  await observer?.close();
  await broker?.dispose();
  server?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const reportOf = (m: Received): RolloutReport => JSON.parse(m.payload.toString()) as RolloutReport;
/** Waits for a gateway's rollout report that matches, published after message index `from`. */
async function report(
  gateway: string,
  from: number,
  pred: (r: RolloutReport) => boolean,
): Promise<RolloutReport> {
  const [m] = await observer.waitFor(
    (m) => m.topic === `mujo/${gateway}/rollout` && observer.messages.indexOf(m) >= from && pred(reportOf(m)),
    1,
    120_000,
  );
  return reportOf(m!);
}
const desire = (body: object) =>
  observer.client.publishAsync('mujo/fleet/model', JSON.stringify(body), { qos: 1, retain: true });
const serving = (gateway: string) => apps.get(gateway)!.models.current!.version;

test('a staged rollout, a gateway that refuses a corrupt download, and a roll back', async () => {
  for (const app of apps.values()) await app.start();
  const v2 = {
    name: 'default',
    version: '0.2.0',
    url: `${serverUrl}/v2/manifest.json`,
    sha256: sha256(nextManifest),
  };

  // Stage 1: two named gateways.
  let from = observer.messages.length;
  await desire({ ...v2, gateways: ['gw-1', 'gw-2'] });
  for (const gw of ['gw-1', 'gw-2']) {
    const r = await report(gw, from, (r) => r.state === 'active' || r.state === 'failed');
    assert.equal(r.state, 'active', JSON.stringify(r));
    assert.equal(serving(gw), '0.2.0');
  }
  assert.equal((await report('gw-3', from, () => true)).state, 'not-targeted');
  assert.equal(serving('gw-3'), '0.1.0');
  assert.ok(!requests.some((r) => r.gateway === 'gw-3'), 'a gateway outside the stage downloads nothing');

  // Stage 2: everyone. gw-3 gets a corrupted pose encoder, refuses it and keeps serving.
  from = observer.messages.length;
  const eventsBefore = events.get('gw-3')!.length;
  await desire(v2);
  const refused = await report('gw-3', from, (r) => r.state === 'failed' || r.state === 'active');
  assert.equal(refused.state, 'failed');
  assert.equal(refused.error?.code, 'ROLLOUT_HASH_MISMATCH');
  assert.match(refused.error?.message ?? '', /pose\.onnx/);
  assert.equal(serving('gw-3'), '0.1.0');
  assert.deepEqual(refused.serving?.version, '0.1.0');
  for (const gw of ['gw-1', 'gw-2']) assert.equal((await report(gw, from, () => true)).state, 'active');
  const deadline = Date.now() + 60_000;
  while (events.get('gw-3')!.length <= eventsBefore && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
  assert.ok(
    events.get('gw-3')!.length > eventsBefore,
    'gw-3 keeps producing activity events after the refusal',
  );

  // Roll back: the bundled model is desired again; no gateway downloads anything for it.
  from = observer.messages.length;
  const requestsBefore = requests.length;
  await desire({
    name: 'default',
    version: '0.1.0',
    url: `${serverUrl}/v1/manifest.json`,
    sha256: sha256(bundledManifest),
  });
  for (const gw of GATEWAYS) {
    const r = await report(gw, from, (r) => r.state === 'active' || r.state === 'failed');
    assert.equal(r.state, 'active', `${gw}: ${JSON.stringify(r)}`);
    assert.equal(serving(gw), '0.1.0');
  }
  assert.equal(requests.length, requestsBefore, 'rolling back to a model on disk downloads nothing');
});
