/**
 * systemd's notify protocol against a fake $NOTIFY_SOCKET: a real unix datagram socket
 * (Debian's python3 binds it; Node's core cannot), receiving what the real `systemd-notify`
 * sends. The gateway says READY=1 once serving, beats WATCHDOG=1 from its event loop and says
 * STOPPING=1 on SIGTERM; a blocked event loop stops the heartbeat, which is what makes systemd
 * restart a hung gateway.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';

const repo = resolve(import.meta.dirname, '../..');
const haveSystemdNotify = spawnSync('systemd-notify', ['--version']).status === 0;
const skip = haveSystemdNotify ? false : 'systemd-notify is not installed (package systemd)';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mujo-notify-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface FakeNotifySocket {
  readonly path: string;
  /** Every assignment received, in order (BARRIER=1 of systemd-notify's handshake left out). */
  readonly messages: string[];
  /** Arrival time of each message on the receiving side (monotonic ms). */
  readonly arrivals: number[];
  waitFor(predicate: (messages: readonly string[]) => boolean, what: string): Promise<void>;
  close(): void;
}

async function fakeNotifySocket(name: string): Promise<FakeNotifySocket> {
  const path = join(dir, name);
  const server = spawn(
    '/usr/bin/python3',
    [
      '-c',
      `import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('LISTENING', flush=True)
while True:
    data = s.recv(65536)
    at = time.monotonic() * 1000
    for line in data.decode().split('\\n'):
        if line and line != 'BARRIER=1':
            print('%.1f %s' % (at, line), flush=True)`,
      path,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const messages: string[] = [];
  const arrivals: number[] = [];
  let listening = false;
  let buffer = '';
  server.stdout.on('data', (d: Buffer) => {
    buffer += d.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'LISTENING') {
        listening = true;
        continue;
      }
      const space = line.indexOf(' ');
      arrivals.push(Number(line.slice(0, space)));
      messages.push(line.slice(space + 1));
    }
  });
  const waitFor = async (predicate: (m: readonly string[]) => boolean, what: string) => {
    const deadline = Date.now() + 30_000;
    while (!predicate(messages)) {
      if (Date.now() > deadline) assert.fail(`${what} never came; got ${JSON.stringify(messages)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await waitFor(() => listening, 'the fake NOTIFY_SOCKET');
  return { path, messages, arrivals, waitFor, close: () => server.kill('SIGKILL') };
}

const count = (messages: readonly string[], m: string) => messages.filter((x) => x === m).length;

test(
  'the gateway under Type=notify: READY=1 when serving, WATCHDOG=1 heartbeats, STOPPING=1 on SIGTERM',
  { skip },
  async () => {
    const notify = await fakeNotifySocket('gateway.sock');
    let child: ChildProcess | undefined;
    try {
      child = spawn(
        process.execPath,
        ['--import', 'tsx', 'gateway/main.ts', '--port', '0', '--mqtt-port', '0'],
        {
          cwd: repo,
          env: {
            ...process.env,
            NOTIFY_SOCKET: notify.path,
            WATCHDOG_USEC: '400000',
            MUJO__REPLAY__ENABLED: 'false',
            MUJO__MQTT__QUEUE__SPOOL_DIR: join(dir, 'spool'),
            MUJO__LOG__LEVEL: 'warn',
          },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      const exited = new Promise<number | null>((r) => child!.on('exit', (code) => r(code)));
      await notify.waitFor((m) => m.includes('READY=1'), 'READY=1');
      assert.ok(notify.messages.some((m) => m.startsWith('STATUS=serving http://127.0.0.1:')));
      assert.ok(notify.messages.includes(`MAINPID=${child.pid}`));
      await notify.waitFor((m) => count(m, 'WATCHDOG=1') >= 3, 'three heartbeats');
      child.kill('SIGTERM');
      await notify.waitFor((m) => m.includes('STOPPING=1'), 'STOPPING=1');
      assert.equal(await exited, 0);
    } finally {
      child?.kill('SIGKILL');
      notify.close();
    }
  },
);

test('a blocked event loop stops the heartbeat; it resumes when the loop is free', { skip }, async () => {
  const notify = await fakeNotifySocket('block.sock');
  // The real notifier in a process whose event loop is then blocked for 30 heartbeat periods.
  const script = `
    import { SystemdNotifier } from './gateway/observability/systemd-notify.ts';
    import { silentLogger } from './gateway/observability/logger.ts';
    const notifier = SystemdNotifier.fromEnv({ logger: silentLogger() });
    notifier.startWatchdog();
    const keepAlive = setInterval(() => {}, 1000);
    setTimeout(async () => {
      await notifier.status('blocking');
      const until = Date.now() + 3000;
      while (Date.now() < until) {} // a synchronous hang: no timer can run
      await notifier.status('unblocked');
      setTimeout(() => { clearInterval(keepAlive); notifier.stopWatchdog(); }, 1000);
    }, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repo,
    env: { ...process.env, NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '200000' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  try {
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    assert.equal(await exited, 0);
    const m = notify.messages;
    const blocked = m.indexOf('STATUS=blocking');
    const freed = m.indexOf('STATUS=unblocked');
    assert.ok(blocked > 0 && freed > blocked, JSON.stringify(m));
    // 100 ms period: ~10 beats in the free second before and after.
    const before = count(m.slice(0, blocked), 'WATCHDOG=1');
    const afterwards = count(m.slice(freed), 'WATCHDOG=1');
    assert.ok(before >= 3, `heartbeats before the block: ${before}`);
    assert.ok(afterwards >= 3, `heartbeats after the block: ${afterwards}`);
    // While the loop hung for 3 s (30 periods) nothing was sent: the heartbeats show one gap
    // of about the hang (a beat already on its way may land just after it began).
    const beats = notify.arrivals.filter((_, i) => m[i] === 'WATCHDOG=1');
    const longestGap = Math.max(...beats.slice(1).map((t, i) => t - beats[i]!));
    assert.ok(longestGap >= 2000, `longest silence between heartbeats: ${longestGap} ms`);
  } finally {
    child.kill('SIGKILL');
    notify.close();
  }
});
