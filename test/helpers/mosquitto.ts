import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/*
 * A real mosquitto for tests, on a free loopback port, in its own temp directory.
 * Plain: anonymous MQTT on 127.0.0.1. TLS: certificates made at start by openssl (a CA and
 * a server certificate for 127.0.0.1/localhost) and a password file made by mosquitto_passwd.
 */

const run = promisify(execFile);

export const MOSQUITTO_BIN =
  process.env['MOSQUITTO_BIN'] ?? (existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto');

export interface MosquittoOptions {
  /** Serve mqtts:// with certificates generated now, and require user/password. */
  readonly tls?: boolean;
  /** Users for the password file (required when set; with TLS defaults to one user). */
  readonly users?: Record<string, string>;
  /** Keep sessions and retained messages across stop/start (persistence in the temp dir). */
  readonly persistence?: boolean;
  /** Extra config lines. */
  readonly extra?: readonly string[];
}

export interface Mosquitto {
  readonly host: string;
  readonly port: number;
  /** mqtt://127.0.0.1:port or mqtts://127.0.0.1:port */
  readonly url: string;
  readonly dir: string;
  /** PEM file of the CA that signed the server certificate (TLS only). */
  readonly caFile: string | undefined;
  readonly users: Record<string, string>;
  readonly running: boolean;
  /** Graceful stop (SIGTERM): persistence, if on, is written. */
  stop(): Promise<void>;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** Start again on the same port with the same configuration. */
  start(): Promise<void>;
  /** Stop and delete the temp directory. */
  dispose(): Promise<void>;
  log(): string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ca = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const ext = join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    caKey,
    '-out',
    ca,
    '-days',
    '2',
    '-subj',
    '/CN=mujo-test-ca',
  ]);
  await run('openssl', ['req', ...ec, '-keyout', key, '-out', csr, '-subj', '/CN=localhost']);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-out',
    cert,
    '-days',
    '2',
    '-extfile',
    ext,
  ]);
  return { ca, cert, key };
}

async function waitListening(
  port: number,
  child: ChildProcess,
  logFile: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
      throw new Error(
        `mosquitto exited (${child.exitCode ?? child.signalCode}) before listening on ${port}:\n${log}`,
      );
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`mosquitto not listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'mujo-mosquitto-'));
  const port = await freePort();
  const logFile = join(dir, 'mosquitto.log');
  const users = options.users ?? (options.tls ? { gateway: 'gw-secret-1', observer: 'obs-secret-2' } : {});
  const lines = [
    `listener ${port} 127.0.0.1`,
    // As root, mosquitto drops to user "mosquitto", which cannot read our 0700 temp dir.
    `user ${userInfo().username}`,
    `log_dest file ${logFile}`,
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    // Queue without limit for offline persistent sessions: tests count every message.
    'max_queued_messages 0',
  ];
  if (options.persistence)
    lines.push('persistence true', `persistence_location ${dir}/`, 'autosave_interval 0');
  else lines.push('persistence false');
  let caFile: string | undefined;
  if (options.tls) {
    const certs = await makeCertificates(dir);
    caFile = certs.ca;
    lines.push(
      `cafile ${certs.ca}`,
      `certfile ${certs.cert}`,
      `keyfile ${certs.key}`,
      'require_certificate false',
    );
  }
  if (Object.keys(users).length > 0) {
    const passwordFile = join(dir, 'passwd');
    let first = true;
    for (const [user, password] of Object.entries(users)) {
      await run('mosquitto_passwd', [...(first ? ['-c'] : []), '-b', passwordFile, user, password]);
      first = false;
    }
    lines.push(`password_file ${passwordFile}`, 'allow_anonymous false');
  } else {
    lines.push('allow_anonymous true');
  }
  lines.push(...(options.extra ?? []));
  const configFile = join(dir, 'mosquitto.conf');
  writeFileSync(configFile, lines.join('\n') + '\n');

  let child: ChildProcess | undefined;
  const exited = () => !child || child.exitCode !== null || child.signalCode !== null;
  const waitExit = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => c.once('exit', () => resolve()));

  const broker: Mosquitto = {
    host: '127.0.0.1',
    port,
    url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    dir,
    caFile,
    users,
    get running() {
      return !exited();
    },
    async start() {
      if (!exited()) return;
      const c = spawn(MOSQUITTO_BIN, ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      c.stderr?.on('data', () => undefined);
      child = c;
      await waitListening(port, c, logFile);
    },
    async stop() {
      if (exited()) return;
      const c = child!;
      c.kill('SIGTERM');
      await waitExit(c);
    },
    async kill() {
      if (exited()) return;
      const c = child!;
      c.kill('SIGKILL');
      await waitExit(c);
    },
    async dispose() {
      await broker.kill();
      rmSync(dir, { recursive: true, force: true });
    },
    log() {
      return existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    },
  };
  try {
    await broker.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return broker;
}

// --- an observing client -----------------------------------------------------------------------

export interface Received {
  readonly topic: string;
  readonly payload: Buffer;
  readonly retain: boolean;
  readonly qos: number;
  readonly properties: Record<string, unknown> | undefined;
}

export interface Observer {
  readonly client: import('mqtt').MqttClient;
  readonly messages: Received[];
  /** Resolves with the messages matching `pred` once there are `count` of them. */
  waitFor(pred: (m: Received) => boolean, count?: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** Connects a client that records every message on `filters` (QoS 1). */
export async function observe(
  url: string,
  filters: string[],
  options: import('mqtt').IClientOptions = {},
): Promise<Observer> {
  const { connectAsync } = await import('mqtt');
  const client = await connectAsync(url, { protocolVersion: 5, reconnectPeriod: 200, ...options });
  const messages: Received[] = [];
  const waiters: Array<() => void> = [];
  client.on('message', (topic, payload, packet) => {
    messages.push({
      topic,
      payload,
      retain: packet.retain,
      qos: packet.qos,
      properties: packet.properties as Record<string, unknown> | undefined,
    });
    for (const w of [...waiters]) w();
  });
  if (filters.length > 0) await client.subscribeAsync(filters, { qos: 1 });
  return {
    client,
    messages,
    waitFor(pred, count = 1, timeoutMs = 10000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const got = messages.filter(pred);
          if (got.length >= count) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(check), 1);
            resolve(got);
          }
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${count} messages (have ${messages.filter(pred).length}; ${messages.length} total)`,
            ),
          );
        }, timeoutMs);
        waiters.push(check);
        check();
      });
    },
    async close() {
      await client.endAsync(true);
    },
  };
}

/**
 * Sends a gateway command (`mujo/<gw>/request/<action>`, with a fresh correlation id and the
 * command token) through an observer subscribed to `mujo/<gw>/response/+`, and resolves with
 * the gateway's parsed reply.
 */
export async function commandRequest<Reply>(
  observer: Observer,
  gatewayId: string,
  token: string,
  action: string,
  body: object,
  timeoutMs = 10_000,
): Promise<Reply> {
  const correlationId = `${action}-${Math.random().toString(36).slice(2)}`;
  await observer.client.publishAsync(
    `mujo/${gatewayId}/request/${action}`,
    JSON.stringify({ correlationId, token, ...body }),
    { qos: 1 },
  );
  const [reply] = await observer.waitFor(
    (m) => m.topic === `mujo/${gatewayId}/response/${action}` && m.payload.includes(correlationId),
    1,
    timeoutMs,
  );
  return JSON.parse(reply!.payload.toString()) as Reply;
}
