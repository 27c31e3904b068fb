/**
 * Hostile MQTT clients: the embedded broker asks for a user name and password when they are
 * configured; commands that change anything need the command token (refused and counted
 * otherwise); a storm of reload_model requests costs at most 2 model loads.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectAsync } from 'mqtt';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';

const BROKER_USER = 'gw-user';
const BROKER_PW = 'BrokerPw-1234';
const CMD_TOKEN = 'CmdToken-abcdef';

describe('MQTT commands and the embedded broker under hostile clients', { timeout: 120_000 }, () => {
  let workDir: string;
  let app: GatewayApp;
  let url: string;
  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'mujo-cmd-'));
    app = new GatewayApp(
      validateConfig({
        gateway: { id: 'cmd' },
        model: { path: 'test/fixtures/tiny-model', providers: ['cpu'] },
        mqtt: {
          embeddedPort: 0,
          username: BROKER_USER,
          password: BROKER_PW,
          commands: { token: CMD_TOKEN, rateLimitPerMinute: 10000 },
          queue: { spoolDir: join(workDir, 'spool') },
        },
        http: { enabled: false },
        replay: { enabled: false },
        ingest: { enabled: false },
        log: { level: 'silent' },
      }),
      { logger: silentLogger() },
    );
    url = (await app.start()).mqtt;
  });
  after(async () => {
    await app?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  const metric = async (name: string, labels: RegExp): Promise<number> => {
    const text = await app.metrics.getSingleMetricAsString(name);
    return text
      .split('\n')
      .filter((l) => l.startsWith(name) && labels.test(l))
      .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  };

  it('the embedded broker refuses clients without the configured user name and password', async () => {
    await assert.rejects(connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 }));
    await assert.rejects(
      connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, username: BROKER_USER, password: 'wrong' }),
    );
    const ok = await connectAsync(url, { protocolVersion: 4, username: BROKER_USER, password: BROKER_PW });
    await ok.endAsync();
  });

  it('changing commands without the token are refused and counted; status answers; a reload storm costs ≤ 2 loads', async (t) => {
    const client = await connectAsync(url, {
      protocolVersion: 4,
      username: BROKER_USER,
      password: BROKER_PW,
    });
    const answers = new Map<string, { ok: boolean; error?: { code: string } }>();
    client.on('message', (_t, payload) => {
      const r = JSON.parse(payload.toString()) as {
        correlationId: string;
        ok: boolean;
        error?: { code: string };
      };
      answers.set(r.correlationId, r);
    });
    await client.subscribeAsync('mujo/cmd/response/#', { qos: 1 });
    const ask = (action: string, correlationId: string, extra: object = {}) =>
      client.publishAsync(`mujo/cmd/request/${action}`, JSON.stringify({ correlationId, ...extra }), {
        qos: 1,
      });
    const answered = async (ids: string[], timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!ids.every((id) => answers.has(id))) {
        if (Date.now() > deadline)
          assert.fail(`no answer for ${ids.filter((id) => !answers.has(id)).length} requests`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      // The gateway subscribes to request/# once connected: probe until it answers.
      for (let i = 0; ![...answers.keys()].some((k) => k.startsWith('probe-')); i++) {
        if (i > 300) assert.fail('the gateway never answered a status request');
        await ask('status', `probe-${i}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await ask('reload_model', 'no-token');
      await ask('reload_model', 'bad-token', { token: 'guess' });
      await ask('add_device', 'add-no-token', { config: { id: 'x', kind: 'imu' } });
      await ask('status', 'status-no-token');
      await answered(['no-token', 'bad-token', 'add-no-token', 'status-no-token']);
      assert.equal(answers.get('no-token')!.error?.code, 'MQTT_UNAUTHORIZED');
      assert.equal(answers.get('bad-token')!.error?.code, 'MQTT_UNAUTHORIZED');
      assert.equal(answers.get('add-no-token')!.error?.code, 'MQTT_UNAUTHORIZED');
      assert.equal(answers.get('status-no-token')!.ok, true);
      assert.equal(
        await metric('mujo_mqtt_commands_total', /action="reload_model".*outcome="unauthorized"/),
        2,
      );
      assert.equal(
        await metric('mujo_mqtt_commands_total', /action="add_device".*outcome="unauthorized"/),
        1,
      );

      const loadsBefore = await metric('mujo_model_loads_total', /.*/);
      const storm = Array.from({ length: 300 }, (_, i) => `storm-${i}`);
      await Promise.all(storm.map((id) => ask('reload_model', id, { token: CMD_TOKEN })));
      await answered(storm, 60_000);
      assert.ok(
        storm.every((id) => answers.get(id)!.ok),
        'every authorised request is answered ok',
      );
      const loads = (await metric('mujo_model_loads_total', /.*/)) - loadsBefore;
      assert.ok(loads >= 1 && loads <= 2, `${loads} model loads for 300 reload requests`);
      t.diagnostic(`300 authorised reload_model requests -> ${loads} model loads`);
    } finally {
      await client.endAsync();
    }
  });
});
