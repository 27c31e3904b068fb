import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './mosquitto.ts';

/*
 * A real VictoriaMetrics for tests: free loopback port, storage in a temp directory that
 * survives stop()/start() (so a test can take the server away and bring it back), search
 * cache off and no latency offset so what was just written can be read back after
 * forceFlush().
 */

export const VICTORIA_METRICS_BIN =
  process.env['VICTORIA_METRICS_BIN'] ??
  (existsSync('/usr/bin/victoria-metrics') ? '/usr/bin/victoria-metrics' : 'victoria-metrics');

/** One series of /api/v1/export: InfluxDB measurement_field as __name__, tags as labels. */
export interface ExportedSeries {
  readonly metric: Record<string, string>;
  readonly values: number[];
  /** Milliseconds. */
  readonly timestamps: number[];
}

export interface VictoriaMetrics {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly running: boolean;
  start(): Promise<void>;
  /** SIGTERM and wait for exit (data kept). */
  stop(): Promise<void>;
  kill(): Promise<void>;
  dispose(): Promise<void>;
  /** Makes recently written samples searchable. */
  forceFlush(): Promise<void>;
  /** Every sample of the series matching `match` (a series selector), all time. */
  export(match: string): Promise<ExportedSeries[]>;
  /**
   * VictoriaMetrics keeps fresh rows in a buffer for about a second before they become
   * searchable, force_flush or not. Polls until at least `minSamples` samples match (or
   * `timeoutMs`), then once more after that buffer period, so late extra samples
   * (duplicates) would show too.
   */
  exportSettled(match: string, minSamples: number, timeoutMs?: number): Promise<ExportedSeries[]>;
  log(): string;
}

/**
 * The gateway's `influx` config block pointed at this VictoriaMetrics (it speaks the
 * InfluxDB write API; bucket and token are accepted and ignored), flushing every 100 ms.
 */
export function influxConfigFor(
  vm: Pick<VictoriaMetrics, 'url'>,
  spoolDir: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    enabled: true,
    url: vm.url,
    bucket: 'mujo',
    token: 'unused',
    spoolDir,
    flushIntervalMs: 100,
    ...extra,
  };
}

export interface VictoriaMetricsOptions {
  /**
   * Keep one sample per series and millisecond (-dedup.minScrapeInterval=1ms), as InfluxDB
   * keeps one point per series and timestamp: a batch written twice (the server died after
   * storing it but before answering) then reads back once, as it would from InfluxDB.
   */
  readonly dedup?: boolean;
}

export async function startVictoriaMetrics(options: VictoriaMetricsOptions = {}): Promise<VictoriaMetrics> {
  const dir = mkdtempSync(join(tmpdir(), 'mujo-vm-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let output = '';
  const exited = (): boolean => !child || child.exitCode !== null || child.signalCode !== null;
  const waitExit = (c: ChildProcess): Promise<void> =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve()
      : new Promise((resolve) => c.once('exit', () => resolve()));

  const vm: VictoriaMetrics = {
    url,
    port,
    dir,
    get running() {
      return !exited();
    },
    async start() {
      if (!exited()) return;
      const c = spawn(
        VICTORIA_METRICS_BIN,
        [
          `-storageDataPath=${join(dir, 'data')}`,
          `-httpListenAddr=127.0.0.1:${port}`,
          '-search.latencyOffset=0s',
          '-search.disableCache',
          '-loggerLevel=ERROR',
          // Tests write timestamps of "now"; keep everything regardless of age.
          '-retentionPeriod=100y',
          ...(options.dedup ? ['-dedup.minScrapeInterval=1ms'] : []),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      c.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      c.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      child = c;
      const deadline = Date.now() + 10000;
      for (;;) {
        if (exited())
          throw new Error(
            `victoria-metrics exited (${c.exitCode ?? c.signalCode}) before it was ready:\n${output}`,
          );
        try {
          const res = await fetch(`${url}/health`);
          if (res.ok) return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline)
          throw new Error(`victoria-metrics not ready on ${url} after 10 s:\n${output}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop() {
      if (exited()) return;
      child!.kill('SIGTERM');
      await waitExit(child!);
    },
    async kill() {
      if (exited()) return;
      child!.kill('SIGKILL');
      await waitExit(child!);
    },
    async dispose() {
      await vm.kill();
      rmSync(dir, { recursive: true, force: true });
    },
    async forceFlush() {
      const res = await fetch(`${url}/internal/force_flush`);
      if (!res.ok) throw new Error(`force_flush: HTTP ${res.status}`);
    },
    async export(match: string) {
      // `end` defaults to now; points stamped ahead of the wall clock (a replay at N× speed
      // keeps the recording's own time base) must be read too.
      const end = String(Math.floor(Date.now() / 1000) + 2 * 86_400);
      const q = new URLSearchParams({ 'match[]': match, start: '0', end });
      const res = await fetch(`${url}/api/v1/export?${q.toString()}`);
      if (!res.ok) throw new Error(`export ${match}: HTTP ${res.status} ${await res.text()}`);
      const text = await res.text();
      return text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as ExportedSeries);
    },
    async exportSettled(match, minSamples, timeoutMs = 20000) {
      const deadline = Date.now() + timeoutMs;
      const count = (series: ExportedSeries[]): number => series.reduce((n, s) => n + s.values.length, 0);
      for (;;) {
        await vm.forceFlush();
        const series = await vm.export(match);
        if (count(series) >= minSamples || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      await new Promise((r) => setTimeout(r, 1500));
      await vm.forceFlush();
      return vm.export(match);
    },
    log() {
      return output;
    },
  };
  try {
    await vm.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return vm;
}
