/**
 * The gateway under test, alone in its process so that its CPU time and RSS are its own: the
 * real GatewayApp (replay and HTTP off, MQTT ingest on, one subject per simulated device),
 * driven by run.ts over IPC. Records, for the steady-state interval only: per-hop fused
 * latency (window close → fused class scores), activity events (seq, emit time, latencyMs),
 * CPU time, RSS, event-loop utilisation and delay, and the gateway's own counters.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import type { ModelInfo } from '../../gateway/http/types.ts';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import type { SubjectScores } from '../../gateway/domain/events.ts';
import { createLogger } from '../../gateway/observability/logger.ts';
import {
  designConfig,
  deviceId,
  distribution,
  hiResNowNs,
  type Command,
  type GatewayInit,
} from './shared.ts';

type Counters = Record<string, number>;

/** The delay histogram records whole timer intervals; its resolution is subtracted when reported. */
const LOOP_DELAY_RESOLUTION_MS = 2;

export interface GatewayReady {
  readonly type: 'ready';
  readonly pid: number;
  readonly model: ModelInfo;
}

export interface RecordedEvent {
  readonly seq: number;
  readonly emitNs: number;
  readonly latencyMs: number;
  readonly subject: string;
  readonly transition: string;
}

export interface GatewaySteady {
  readonly type: 'steady';
  readonly seconds: number;
  readonly cpuUserS: number;
  readonly cpuSystemS: number;
  readonly rssMaxBytes: number;
  readonly heapUsedMaxBytes: number;
  /** What the resident memory was made of at the sample with the highest RSS. */
  readonly rssAtMax: MemoryBreakdown;
  /** Share of wall time the main thread's event loop was busy (0..1). */
  readonly eventLoopUtilisation: number;
  readonly eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** Counter increments over the interval, keyed `name{labels}`. */
  readonly counters: Counters;
  readonly fusedLatencyMs: ReturnType<typeof distribution>;
  readonly events: readonly RecordedEvent[];
}

export interface GatewayFinal {
  readonly type: 'final';
  /** Counter totals since start, keyed `name{labels}`. */
  readonly counters: Counters;
  /** Gauges at that moment (queue depths), keyed `name{labels}`. */
  readonly gauges: Counters;
  readonly rssMaxBytes: number;
}

/**
 * Resident memory by owner, MB: the main thread's V8 heap (as committed), ArrayBuffers,
 * the rest of the anonymous memory (the inference worker's heap, onnxruntime, V8 internals,
 * malloc, thread stacks) and
 * file-backed pages (the node binary and shared libraries' code).
 */
export interface MemoryBreakdown {
  readonly rssMB: number;
  readonly heapTotalMB: number;
  readonly arrayBuffersMB: number;
  readonly otherAnonymousMB: number;
  readonly fileBackedMB: number;
}

function memoryBreakdown(m: NodeJS.MemoryUsage): MemoryBreakdown {
  const mb = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;
  let anonKb = Number.NaN;
  try {
    const rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
    anonKb = Number(/^Anonymous:\s+(\d+) kB/m.exec(rollup)?.[1] ?? Number.NaN);
  } catch {
    // Not Linux: only the totals.
  }
  const anon = anonKb * 1024;
  return {
    rssMB: mb(m.rss),
    heapTotalMB: mb(m.heapTotal),
    arrayBuffersMB: mb(m.arrayBuffers),
    otherAnonymousMB: mb(anon - m.heapTotal - m.arrayBuffers),
    fileBackedMB: mb(m.rss - anon),
  };
}

const send = (m: object): void => {
  process.send?.(m);
};

const BUCKETS_KEPT = new Set(['mujo_mqtt_publish_seconds_bucket']);

/** Every counter and histogram series (or every gauge) of the registry, as `name{labels}` → value. */
async function snapshot(
  app: GatewayApp,
  kinds: readonly string[] = ['counter', 'histogram'],
): Promise<Counters> {
  const out: Counters = {};
  for (const metric of await app.metrics.getMetricsAsJSON()) {
    const type = metric.type as unknown as string; // prom-client types it as an enum of these strings
    if (!kinds.includes(type)) continue;
    for (const v of metric.values as {
      value: number;
      labels: Record<string, string | number>;
      metricName?: string;
    }[]) {
      const name = v.metricName ?? metric.name;
      // Buckets only of the histograms the benchmark turns into percentiles.
      if (name.endsWith('_bucket') && !BUCKETS_KEPT.has(name)) continue;
      const labels = Object.entries(v.labels)
        .map(([k, l]) => `${k}=${l}`)
        .sort()
        .join(',');
      out[labels ? `${name}{${labels}}` : name] = v.value;
    }
  }
  return out;
}

