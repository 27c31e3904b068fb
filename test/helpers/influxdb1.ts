import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './mosquitto.ts';

/*
 * A real InfluxDB 1.x (Debian's influxd 1.6.7) for tests: temp meta/data/wal directories,
 * HTTP and RPC on free loopback ports, no reporting, no monitor store. v1 /write and
 * InfluxQL /query only (1.6 has no /api/v2 endpoints).
 */

export const INFLUXD_BIN =
  process.env['INFLUXD_BIN'] ?? (existsSync('/usr/bin/influxd') ? '/usr/bin/influxd' : 'influxd');

/** One series of an InfluxQL result. */
export interface InfluxSeries {
  readonly name: string;
  readonly tags?: Record<string, string>;
  readonly columns: string[];
  readonly values: unknown[][];
}

export interface InfluxStatementResult {
  readonly statement_id: number;
  readonly series?: InfluxSeries[];
  readonly error?: string;
}

export interface InfluxDB1 {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** POST /write (line protocol, ns precision). */
  write(db: string, lines: readonly string[]): Promise<void>;
  /** GET /query; throws on an HTTP error, returns per-statement results (each may carry `error`). */
  query(db: string, q: string): Promise<InfluxStatementResult[]>;
  dispose(): Promise<void>;
  log(): string;
}

export async function startInfluxDB1(): Promise<InfluxDB1> {
  const dir = mkdtempSync(join(tmpdir(), 'mujo-influxd-'));
  const port = await freePort();
  const rpcPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = join(dir, 'influxdb.conf');
  writeFileSync(
    config,
    [
      'reporting-disabled = true',
      `bind-address = "127.0.0.1:${rpcPort}"`,
      '[meta]',
      `  dir = "${join(dir, 'meta')}"`,
      '[data]',
      `  dir = "${join(dir, 'data')}"`,
      `  wal-dir = "${join(dir, 'wal')}"`,
      '  query-log-enabled = false',
      '[monitor]',
      '  store-enabled = false',
      '[http]',
      `  bind-address = "127.0.0.1:${port}"`,
      '  log-enabled = false',
      '[logging]',
      '  level = "warn"',
      '[continuous_queries]',
      '  enabled = false',
      '',
    ].join('\n'),
  );
  let output = '';
  const child: ChildProcess = spawn(INFLUXD_BIN, ['-config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;

  const db: InfluxDB1 = {
    url,
    port,
    dir,
    async write(database, lines) {
      const res = await fetch(`${url}/write?db=${encodeURIComponent(database)}&precision=ns`, {
        method: 'POST',
        body: lines.join('\n'),
      });
      if (res.status !== 204) throw new Error(`influxd /write: HTTP ${res.status} ${await res.text()}`);
    },
    async query(database, q) {
      const params = new URLSearchParams({ db: database, q, epoch: 'ns' });
      const res = await fetch(`${url}/query?${params.toString()}`, { method: 'POST' });
      const body = (await res.json()) as { results?: InfluxStatementResult[]; error?: string };
      if (!res.ok || body.error)
        throw new Error(`influxd /query ${q}: HTTP ${res.status} ${body.error ?? ''}`);
      return body.results ?? [];
    },
    async dispose() {
      if (!exited()) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
    log() {
      return output;
    },
  };
  const deadline = Date.now() + 10000;
  for (;;) {
    if (exited()) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(
        `influxd exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`,
      );
    }
    try {
      const res = await fetch(`${url}/ping`);
      if (res.status === 204) return db;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await db.dispose();
      throw new Error(`influxd not ready on ${url} after 10 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
