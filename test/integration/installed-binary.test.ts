/**
 * The gateway as a user installs it: the package's files built with the real `npm run build`
 * into a folder of their own, then the `bin` (dist/gateway/main.js) started from an unrelated
 * working directory. The bundled model, the demo recording and the page must be found from
 * the install, not from wherever the user happens to stand.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { freePort } from '../helpers/mosquitto.ts';

const repo = resolve(import.meta.dirname, '../..');
let install: string;
let elsewhere: string;

before(async () => {
  install = await mkdtemp(join(tmpdir(), 'mujo-install-'));
  elsewhere = await mkdtemp(join(tmpdir(), 'mujo-cwd-'));
  // What the package ships: its manifest, sources, schemas, model and demo recording (linked: 45 MB).
  for (const file of ['package.json', 'tsconfig.json']) await cp(join(repo, file), join(install, file));
  for (const dir of ['gateway', 'config']) await cp(join(repo, dir), join(install, dir), { recursive: true });
  for (const dir of ['models', 'recordings', 'node_modules'])
    await symlink(join(repo, dir), join(install, dir));
  await promisify(execFile)('npm', ['run', 'build'], { cwd: install, maxBuffer: 16 << 20 });
});

after(async () => {
  if (install) await rm(install, { recursive: true, force: true });
  if (elsewhere) await rm(elsewhere, { recursive: true, force: true });
});

test('--version of the built bin prints the package version', async () => {
  const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as {
    version: string;
    bin: Record<string, string>;
  };
  const bin = join(install, pkg.bin['mujo-gateway']!);
  const { stdout } = await promisify(execFile)(process.execPath, [bin, '--version'], { cwd: elsewhere });
  assert.equal(stdout.trim(), pkg.version);
});

test('the built bin started from another directory serves the demo: model, recording, page, events', async () => {
  const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  const bin = join(install, pkg.bin['mujo-gateway']!);
  const [port, mqttPort] = [await freePort(), await freePort()];
  await mkdir(join(elsewhere, 'spool'), { recursive: true });
  const child = spawn(
    process.execPath,
    [bin, '--port', String(port), '--mqtt-port', String(mqttPort), '--speed', '5'],
    {
      cwd: elsewhere,
      env: {
        ...process.env,
        MUJO__MQTT__QUEUE__SPOOL_DIR: join(elsewhere, 'spool'),
        MUJO_LOG_FORMAT: 'json',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    // An activity event line means model + recording + pipeline all work from the install.
    const deadline = Date.now() + 60_000;
    while (!/"component":"events".*"transition":"started"/.test(out)) {
      if (Date.now() > deadline || child.exitCode !== null) assert.fail(`no activity event:\n${err}\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(err, new RegExp(`model: ${install.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/models/default`));
    // The encoders run in the inference worker, started from tsc's .js output next to the bin.
    assert.match(out, /"msg":"encoder imu loaded on cpu in the inference worker"/);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as {
      components: Record<string, { status: string }>;
    };
    assert.equal(health.components['model']?.status, 'up');
    assert.match(err, new RegExp(`mqtt://127\\.0\\.0\\.1:${mqttPort} \\(embedded broker`));
    // A CPU machine: no provider warnings (level 40) on the way up.
    assert.doesNotMatch(out, /"level":40.*provider/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, err);
  } finally {
    child.kill('SIGKILL');
  }
});
