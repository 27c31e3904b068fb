/*
 * A gateway-like process for MQTT tests that need a real process to die (last will, kill -9
 * with a spool on disk). Run as a program it starts an MqttSink from MUJO_CHILD_CONFIG and
 * obeys stdin lines:
 *   publish <from> <count>   publish activity events with seq from..from+count-1 (subject s1)
 *   stats                    print queue statistics
 *   stop                     graceful stop (drain, offline, spool the rest), then exit
 *   advance <ms>             with virtualTime: move the sink's timers on by ms, then print
 *                            {"event":"advanced"} (spill and durability timers fire then, not before)
 * It prints JSON lines: {"event":"started"|"connected"|"published"|"stats"|"advanced"|"stopped", ...}.
 * Imported, it offers spawnChild() to the tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface ChildConfig {
  readonly url: string;
  readonly gatewayId: string;
  readonly spoolDir: string;
  readonly memoryMessages?: number;
  readonly spillAfterMs?: number;
  readonly segmentBytes?: number;
  readonly maxSpoolBytes?: number;
  readonly keepaliveS?: number;
  readonly protocolVersion?: 4 | 5;
  /** The sink's own timers are virtual: time moves only on `advance <ms>` (the MQTT client's stay real). */
  readonly virtualTime?: boolean;
}

export interface ChildEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

export interface ChildHandle {
  readonly process: ChildProcess;
  readonly events: ChildEvent[];
  send(line: string): void;
  waitFor(pred: (e: ChildEvent) => boolean, timeoutMs?: number): Promise<ChildEvent>;
  kill9(): void;
  exited(): Promise<number | null>;
}

const THIS_FILE = fileURLToPath(import.meta.url);

export async function spawnChild(config: ChildConfig): Promise<ChildHandle> {
  const child = spawn(process.execPath, ['--import', 'tsx', THIS_FILE], {
    env: { ...process.env, MUJO_CHILD_CONFIG: JSON.stringify(config) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events: ChildEvent[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    events.push(JSON.parse(line) as ChildEvent);
    for (const w of [...waiters]) w();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const handle: ChildHandle = {
    process: child,
    events,
    send(line) {
      child.stdin!.write(line + '\n');
    },
    waitFor(pred, timeoutMs = 15000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const e = events.find(pred);
          if (e) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(check), 1);
            resolve(e);
          }
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`child: timed out; events so far: ${JSON.stringify(events)}`));
        }, timeoutMs);
        waiters.push(check);
        check();
      });
    },
    kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    exited: () => exit,
  };
  await handle.waitFor((e) => e.event === 'started');
  return handle;
}

async function main(): Promise<void> {
  const { MqttSink } = await import('../../gateway/sinks/mqtt/index.ts');
  const { createLogger } = await import('../../gateway/observability/logger.ts');
  const { createMetricsRegistry } = await import('../../gateway/observability/metrics.ts');
  const { activityEventFor } = await import('./mqtt-payloads.ts');
  const { VirtualTimers } = await import('../fakes/virtual-timers.ts');
  const config = JSON.parse(process.env['MUJO_CHILD_CONFIG'] ?? '{}') as ChildConfig;
  const timers = config.virtualTime ? new VirtualTimers() : undefined;
  const say = (e: ChildEvent) => process.stdout.write(JSON.stringify(e) + '\n');
  const sink = new MqttSink({
    url: config.url,
    gatewayId: config.gatewayId,
    protocolVersion: config.protocolVersion ?? 5,
    queue: {
      spoolDir: config.spoolDir,
      ...(config.memoryMessages !== undefined ? { memoryMessages: config.memoryMessages } : {}),
      ...(config.spillAfterMs !== undefined ? { spillAfterMs: config.spillAfterMs } : {}),
      ...(config.segmentBytes !== undefined ? { segmentBytes: config.segmentBytes } : {}),
      ...(config.maxSpoolBytes !== undefined ? { maxSpoolBytes: config.maxSpoolBytes } : {}),
    },
    reconnectPeriodMs: 200,
    ...(config.keepaliveS !== undefined ? { keepaliveS: config.keepaliveS } : {}),
    // Logs to stderr so stdout stays a clean event stream.
    logger: createLogger({ level: process.env['MUJO_CHILD_LOG'] ?? 'warn' }).child(
      {},
      { level: process.env['MUJO_CHILD_LOG'] ?? 'warn' },
    ),
    registry: createMetricsRegistry({ defaultMetrics: false }),
    ...(timers ? { timers } : {}),
  });
  await sink.start();
  say({ event: 'started', ...sink.stats() });
  void sink.waitConnected(60000).then(
    () => say({ event: 'connected' }),
    () => undefined,
  );
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [cmd, a, b] = line.trim().split(/\s+/);
    if (cmd === 'publish') {
      const from = Number(a);
      const count = Number(b);
      for (let seq = from; seq < from + count; seq++)
        sink.publishActivity(activityEventFor(config.gatewayId, 's1', seq));
      // After the spill timer's tick, so stats show where the messages went.
      setImmediate(() => say({ event: 'published', to: from + count, ...sink.stats() }));
    } else if (cmd === 'advance' && timers) {
      void timers.advance(Number(a)).then(() => say({ event: 'advanced', ...sink.stats() }));
    } else if (cmd === 'stats') {
      say({ event: 'stats', ...sink.stats() });
    } else if (cmd === 'stop') {
      void sink.stop().then(() => {
        say({ event: 'stopped', ...sink.stats() });
        process.exit(0);
      });
    }
  });
}

if (process.argv[1] === THIS_FILE) {
  main().catch((err: unknown) => {
    process.stderr.write(`mqtt-child failed: ${String(err)}\n`);
    process.exit(1);
  });
}
