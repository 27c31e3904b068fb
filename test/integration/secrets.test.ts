/**
 * Secrets never shown: a real gateway process configured with credentials in URLs and in
 * fields; every log line, every HTTP response, every MQTT payload, the startup banner,
 * --print-config and --validate-config are searched for them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, observe, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../helpers/victoria-metrics.ts';

const MQTT_URL_PW = 'MqttUrlPw-7f3a';
const MQTT_FIELD_PW = 'MqttFieldPw-41c9';
const INFLUX_URL_PW = 'InfluxUrlPw-9c1e';
const INFLUX_TOKEN = 'InfluxTok-2b8d';
const HTTP_TOKEN = 'HttpTok-5d4f';
const SECRETS = [MQTT_URL_PW, MQTT_FIELD_PW, INFLUX_URL_PW, INFLUX_TOKEN, HTTP_TOKEN];

interface Run {
  readonly exit: Promise<number | null>;
  output(): string;
  kill(signal: NodeJS.Signals): void;
}

function runGateway(args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return {
    exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    output: () => out,
    kill: (signal) => child.kill(signal),
  };
}

function assertNoSecret(where: string, text: string): void {
  for (const s of SECRETS)
    assert.ok(!text.includes(s), `${where} shows the secret ${s}:\n${text.slice(0, 2000)}`);
}

describe('secrets are never shown', { timeout: 120_000 }, () => {
  let broker: Mosquitto;
  let vm: VictoriaMetrics;
  let workDir: string;
  let env: Record<string, string>;
  before(async () => {
    broker = await startMosquitto();
    vm = await startVictoriaMetrics();
    workDir = await mkdtemp(join(tmpdir(), 'mujo-secrets-'));
    const brokerHostPort = broker.url.replace(/^mqtt:\/\//, '');
    const vmHostPort = vm.url.replace(/^http:\/\//, '');
    env = {
      MUJO__GATEWAY__ID: 'sec',
      MUJO__MODEL__PATH: 'test/fixtures/tiny-model',
      MUJO__REPLAY__PATH: 'test/fixtures/recording-small',
      MUJO__MQTT__URL: `mqtt://alice:${MQTT_URL_PW}@${brokerHostPort}`,
      MUJO__MQTT__USERNAME: 'alice',
      MUJO__MQTT__PASSWORD: MQTT_FIELD_PW,
      MUJO__MQTT__QUEUE__SPOOL_DIR: join(workDir, 'spool-mqtt'),
      MUJO__INFLUX__ENABLED: 'true',
      MUJO__INFLUX__URL: `http://bob:${INFLUX_URL_PW}@${vmHostPort}`,
      MUJO__INFLUX__TOKEN: INFLUX_TOKEN,
      MUJO__INFLUX__ORG: 'mujo',
      MUJO__INFLUX__BUCKET: 'mujo',
      MUJO__INFLUX__SPOOL_DIR: join(workDir, 'spool-influx'),
      MUJO__HTTP__TOKEN: HTTP_TOKEN,
      MUJO__LOG__LEVEL: 'debug',
    };
  });
  after(async () => {
    await broker?.dispose();
    await vm?.dispose();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('a running gateway: logs, banner, HTTP responses and MQTT payloads', async () => {
    const port = await freePort();
    const watcher = await observe(broker.url, ['#']);
    const gw = runGateway(['--port', String(port), '--speed', '5'], env);
    try {
      await watcher.waitFor(
        (m) => m.topic === 'mujo/sec/availability' && m.payload.toString() === 'online',
        1,
        30_000,
      );
      const base = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 20_000;
      while (!/Live page/.test(gw.output()) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      for (const path of ['/health', '/metrics', '/api/devices', '/api/subjects', '/', '/api/status']) {
        const res = await fetch(base + path);
        assertNoSecret(`GET ${path}`, await res.text());
      }
      // The status command's response carries /health too.
      for (let i = 0; !watcher.messages.some((m) => m.topic === 'mujo/sec/response/status'); i++) {
        if (i > 100) assert.fail('no answer to the status request');
        watcher.client.publish('mujo/sec/request/status', JSON.stringify({ correlationId: `c${i}` }), {
          qos: 1,
        });
        await new Promise((r) => setTimeout(r, 200));
      }
      await watcher.waitFor((m) => m.topic.endsWith('/activity'), 1, 30_000);
      gw.kill('SIGTERM');
      assert.equal(await gw.exit, 0, gw.output());
      assert.match(gw.output(), /gateway started/);
      assert.match(gw.output(), /MQTT: +mqtt:\/\/alice:<redacted>@/);
      assertNoSecret('the process output (every log line and the banner)', gw.output());
      for (const m of watcher.messages) assertNoSecret(`MQTT ${m.topic}`, m.payload.toString());
    } finally {
      gw.kill('SIGKILL');
      await watcher.close();
    }
  });

  it('--print-config and --validate-config (a numeric password, a bad URL field)', async () => {
    const printed = runGateway(['--print-config'], env);
    assert.equal(await printed.exit, 0, printed.output());
    assertNoSecret('--print-config', printed.output());
    assert.match(printed.output(), /<redacted>/);

    const file = join(workDir, 'bad.yaml');
    await writeFile(file, `mqtt:\n  password: 98765432\n  qos: 7\nhttp:\n  token: 55554444\n`);
    const checked = runGateway(['--config', file, '--validate-config'], {});
    assert.equal(await checked.exit, 2, checked.output());
    assert.match(checked.output(), /mqtt\.password: got <redacted>/);
    assert.ok(!checked.output().includes('98765432'), checked.output());
    assert.ok(!checked.output().includes('55554444'), checked.output());
  });
});
