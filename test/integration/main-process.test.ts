/**
 * The CLI as a user runs it (a child process): exit codes for a bad config and a bad model,
 * and a real start → live page and health answer → SIGTERM → drain, `offline`, exit 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, observe, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

let broker: Mosquitto;
let workDir: string;

before(async () => {
  broker = await startMosquitto();
  workDir = await mkdtemp(join(tmpdir(), 'mujo-main-'));
});

after(async () => {
  await broker?.dispose();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

interface Child {
  readonly exit: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  kill(signal: NodeJS.Signals): void;
}

async function waitForOutput(read: () => string, pattern: RegExp, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(read())) {
    if (Date.now() > deadline) assert.fail(`no ${pattern} in output within ${timeoutMs} ms:\n${read()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function runGateway(args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return {
    exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    stdout: () => out,
    stderr: () => err,
    kill: (signal) => child.kill(signal),
  };
}

test('a bad config exits 2 and names the key, the value and what is expected', async () => {
  const file = join(workDir, 'bad.yaml');
  await writeFile(file, 'http:\n  port: 70000\nmqtt:\n  qos: 3\n');
  const child = runGateway(['--config', file, '--validate-config']);
  assert.equal(await child.exit, 2);
  assert.match(child.stderr(), /http\.port: got 70000/);
  assert.match(child.stderr(), /mqtt\.qos/);
});

test('a model whose files do not match the manifest hashes refuses to start, exit 1, coded error', async () => {
  const model = join(workDir, 'corrupt-model');
  await cp('test/fixtures/tiny-model', model, { recursive: true });
  await appendFile(join(model, 'imu.onnx'), Buffer.from([0]));
  const child = runGateway([], {
    MUJO__MODEL__PATH: model,
    MUJO__MQTT__URL: broker.url,
    MUJO__HTTP__ENABLED: 'false',
    MUJO__REPLAY__ENABLED: 'false',
    MUJO__MQTT__QUEUE__SPOOL_DIR: join(workDir, 'spool-corrupt'),
  });
  assert.equal(await child.exit, 1);
  assert.match(child.stderr(), /MODEL_HASH_MISMATCH/);
  assert.match(child.stderr(), /imu\.onnx/);
});

test('start → page, health and MQTT online → SIGTERM drains, publishes offline, exits 0', async () => {
  const port = await freePort();
  const watcher = await observe(broker.url, ['mujo/proc/availability', 'mujo/proc/subjects/+/state']);
  const child = runGateway(['--port', String(port), '--speed', '5'], {
    MUJO__GATEWAY__ID: 'proc',
    MUJO__MODEL__PATH: 'test/fixtures/tiny-model',
    MUJO__REPLAY__PATH: 'test/fixtures/recording-small',
    MUJO__MQTT__URL: broker.url,
    MUJO__MQTT__QUEUE__SPOOL_DIR: join(workDir, 'spool-proc'),
    MUJO__LOG__LEVEL: 'warn',
  });
  try {
    await watcher.waitFor((m) => m.payload.toString() === 'online', 1, 20_000);
    // "where to look" is printed for the user.
    await waitForOutput(child.stderr, new RegExp(`Live page: +http://127\\.0\\.0\\.1:${port}/`));
    assert.match(child.stderr(), /mosquitto_sub .*-t 'mujo\/proc\/#'/);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as {
      components: Record<string, { status: string; details?: Record<string, unknown> }>;
    };
    assert.equal(health.components['model']?.status, 'up');
    assert.equal(health.components['mqtt']?.status, 'up');
    // Subject state flows before we stop.
    await watcher.waitFor((m) => m.topic.endsWith('/state'), 1, 20_000);

    child.kill('SIGTERM');
    assert.equal(await child.exit, 0, child.stderr());
    const offline = await watcher.waitFor((m) => m.payload.toString() === 'offline', 1, 5000);
    assert.equal(
      offline.length,
      1,
      JSON.stringify(watcher.messages.map((m) => [m.topic, m.payload.toString().slice(0, 40), m.retain])),
    );
  } finally {
    child.kill('SIGKILL');
    await watcher.close();
  }
});
