/*
 * A gateway-like process for InfluxDB tests that need a real process to die (kill -9 with
 * points accepted but not written). Run as a program it starts an InfluxSink from
 * MUJO_INFLUX_CHILD_CONFIG and obeys stdin lines:
 *   write <from> <count>   write `activity` points with latency_ms = from..from+count-1
 * It prints JSON lines: {"event":"started"|"written", ...}. Imported, it offers
 * spawnInfluxChild() to the tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface InfluxChildConfig {
  readonly url: string;
  readonly gatewayId: string;
  readonly spoolDir: string;
  readonly syncIntervalMs?: number;
}

export interface InfluxChild {
  readonly process: ChildProcess;
  send(line: string): void;
  waitFor(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill9(): Promise<void>;
}

const THIS_FILE = fileURLToPath(import.meta.url);

/** The line protocol of point `i`: one series, a distinct timestamp and value per point. */
export function influxChildLine(gatewayId: string, i: number): string {
  return `activity,gateway=${gatewayId},subject=s1 latency_ms=${i} ${1_717_000_000_000_000_000 + i * 1_000_000}`;
}

export async function spawnInfluxChild(config: InfluxChildConfig): Promise<InfluxChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', THIS_FILE], {
    env: { ...process.env, MUJO_INFLUX_CHILD_CONFIG: JSON.stringify(config) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    events.push(JSON.parse(line) as Record<string, unknown>);
    for (const w of [...waiters]) w();
  });
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const handle: InfluxChild = {
    process: child,
    send: (line) => child.stdin!.write(line + '\n'),
    waitFor(event, timeoutMs = 15000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const e = events.find((x) => x['event'] === event);
          if (!e) return;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          events.splice(events.indexOf(e), 1);
          resolve(e);
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`influx child: no ${event} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(check);
        check();
      });
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exit;
    },
  };
  await handle.waitFor('started');
  return handle;
}

async function main(): Promise<void> {
  const { InfluxSink } = await import('../../gateway/sinks/influx/sink.ts');
  const { createLogger } = await import('../../gateway/observability/logger.ts');
  const { createMetricsRegistry } = await import('../../gateway/observability/metrics.ts');
  const config = JSON.parse(process.env['MUJO_INFLUX_CHILD_CONFIG'] ?? '{}') as InfluxChildConfig;
  const say = (e: Record<string, unknown>) => process.stdout.write(JSON.stringify(e) + '\n');
  const sink = new InfluxSink({
    gatewayId: config.gatewayId,
    url: config.url,
    target: { org: 'mujo', bucket: 'mujo', token: undefined, flavour: '2.x/3.x' },
    spoolDir: config.spoolDir,
    ...(config.syncIntervalMs !== undefined ? { syncIntervalMs: config.syncIntervalMs } : {}),
    minRetryDelayMs: 100,
    maxRetryDelayMs: 300,
    logger: createLogger({ level: process.env['MUJO_CHILD_LOG'] ?? 'warn' }),
    registry: createMetricsRegistry({ defaultMetrics: false }),
  });
  await sink.start();
  say({ event: 'started', queued: sink.queued });
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [cmd, a, b] = line.trim().split(/\s+/);
    if (cmd === 'write') {
      const from = Number(a);
      const count = Number(b);
      const lines: string[] = [];
      for (let i = from; i < from + count; i++) lines.push(influxChildLine(config.gatewayId, i));
      sink.writeLines(lines);
      say({ event: 'written', queued: sink.queued, spoolBytes: sink.spoolBytes });
    } else if (cmd === 'stats') {
      say({ event: 'stats', queued: sink.queued, spoolBytes: sink.spoolBytes });
    }
  });
}

if (process.argv[1] === THIS_FILE) {
  main().catch((err: unknown) => {
    process.stderr.write(`influx-child failed: ${String(err)}\n`);
    process.exit(1);
  });
}