function delta(now: Counters, before: Counters): Counters {
  const out: Counters = {};
  for (const [k, v] of Object.entries(now)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

async function main(): Promise<void> {
  const init = await new Promise<GatewayInit>((resolve) =>
    process.once('message', (m) => resolve(m as GatewayInit)),
  );
  const subjects = Array.from({ length: init.streams }, (_, i) => ({
    id: `p${i}`,
    devices: [deviceId(i)],
  }));
  const config = validateConfig({
    gateway: { id: init.gatewayId },
    model: {
      path: init.modelDir,
      providers: ['cpu'],
      ...(init.intraOpThreads !== undefined ? { intraOpThreads: init.intraOpThreads } : {}),
      ...designConfig(init.design).model,
    },
    replay: { enabled: false },
    http: { enabled: false },
    ingest: { enabled: true },
    mqtt: { url: init.brokerUrl, queue: { spoolDir: join(init.spoolDir, 'mqtt') } },
    pipeline: {
      maxBatch: init.maxBatch,
      maxBatchWaitMs: init.maxBatchWaitMs,
      ...designConfig(init.design).pipeline,
    },
    ...(init.influxUrl
      ? {
          influx: {
            enabled: true,
            url: init.influxUrl,
            bucket: 'bench',
            token: 'unused',
            spoolDir: join(init.spoolDir, 'influx'),
            ...designConfig(init.design).influx,
          },
        }
      : {}),
    subjects,
    log: { level: 'warn' },
  });
  const app = new GatewayApp(config, {
    logger: createLogger({ level: 'warn' }),
    clock: { nowNs: hiResNowNs },
  });

  let recording = false;
  const fused: number[] = [];
  const events: RecordedEvent[] = [];
  app.activity$.subscribe((e) => {
    if (recording)
      events.push({
        seq: e.seq,
        emitNs: hiResNowNs(),
        latencyMs: e.latencyMs,
        subject: e.subject,
        transition: e.transition,
      });
  });

  let rssMax = 0;
  let heapMax = 0;
  let rssMaxAll = 0;
  let rssAtMax = memoryBreakdown(process.memoryUsage());
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    rssMaxAll = Math.max(rssMaxAll, m.rss);
    if (recording) {
      if (m.rss > rssMax) rssAtMax = memoryBreakdown(m);
      rssMax = Math.max(rssMax, m.rss);
      heapMax = Math.max(heapMax, m.heapUsed);
    }
  }, 100);
  sampler.unref();

  // Per-hop latency: window close → fused class scores.
  app.scores$.subscribe((s: SubjectScores) => {
    if (recording) fused.push(s.latencyMs);
  });
  await app.start();
  const model = app.models.current!;
  const ready: GatewayReady = {
    type: 'ready',
    pid: process.pid,
    model: app.modelInfo(model),
  };
  send(ready);

  let startCounters: Counters = {};
  let cpuStart = process.cpuUsage();
  let wallStart = 0;
  let eluStart = performance.eventLoopUtilization();
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });

  process.on('message', (raw) => {
    const cmd = raw as Command;
    void (async () => {
      switch (cmd.type) {
        case 'mark-start':
          startCounters = await snapshot(app);
          fused.length = 0;
          events.length = 0;
          loopDelay.reset();
          loopDelay.enable();
          eluStart = performance.eventLoopUtilization();
          cpuStart = process.cpuUsage();
          wallStart = performance.now();
          recording = true;
          break;
        case 'mark-end': {
          recording = false;
          const cpu = process.cpuUsage(cpuStart);
          const seconds = (performance.now() - wallStart) / 1000;
          const elu = performance.eventLoopUtilization(eluStart);
          loopDelay.disable();
          const counters = delta(await snapshot(app), startCounters);
          const steady: GatewaySteady = {
            type: 'steady',
            seconds,
            cpuUserS: cpu.user / 1e6,
            cpuSystemS: cpu.system / 1e6,
            rssMaxBytes: rssMax,
            heapUsedMaxBytes: heapMax,
            rssAtMax,
            eventLoopUtilisation: elu.utilization,
            eventLoopDelayMs: {
              p50: loopDelay.percentile(50) / 1e6 - LOOP_DELAY_RESOLUTION_MS,
              p99: loopDelay.percentile(99) / 1e6 - LOOP_DELAY_RESOLUTION_MS,
              max: loopDelay.max / 1e6 - LOOP_DELAY_RESOLUTION_MS,
            },
            counters,
            fusedLatencyMs: distribution(fused),
            events,
          };
          send(steady);
          const heapDir = process.env['MUJO_BENCH_HEAP_SNAPSHOT'];
          // After the numbers are sent: writing the snapshot stops the world for seconds.
          if (heapDir) writeHeapSnapshot(join(heapDir, `${init.gatewayId}.heapsnapshot`));
          break;
        }
        case 'final': {
          const final: GatewayFinal = {
            type: 'final',
            counters: await snapshot(app),
            gauges: await snapshot(app, ['gauge']),
            rssMaxBytes: rssMaxAll,
          };
          send(final);
          break;
        }
        case 'stop':
          await app.stop();
          send({ type: 'stopped' });
          process.disconnect?.();
          clearInterval(sampler);
          setTimeout(() => process.exit(0), 50).unref();
          break;
        default:
          break;
      }
    })().catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  });
}

if (process.send) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
