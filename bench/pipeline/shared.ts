/**
 * What the benchmark's three processes (run.ts, gateway-process.ts, publisher.ts) say to each
 * other over the fork IPC channel, and the little arithmetic they share.
 */
import { readFileSync } from 'node:fs';

/**
 * Wall clock with sub-millisecond resolution, ns since the Unix epoch. The gateway's default
 * clock is `Date.now()` (1 ms steps), too coarse for a 25 ms p99 budget; every process of the
 * benchmark reads this one, so times taken in different processes compare.
 */
export const hiResNowNs = (): number => (performance.timeOrigin + performance.now()) * 1e6;

/** The simulated device of stream `i` (the gateway's config assigns it to subject `p<i>`). */
export function deviceId(i: number): string {
  return `imu-${String(i).padStart(4, '0')}`;
}

export interface GatewayInit {
  readonly type: 'init';
  readonly gatewayId: string;
  readonly brokerUrl: string;
  readonly modelDir: string;
  readonly streams: number;
  readonly maxBatch: number;
  readonly maxBatchWaitMs: number;
  readonly spoolDir: string;
  readonly intraOpThreads?: number;
  /**
   * `before`: the design measured in the issue (aligned hops, InfluxDB one request in flight,
   * IMU averaged at 100 Hz); `after`: staggered hops, several requests in flight, every raw
   * sample. Both run from the same tree, switched by configuration.
   */
  readonly design: Design;
  /** Write to InfluxDB (a VictoriaMetrics started by run.ts) when given. */
  readonly influxUrl?: string;
}

export type Design = 'before' | 'after';

/**
 * The gateway configuration that selects each design (pipeline, influx and model keys):
 * `after` also runs the encoders in the inference worker with adaptive batching, `before` on
 * the main thread with fixed batching (maxBatchWaitMs).
 */
export function designConfig(design: Design): {
  pipeline: { staggerHops: boolean; batching: 'adaptive' | 'fixed' };
  influx: Record<string, unknown>;
  model: { inferenceThread: 'worker' | 'main' };
} {
  return design === 'before'
    ? {
        pipeline: { staggerHops: false, batching: 'fixed' },
        // The sink as the issue measured it: one request in flight, one string per point, gzip
        // at zlib's default level, every spill emptying the memory queue.
        influx: {
          maxInFlight: 1,
          imuDownsampleHz: 100,
          lineBlocks: false,
          gzipLevel: 6,
          keepSpilledInMemory: false,
        },
        model: { inferenceThread: 'main' },
      }
    : {
        pipeline: { staggerHops: true, batching: 'adaptive' },
        influx: { maxInFlight: 4, imuRaw: true },
        model: { inferenceThread: 'worker' },
      };
}

export interface PublisherInit {
  readonly type: 'init';
  readonly gatewayId: string;
  readonly brokerUrl: string;
  readonly streams: number;
  readonly samplesPerMessage: number;
  readonly recordingDir: string;
  readonly seed: number;
}

export type Command = { readonly type: 'go' | 'mark-start' | 'mark-end' | 'halt' | 'final' | 'stop' };

/** A sorted copy's percentile (nearest rank); NaN for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export interface Distribution {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((s, v) => s + v, 0);
  const round = (v: number) => (Number.isFinite(v) ? Math.round(v * 100) / 100 : v);
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN),
    mean: round(sorted.length ? sum / sorted.length : Number.NaN),
  };
}

/** utime + stime of a process from /proc, seconds (Linux only; NaN elsewhere or when it is gone). */
export function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name, which may itself contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100; // USER_HZ is 100 on every Linux the gateway targets
  } catch {
    return Number.NaN;
  }
}

/** Resident set of a process from /proc, bytes (NaN when unknown). */
export function procRssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Waits for the next IPC message of `type` from `source`. */
export function nextMessage<T extends { type: string }>(
  source: NodeJS.EventEmitter,
  type: T['type'],
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      source.off('message', onMessage);
      reject(new Error(`${what}: no "${type}" message within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: unknown) => {
      if (typeof m === 'object' && m !== null && (m as { type?: unknown }).type === type) {
        clearTimeout(timer);
        source.off('message', onMessage);
        resolve(m as T);
      }
    };
    source.on('message', onMessage);
  });
}
