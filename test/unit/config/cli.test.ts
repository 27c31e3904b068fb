import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { parseCli, runConfigCommands } from '../../../gateway/config/cli.ts';
import { validateConfig } from '../../../gateway/config/validate.ts';
import { REDACTED } from '../../../gateway/config/redact.ts';
import { SOFTWARE_VERSION } from '../../../gateway/version.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'mujo-cli-'));
after(() => rm(dir, { recursive: true, force: true }));

async function run(args: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const result = await runConfigCommands(args, {
    env,
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
  });
  return { result, stdout, stderr };
}

test('parseCli reads every flag', () => {
  assert.deepEqual(
    parseCli([
      '--config',
      'a.yaml',
      '--validate-config',
      '--speed',
      '2.5',
      '--port',
      '0',
      '--mqtt-port',
      '1884',
    ]),
    {
      config: 'a.yaml',
      validateConfig: true,
      printConfig: false,
      speed: 2.5,
      port: 0,
      mqttPort: 1884,
    },
  );
  assert.deepEqual(parseCli([]), { validateConfig: false, printConfig: false });
});

test('no flags: the demo configuration, nothing printed, no exit code', async () => {
  const { result, stdout, stderr } = await run([]);
  assert.equal(result.exitCode, undefined);
  assert.equal(result.config?.replay.enabled, true);
  assert.equal(stdout + stderr, '');
});

test('--speed, --port and --mqtt-port set replay.speed, http.port and mqtt.embeddedPort', async () => {
  const { result } = await run(['--speed', '10', '--port', '8181', '--mqtt-port', '1884']);
  assert.equal(result.config?.replay.speed, 10);
  assert.equal(result.config?.http.port, 8181);
  assert.equal(result.config?.mqtt.embeddedPort, 1884);
});

test('--version prints the package version and exits 0', async () => {
  const { result, stdout } = await run(['--version']);
  assert.equal(result.exitCode, 0);
  assert.match(stdout, /^\d+\.\d+\.\d+/);
});

test('--validate-config: OK and exit 0, or every problem on stderr and exit 2', async () => {
  const good = join(dir, 'good.yaml');
  await writeFile(good, 'http:\n  port: 8081\n');
  const ok = await run(['--config', good, '--validate-config']);
  assert.equal(ok.result.exitCode, 0);
  assert.match(ok.stdout, /^OK: .*good\.yaml is a valid configuration/);

  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'http:\n  port: -1\nlog:\n  level: loud\n');
  const failed = await run(['--config', bad, '--validate-config']);
  assert.equal(failed.result.exitCode, 2);
  assert.equal(failed.stdout, '');
  assert.match(failed.stderr, /^CONFIG_INVALID: Invalid configuration \(.*bad\.yaml\): 2 problems/);
  assert.match(
    failed.stderr,
    /http\.port: got -1 \(number\), expected a number at least 0 \(.*bad\.yaml:2:9\)/,
  );
  assert.match(failed.stderr, /log\.level: got "loud" \(string\)/);
});

test('a bad configuration without --validate-config also prints and exits 2', async () => {
  const missing = await run(['--config', join(dir, 'nope.yaml')]);
  assert.equal(missing.result.exitCode, 2);
  assert.match(
    missing.stderr,
    /^CONFIG_NOT_FOUND: Cannot read configuration file .*nope\.yaml: no such file/,
  );
  const env = await run([], { MUJO__HTTP__PORT: 'x' });
  assert.equal(env.result.exitCode, 2);
  assert.match(env.stderr, /from env MUJO__HTTP__PORT/);
});

test('bad flags exit 2 with commander’s message; --help exits 0', async () => {
  const badPort = await run(['--port', 'eighty']);
  assert.equal(badPort.result.exitCode, 2);
  assert.match(
    badPort.stderr,
    /--port <port>' argument 'eighty' is invalid\. expected an integer 0\.\.65535/,
  );
  const unknown = await run(['--nope']);
  assert.equal(unknown.result.exitCode, 2);
  assert.match(unknown.stderr, /unknown option '--nope'/);
  const help = await run(['--help']);
  assert.equal(help.result.exitCode, 0);
  assert.match(help.stdout, /--validate-config/);
  assert.match(help.stdout, /MUJO__<SECTION>__<KEY>=value/);
});

test('--version prints the package version and exits 0, also from the real entry point', async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(SOFTWARE_VERSION, pkg.version);
  for (const flag of ['--version', '-V']) {
    const { result, stdout } = await run([flag]);
    assert.deepEqual(result, { exitCode: 0 });
    assert.equal(stdout.trim(), pkg.version);
  }
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'gateway/main.ts', '--version'],
    {
      cwd: ROOT,
    },
  );
  assert.equal(stdout.trim(), pkg.version);
});

test('--print-config prints the effective configuration as YAML with secrets redacted', async () => {
  const file = join(dir, 'secret.yaml');
  await writeFile(
    file,
    'mqtt:\n  url: mqtts://gw:hunter2@broker:8883\n  username: gw\n  password: hunter2\n',
  );
  const { result, stdout } = await run(['--config', file, '--print-config', '--port', '9001'], {
    MUJO__HTTP__TOKEN: 'token-token-token',
  });
  assert.equal(result.exitCode, 0);
  assert.ok(!stdout.includes('hunter2') && !stdout.includes('token-token-token'), stdout);
  const printed = parse(stdout) as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(printed), [
    'gateway',
    'model',
    'replay',
    'mqtt',
    'ingest',
    'http',
    'ble',
    'cameras',
    'matching',
    'influx',
    'recorder',
    'enrollment',
    'fleet',
    'pipeline',
    'reps',
    'subjects',
    'log',
  ]);
  assert.equal(printed['mqtt']!['password'], REDACTED);
  assert.equal(printed['mqtt']!['url'], `mqtts://gw:${REDACTED}@broker:8883`);
  assert.equal(printed['http']!['token'], REDACTED);
  // What is printed is itself a valid configuration with the same values.
  const reparsed = validateConfig(printed);
  assert.equal(reparsed.http.port, 9001);
  assert.equal(reparsed.mqtt.username, 'gw');
});

const exec = promisify(execFile);
async function writeSchema(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await exec(
      process.execPath,
      ['--import', 'tsx', 'gateway/config/write-schema.ts', ...args],
      { cwd: ROOT },
    );
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

test('write-schema --check exits 1 on a stale file and 0 once written', async () => {
  const file = join(dir, 'gateway.schema.json');
  await writeFile(file, '{}\n');
  const stale = await writeSchema(['--check', '--file', file]);
  assert.equal(stale.code, 1);
  assert.match(stale.out, /out of date .*npm run schemas/);
  assert.equal((await writeSchema(['--file', file])).code, 0);
  const fresh = await writeSchema(['--check', '--file', file]);
  assert.equal(fresh.code, 0, fresh.out);
  assert.equal(
    await readFile(file, 'utf8'),
    await readFile(join(ROOT, 'config/schemas/gateway.schema.json'), 'utf8'),
  );
});
