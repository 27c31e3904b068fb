/**
 * End-to-end throughput and latency of the gateway: N simulated 50 Hz IMU streams → real
 * mosquitto → MQTT ingest (MJI1 binary) → pipeline (clock mapping, resample, windows,
 * micro-batched onnxruntime inference, fusion, smoothing) → activity events on mosquitto.
 * Batch-1 and micro-batched inference run side by side for every N, and so do the design
 * of the issue (`before`: aligned hops, one InfluxDB request in flight, IMU averaged) and the
 * current one (`after`), switched by configuration. Every configuration runs `--repeats`
 * times, interleaved (before, after, before, after …) so drifting load on a shared machine
 * hits both alike; the table gives the median and the range (min–max) of the repeats.
 * `--influx` adds InfluxDB (a VictoriaMetrics started here) with raw IMU for every stream.
 * Not a test: prints a table and writes results.json and results.md next to this file.
 *
 *   npm run bench:pipeline -- [--streams 10,100,500,1000] [--seconds 20] [--warmup 6]
 *                             [--modes micro,batch1] [--designs before,after] [--repeats 3]
 *                             [--influx] [--model DIR] [--model-wait 30]
 *                             [--samples-per-message 10] [--cpu-prof] [--out DIR]
 *                             [--compiled-streams 1000] [--compiled-only]
 *
 * Three processes per configuration, so each one's CPU is its own: this orchestrator,
 * gateway-process.ts (the real GatewayApp) and publisher.ts (devices + an event listener);
 * one mosquitto for the whole run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  copyFileSync,
  symlinkSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startMosquitto, type Mosquitto } from '../../test/helpers/mosquitto.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../../test/helpers/victoria-metrics.ts';
import type { GatewayFinal, GatewayReady, GatewaySteady } from './gateway-process.ts';
import type { PublisherArrivals, PublisherHalted, PublisherReady, PublisherSteady } from './publisher.ts';
import {
  distribution,
  nextMessage,
  procCpuSeconds,
  type Command,
  type Design,
  designConfig,
  type Distribution,
  type GatewayInit,
  type PublisherInit,
} from './shared.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = resolve(HERE, '../..');
const DEFAULT_MODEL = join(REPO, 'models/default');
const FALLBACK_MODEL = join(REPO, 'test/fixtures/tiny-model');
const RECORDING = join(REPO, 'recordings/demo');

const AIM = { streams: 1000, p99Ms: 25, drops: 0, rssMB: 250, cores: 2 };

const MODES = {
  micro: { label: 'micro-batched', maxBatch: 32, maxBatchWaitMs: 5 },
  batch1: { label: 'batch-1', maxBatch: 1, maxBatchWaitMs: 0 },
} as const;
type ModeName = keyof typeof MODES;

const { values: args } = parseArgs({
  options: {
    streams: { type: 'string', default: '10,100,500,1000' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '6' },
    modes: { type: 'string', default: 'micro,batch1' },
    designs: { type: 'string', default: 'before,after' },
    repeats: { type: 'string', default: '3' },
    influx: { type: 'boolean', default: false },
    model: { type: 'string' },
    'model-wait': { type: 'string', default: '30' },
    'samples-per-message': { type: 'string', default: '10' },
    'cpu-prof': { type: 'boolean', default: false },
    'compiled-streams': { type: 'string', default: '1000' },
    // Stream counts of --compiled-streams run compiled only, without the tsx run beside them.
    'compiled-only': { type: 'boolean', default: false },
    'intra-op-threads': { type: 'string' },
    // Extra node flags for the gateway process (e.g. '--max-semi-space-size=4'), to measure a
    // V8 setting before making it a default.
    'node-args': { type: 'string', default: '' },
    nice: { type: 'string', default: '0' },
    // mosquitto's max_inflight_messages, which it announces as MQTT 5 Receive Maximum: the
    // gateway's QoS 1 publishes awaiting PUBACK at once (mosquitto's default 20).
    'broker-inflight': { type: 'string' },
    out: { type: 'string', default: HERE },
    seed: { type: 'string', default: '7' },
    note: { type: 'string' },
  },
});

const streamCounts = args.streams.split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--streams: "${s}" is not a positive integer`);
  return n;
});
const modes = args.modes.split(',').map((m) => {
  if (!(m in MODES)) throw new Error(`--modes: "${m}" unknown; use ${Object.keys(MODES).join(', ')}`);
  return m as ModeName;
});
const designs = args.designs.split(',').map((d) => {
  if (d !== 'before' && d !== 'after') throw new Error(`--designs: "${d}" unknown; use before, after`);
  return d as Design;
});
const repeats = Number(args.repeats);
if (!Number.isInteger(repeats) || repeats < 1)
  throw new Error(`--repeats: "${args.repeats}" is not a positive integer`);
const seconds = Number(args.seconds);
const warmupS = Number(args.warmup);
const samplesPerMessage = Number(args['samples-per-message']);
const outDir = resolve(args.out);
const compiledStreams = args['compiled-streams']
  .split(',')
  .filter(Boolean)
  .map(Number)
  .filter((n) => streamCounts.includes(n));
/**
 * Scheduling priority of the system under test (gateway, publisher, mosquitto). On a shared
 * machine a negative value keeps other work from starving the measurement; every thread
 * inherits it because the processes start under nice(1). 0: untouched.
 */
const niceness = Number(args.nice);
/**
 * With autogroup scheduling (Linux default on desktops and these VMs) CPU is shared fairly
 * between sessions first and nice only orders threads within one; so the session's own
 * weight is raised too. Run under `setsid` to give the benchmark a session of its own.
 */
function raiseAutogroup(): string {
  if (niceness === 0) return 'untouched';
  try {
    writeFileSync('/proc/self/autogroup', String(niceness));
    return readFileSync('/proc/self/autogroup', 'utf8').trim();
  } catch (err) {
    return `not changed (${(err as Error).message})`;
  }
}
const autogroup = raiseAutogroup();
const niced = () => (niceness === 0 ? {} : { execPath: '/usr/bin/nice' });
const niceArgs = () => (niceness === 0 ? [] : ['-n', String(niceness), process.execPath]);
const intraOpThreads = args['intra-op-threads'] === undefined ? undefined : Number(args['intra-op-threads']);

/**
 * How the gateway process runs: `tsx` transpiles TypeScript at load, as `npm start` does;
 * `compiled` runs tsc's JavaScript output, as the `mujo-gateway` bin does, without the
 * transpiler's memory.
 */
type Runtime = 'tsx' | 'compiled';
// Outside the work tree (linters and formatters would see it), with node_modules linked in.
const COMPILED_DIR = join(os.tmpdir(), `mujo-bench-compiled-${process.pid}`);

async function compile(): Promise<void> {
  const started = performance.now();
  rmSync(COMPILED_DIR, { recursive: true, force: true });
  const tsc = fork(
    join(REPO, 'node_modules/typescript/bin/tsc'),
    ['-p', join(REPO, 'tsconfig.json'), '--outDir', COMPILED_DIR],
    {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      cwd: REPO,
    },
  );
  let out = '';
  tsc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  await exited(tsc);
  const entry = join(COMPILED_DIR, 'bench/pipeline/gateway-process.js');
  if (!existsSync(entry)) throw new Error(`tsc produced no ${entry}:\n${out}`);
  // app.ts reads its version from ../package.json relative to gateway/.
  copyFileSync(join(REPO, 'package.json'), join(COMPILED_DIR, 'package.json'));
  symlinkSync(join(REPO, 'node_modules'), join(COMPILED_DIR, 'node_modules'), 'dir');
  console.log(
    `compiled with tsc in ${((performance.now() - started) / 1000).toFixed(0)} s${out.trim() ? ' (type errors elsewhere in the tree were reported and ignored)' : ''}`,
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function chooseModel(): Promise<{ dir: string; fallback: boolean; note: string }> {
  if (args.model) return { dir: resolve(args.model), fallback: false, note: 'given with --model' };
  const waitS = Number(args['model-wait']);
  const deadline = Date.now() + waitS * 1000;
  let told = false;
  while (!existsSync(join(DEFAULT_MODEL, 'manifest.json'))) {
    if (Date.now() >= deadline) {
      return {
        dir: FALLBACK_MODEL,
        fallback: true,
        note: `models/default absent after waiting ${waitS} s: FALLBACK to the untrained test fixture (test/fixtures/tiny-model); its windows and network size differ from the shipped model`,
      };
    }
    if (!told) console.log(`waiting up to ${waitS} s for models/default/manifest.json …`);
    told = true;
    await sleep(2000);
  }
  return { dir: DEFAULT_MODEL, fallback: false, note: 'models/default' };
}

/** Busy and total jiffies of the whole machine (/proc/stat), to tell how loaded it was. */
function machineJiffies(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((s, v) => s + v, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

function sum(counters: Record<string, number>, name: string, filter?: (labels: string) => boolean): number {
  let s = 0;
  for (const [k, v] of Object.entries(counters)) {
    const brace = k.indexOf('{');
    const base = brace < 0 ? k : k.slice(0, brace);
    if (base !== name) continue;
    if (filter && !filter(brace < 0 ? '' : k.slice(brace))) continue;
    s += v;
  }
  return s;
}

/** A gauge's value (summed over its label sets); NaN when the gateway has none (InfluxDB off). */
function gauge(gauges: Record<string, number>, name: string): number {
  const keys = Object.keys(gauges).filter((k) => k === name || k.startsWith(`${name}{`));
  return keys.length === 0 ? Number.NaN : keys.reduce((n, k) => n + (gauges[k] ?? 0), 0);
}

/**
 * A percentile of a histogram's observations over the interval, from the bucket counters as
 * Prometheus' histogram_quantile estimates it (linear within the bucket), in the histogram's unit.
 */
function histogramQuantile(
  counters: Record<string, number>,
  name: string,
  q: number,
  filter: (labels: string) => boolean,
): number {
  const buckets: Array<{ le: number; count: number }> = [];
  for (const [k, v] of Object.entries(counters)) {
    if (!k.startsWith(`${name}_bucket{`) || !filter(k)) continue;
    const le = /le=([^,}]+)/.exec(k)?.[1];
    if (le !== undefined)
      buckets.push({ le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), count: v });
  }
  buckets.sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / Math.max(1, b.count - prevCount);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

function breakdown(counters: Record<string, number>, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(counters))
    if (k.startsWith(`${name}{`) && v !== 0) out[k.slice(name.length)] = v;
  return out;
}

function send(child: ChildProcess, m: Command | GatewayInit | PublisherInit): void {
  child.send(m);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

export interface Row {
  readonly streams: number;
  readonly mode: string;
  readonly runtime: Runtime;
  readonly design: Design;
  /** 1-based repeat of this configuration. */
  readonly repeat: number;
  readonly maxBatch: number;
  readonly maxBatchWaitMs: number;
  readonly seconds: number;
  readonly windowsPerS: number;
  readonly expectedWindowsPerS: number;
  readonly scoresPerS: number;
  readonly ingestMessagesPerS: number;
  /** Messages the gateway published per second, by kind (events, states, device states). */
  readonly mqttPublishedPerS: Record<string, number>;
  readonly fusedLatencyMs: Distribution;
  readonly eventLatencyMs: Distribution;
  readonly brokerLatencyMs: Distribution;
  readonly events: number;
  readonly eventsNotReceived: number;
  readonly meanBatch: number;
  readonly inferenceUsPerWindow: number;
  readonly inferenceUsPerBatch: number;
  readonly gatewayCpuPct: number;
  readonly gatewayCpuUserPct: number;
  readonly gatewayCpuSystemPct: number;
  readonly eventLoopUtilisation: number;
  readonly eventLoopDelayMs: { p50: number; p99: number; max: number };
  readonly rssMaxMB: number;
  readonly rssMaxWholeRunMB: number;
  readonly heapUsedMaxMB: number;
  readonly rssAtMax: GatewaySteady['rssAtMax'];
  readonly activityPublishMs: { readonly p50: number; readonly p99: number };
  readonly pipelineDropsSteady: number;
  readonly pipelineDropsTotal: number;
  readonly pipelineDropsByReason: Record<string, number>;
  readonly ingestRejectedTotal: number;
  readonly messagesSent: number;
  readonly messagesDecoded: number;
  readonly messagesLost: number;
  readonly publisherSendLagMs: Distribution;
  readonly publisherCpuPct: number;
  readonly mosquittoCpuPct: number;
  readonly machineBusyPct: number;
  readonly loadAvg1: number;
  readonly gatewayWarnings: number;
  /** InfluxDB (with --influx): points accepted by the server per second, and points spilled to its disk spool over the interval. */
  readonly influxWrittenPerS: number;
  readonly influxSpilled: number;
  /** Points not written to the server when the run ended (memory + spool + in flight). */
  readonly influxBacklogAtEnd: number;
}

async function runConfiguration(
  broker: Mosquitto,
  modelDir: string,
  streams: number,
  modeName: ModeName,
  runtime: Runtime,
  design: Design,
  repeat: number,
  logDir: string,
  influx: VictoriaMetrics | undefined,
): Promise<Row> {
  const mode = MODES[modeName];
  const gatewayId = `bench-n${streams}-${modeName}-${runtime}-${design}-r${repeat}`;
  const spoolDir = mkdtempSync(join(os.tmpdir(), 'mujo-bench-spool-'));
  const logFile = join(logDir, `${gatewayId}.log`);
  const logFd = openSync(logFile, 'w');
  const profDir = join(outDir, 'profiles');
  if (args['cpu-prof']) mkdirSync(profDir, { recursive: true });
  const script =
    runtime === 'tsx'
      ? join(HERE, 'gateway-process.ts')
      : join(COMPILED_DIR, 'bench/pipeline/gateway-process.js');
  const gateway = fork(script, [], {
    ...niced(),
    execArgv: [
      ...niceArgs(),
      ...(runtime === 'tsx' ? ['--import', 'tsx'] : []),
      ...args['node-args'].split(' ').filter((a) => a !== ''),
      ...(args['cpu-prof']
        ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${gatewayId}.cpuprofile`]
        : []),
    ],
    stdio: ['ignore', logFd, 'inherit', 'ipc'],
    cwd: REPO,
  });
  closeSync(logFd);
  let publisher: ChildProcess | undefined;
  try {
    send(gateway, {
      type: 'init',
      gatewayId,
      brokerUrl: broker.url,
      modelDir,
      streams,
      maxBatch: mode.maxBatch,
      maxBatchWaitMs: mode.maxBatchWaitMs,
      spoolDir,
      design,
      ...(influx ? { influxUrl: influx.url } : {}),
      ...(intraOpThreads !== undefined ? { intraOpThreads } : {}),
    });
    const ready = await nextMessage<GatewayReady>(gateway, 'ready', 120_000, 'gateway');
    const imu = ready.model.encoders.find((e) => e.modality === 'imu');
    if (!imu) throw new Error(`model ${ready.model.name} has no IMU encoder`);

    publisher = fork(join(HERE, 'publisher.ts'), [], {
      ...niced(),
      execArgv: [...niceArgs(), '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      cwd: REPO,
    });
    send(publisher, {
      type: 'init',
      gatewayId,
      brokerUrl: broker.url,
      streams,
      samplesPerMessage,
      recordingDir: RECORDING,
      seed: Number(args.seed),
    });
    const pubReady = await nextMessage<PublisherReady>(publisher, 'ready', 60_000, 'publisher');

    send(publisher, { type: 'go' });
    await sleep(warmupS * 1000);

    const brokerPid = findBrokerPid(broker);
    if (brokerPid && niceness !== 0) os.setPriority(brokerPid, niceness);
    const mosqCpu0 = brokerPid ? procCpuSeconds(brokerPid) : Number.NaN;
    const machine0 = machineJiffies();
    const t0 = performance.now();
    send(gateway, { type: 'mark-start' });
    send(publisher, { type: 'mark-start' });
    await sleep(seconds * 1000);
    const gSteadyP = nextMessage<GatewaySteady>(gateway, 'steady', 60_000, 'gateway');
    const pSteadyP = nextMessage<PublisherSteady>(publisher, 'steady', 60_000, 'publisher');
    send(gateway, { type: 'mark-end' });
    send(publisher, { type: 'mark-end' });
    const wallS = (performance.now() - t0) / 1000;
    const mosqCpu1 = brokerPid ? procCpuSeconds(brokerPid) : Number.NaN;
    const machine1 = machineJiffies();
    const loadAvg1 = os.loadavg()[0] ?? Number.NaN;
    const [gSteady, pSteady] = await Promise.all([gSteadyP, pSteadyP]);

    const haltedP = nextMessage<PublisherHalted>(publisher, 'halted', 30_000, 'publisher');
    send(publisher, { type: 'halt' });
    const halted = await haltedP;
    await sleep(1500); // messages in flight reach the gateway
    const finalP = nextMessage<GatewayFinal>(gateway, 'final', 30_000, 'gateway');
    send(gateway, { type: 'final' });
    const final = await finalP;
    const arrivalsP = nextMessage<PublisherArrivals>(publisher, 'arrivals', 30_000, 'publisher');
    send(publisher, { type: 'final' });
    const { arrivals } = await arrivalsP;

    const stoppedP = nextMessage<{ type: 'stopped' }>(gateway, 'stopped', 60_000, 'gateway');
    send(gateway, { type: 'stop' });
    await stoppedP;
    send(publisher, { type: 'stop' });
    await Promise.all([exited(gateway), exited(publisher)]);
    void pubReady;

    // Window close → event received by a subscriber on mosquitto: the gateway's latencyMs
    // (window close → emitted) plus emit → arrival, joined by the event's seq.
    const arrivalBySeq = new Map(arrivals.map(([seq, at]) => [seq, at]));
    const broker2e: number[] = [];
    let missing = 0;
    for (const e of gSteady.events) {
      const at = arrivalBySeq.get(e.seq);
      if (at === undefined) missing++;
      else broker2e.push(e.latencyMs + (at - e.emitNs) / 1e6);
    }

    const c = gSteady.counters;
    const windows = sum(c, 'mujo_pipeline_windows_total');
    const batches = sum(c, 'mujo_pipeline_batch_size_count', (l) => l.includes(`encoder=${imu.name}`));
    const batchWindows = sum(c, 'mujo_pipeline_batch_size_sum', (l) => l.includes(`encoder=${imu.name}`));
    const inferUs =
      1e6 * sum(c, 'mujo_pipeline_inference_seconds_sum', (l) => l.includes(`encoder=${imu.name}`));
    const decoded = sum(final.counters, 'mujo_ingest_messages_total');
    const warnings = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"level":40') || l.includes('"level":50')).length;
    const s = gSteady.seconds;
    const r1 = (v: number) => Math.round(v * 10) / 10;
    return {
      streams,
      mode: mode.label,
      runtime,
      design,
      repeat,
      maxBatch: mode.maxBatch,
      maxBatchWaitMs: mode.maxBatchWaitMs,
      seconds: r1(s),
      windowsPerS: r1(windows / s),
      expectedWindowsPerS: r1((streams * imu.sampleRateHz) / imu.hopSamples),
      scoresPerS: r1(sum(c, 'mujo_pipeline_scores_total') / s),
      ingestMessagesPerS: r1(sum(c, 'mujo_ingest_messages_total') / s),
      mqttPublishedPerS: Object.fromEntries(
        Object.entries(breakdown(c, 'mujo_mqtt_messages_published_total')).map(([k, v]) => [
          k.replace(/^\{kind=|\}$/g, ''),
          r1(v / s),
        ]),
      ),
      fusedLatencyMs: gSteady.fusedLatencyMs,
      eventLatencyMs: distribution(gSteady.events.map((e) => e.latencyMs)),
      brokerLatencyMs: distribution(broker2e),
      // The MQTT part of it on the gateway's side: queued → PUBACK from mosquitto.
      activityPublishMs: {
        p50: r1(
          1000 * histogramQuantile(c, 'mujo_mqtt_publish_seconds', 0.5, (l) => l.includes('kind=activity')),
        ),
        p99: r1(
          1000 * histogramQuantile(c, 'mujo_mqtt_publish_seconds', 0.99, (l) => l.includes('kind=activity')),
        ),
      },
      events: gSteady.events.length,
      eventsNotReceived: missing,
      meanBatch: batches ? r1(batchWindows / batches) : Number.NaN,
      inferenceUsPerWindow: batchWindows ? Math.round(inferUs / batchWindows) : Number.NaN,
      inferenceUsPerBatch: batches ? Math.round(inferUs / batches) : Number.NaN,
      gatewayCpuPct: r1(((gSteady.cpuUserS + gSteady.cpuSystemS) / s) * 100),
      gatewayCpuUserPct: r1((gSteady.cpuUserS / s) * 100),
      gatewayCpuSystemPct: r1((gSteady.cpuSystemS / s) * 100),
      eventLoopUtilisation: Math.round(gSteady.eventLoopUtilisation * 1000) / 1000,
      eventLoopDelayMs: {
        p50: r1(gSteady.eventLoopDelayMs.p50),
        p99: r1(gSteady.eventLoopDelayMs.p99),
        max: r1(gSteady.eventLoopDelayMs.max),
      },
      rssMaxMB: r1(gSteady.rssMaxBytes / 2 ** 20),
      rssMaxWholeRunMB: r1(final.rssMaxBytes / 2 ** 20),
      heapUsedMaxMB: r1(gSteady.heapUsedMaxBytes / 2 ** 20),
      rssAtMax: gSteady.rssAtMax,
      pipelineDropsSteady: sum(c, 'mujo_pipeline_dropped_total'),
      pipelineDropsTotal: sum(final.counters, 'mujo_pipeline_dropped_total'),
      pipelineDropsByReason: breakdown(final.counters, 'mujo_pipeline_dropped_total'),
      ingestRejectedTotal: sum(final.counters, 'mujo_ingest_rejected_total'),
      messagesSent: halted.sentTotal,
      messagesDecoded: decoded,
      messagesLost: halted.sentTotal - decoded,
      publisherSendLagMs: pSteady.sendLagMs,
      publisherCpuPct: r1((pSteady.cpuS / pSteady.seconds) * 100),
      mosquittoCpuPct: r1(((mosqCpu1 - mosqCpu0) / wallS) * 100),
      machineBusyPct: r1(((machine1.busy - machine0.busy) / (machine1.total - machine0.total)) * 100),
      loadAvg1: Math.round(loadAvg1 * 100) / 100,
      gatewayWarnings: warnings,
      influxWrittenPerS: r1(sum(c, 'mujo_influx_points_written_total') / s),
      influxSpilled: sum(c, 'mujo_influx_spilled_points_total'),
      influxBacklogAtEnd: gauge(final.gauges, 'mujo_influx_queue_points'),
    };
  } finally {
    if (gateway.exitCode === null) gateway.kill('SIGKILL');
    if (publisher && publisher.exitCode === null) publisher.kill('SIGKILL');
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

/** mosquitto's pid, found by its config file in the broker's temp dir (the helper does not expose it). */
function findBrokerPid(broker: Mosquitto): number | undefined {
  const conf = join(broker.dir, 'mosquitto.conf');
  for (const entry of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd.includes(conf)) return Number(entry);
    } catch {
      // process gone
    }
  }
  return undefined;
}

const fmt = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : '–');

/** Median and range of one measure over the repeats of a configuration. */
interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

function spread(values: readonly number[]): Spread {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const mid = v.length >> 1;
  const median = v.length % 2 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
  return { median, min: v[0] as number, max: v[v.length - 1] as number };
}

/** `median (min–max)`, or the one value when the range is empty. */
function fmtSpread(x: Spread, digits = 1): string {
  if (!Number.isFinite(x.median)) return '–';
  return x.min === x.max
    ? fmt(x.median, digits)
    : `${fmt(x.median, digits)} (${fmt(x.min, digits)}–${fmt(x.max, digits)})`;
}

/** One configuration (streams × inference × runtime × design) over its repeats. */
export interface Summary {
  readonly streams: number;
  readonly mode: string;
  readonly runtime: Runtime;
  readonly design: Design;
  readonly repeats: number;
  readonly windowsPerS: Spread;
  readonly expectedWindowsPerS: number;
  readonly fusedP99Ms: Spread;
  readonly brokerP50Ms: Spread;
  readonly brokerP99Ms: Spread;
  readonly gatewayCpuPct: Spread;
  readonly rssMaxMB: Spread;
  readonly drops: Spread;
  readonly influxWrittenPerS: Spread;
  readonly influxSpilled: Spread;
  readonly influxBacklogAtEnd: Spread;
  readonly machineBusyPct: Spread;
}

function summarise(rows: readonly Row[]): Summary[] {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.streams}|${r.mode}|${r.runtime}|${r.design}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    const first = g[0] as Row;
    const of = (f: (r: Row) => number) => spread(g.map(f));
    return {
      streams: first.streams,
      mode: first.mode,
      runtime: first.runtime,
      design: first.design,
      repeats: g.length,
      windowsPerS: of((r) => r.windowsPerS),
      expectedWindowsPerS: first.expectedWindowsPerS,
      fusedP99Ms: of((r) => r.fusedLatencyMs.p99),
      brokerP50Ms: of((r) => r.brokerLatencyMs.p50),
      brokerP99Ms: of((r) => r.brokerLatencyMs.p99),
      gatewayCpuPct: of((r) => r.gatewayCpuPct),
      rssMaxMB: of((r) => r.rssMaxMB),
      drops: of((r) => r.pipelineDropsTotal + r.ingestRejectedTotal + r.messagesLost),
      influxWrittenPerS: of((r) => r.influxWrittenPerS),
      influxSpilled: of((r) => r.influxSpilled),
      influxBacklogAtEnd: of((r) => r.influxBacklogAtEnd),
      machineBusyPct: of((r) => r.machineBusyPct),
    };
  });
}

function tableRows(rows: readonly Summary[], influx: boolean): string[][] {
  return rows.map((r) => [
    String(r.streams),
    r.mode,
    r.runtime,
    r.design,
    String(r.repeats),
    `${fmtSpread(r.windowsPerS, 0)} / ${fmt(r.expectedWindowsPerS, 0)}`,
    fmtSpread(r.fusedP99Ms),
    fmtSpread(r.brokerP50Ms),
    fmtSpread(r.brokerP99Ms),
    fmtSpread(r.gatewayCpuPct, 0),
    fmtSpread(r.rssMaxMB, 0),
    fmtSpread(r.drops, 0),
    ...(influx
      ? [fmtSpread(r.influxWrittenPerS, 0), fmtSpread(r.influxSpilled, 0), fmtSpread(r.influxBacklogAtEnd, 0)]
      : []),
    fmtSpread(r.machineBusyPct, 0),
  ]);
}

function header(influx: boolean): string[] {
  return [
    'streams',
    'inference',
    'runtime',
    'design',
    'runs',
    'windows/s (got / expected)',
    'fused p99 ms',
    'event on broker p50 ms',
    'event on broker p99 ms',
    'gateway CPU % of 1 core',
    'RSS max MB',
    'drops (pipeline + ingest rejected + msgs lost)',
    ...(influx ? ['InfluxDB points/s written', 'points spilled to disk', 'InfluxDB backlog at end'] : []),
    'machine busy %',
  ];
}

function markdownTable(rows: readonly Summary[], influx: boolean): string {
  const head = header(influx);
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => ' --- ').join('|')}|`];
  for (const r of tableRows(rows, influx)) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

/** The repository checks markdown with prettier; write it the way prettier would. */
async function formatMarkdown(md: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    return await prettier.format(md, { parser: 'markdown' });
  } catch {
    return md;
  }
}

async function main(): Promise<void> {
  const model = await chooseModel();
  const manifest = JSON.parse(readFileSync(join(model.dir, 'manifest.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadAvgAtStart: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
  console.log(
    `model: ${manifest.name} ${manifest.version} (${relative(REPO, model.dir)})${model.fallback ? '  *** FALLBACK MODEL ***' : ''}`,
  );
  console.log(
    `machine: ${machine.cpu}, ${machine.cores} cores, node ${machine.node}, load ${machine.loadAvgAtStart.join(' ')}`,
  );
  const logDir = mkdtempSync(join(os.tmpdir(), 'mujo-bench-logs-'));
  const broker = await startMosquitto(
    args['broker-inflight'] ? { extra: [`max_inflight_messages ${Number(args['broker-inflight'])}`] } : {},
  );
  const influx = args.influx ? await startVictoriaMetrics() : undefined;
  const rows: Row[] = [];
  const startedAt = new Date().toISOString();
  if (compiledStreams.length > 0) await compile();
  const plan: { n: number; m: ModeName; runtime: Runtime; design: Design; repeat: number }[] = [];
  for (const n of streamCounts) {
    const runtimes: Runtime[] = !compiledStreams.includes(n)
      ? ['tsx']
      : args['compiled-only']
        ? ['compiled']
        : ['tsx', 'compiled'];
    for (const runtime of runtimes)
      for (const m of modes)
        for (let repeat = 1; repeat <= repeats; repeat++)
          for (const design of designs) plan.push({ n, m, runtime, design, repeat });
  }
  try {
    for (const { n, m, runtime, design, repeat } of plan) {
      process.stdout.write(
        `N=${n} ${MODES[m].label} (${runtime}, ${design}, run ${repeat}/${repeats}): warm-up ${warmupS} s, measure ${seconds} s … `,
      );
      const row = await runConfiguration(broker, model.dir, n, m, runtime, design, repeat, logDir, influx);
      rows.push(row);
      console.log(
        `windows/s ${row.windowsPerS}, fused p99 ${fmt(row.fusedLatencyMs.p99)} ms, broker p99 ${fmt(row.brokerLatencyMs.p99)} ms, CPU ${row.gatewayCpuPct} %, RSS ${row.rssMaxMB} MB (heap ${row.rssAtMax.heapTotalMB}, buffers ${row.rssAtMax.arrayBuffersMB}, other anon ${row.rssAtMax.otherAnonymousMB}, files ${row.rssAtMax.fileBackedMB}), ELU ${row.eventLoopUtilisation}, batch ${row.meanBatch} × ${row.inferenceUsPerBatch} µs round trip, fused p50 ${fmt(row.fusedLatencyMs.p50)} ms, event emitted p99 ${fmt(row.eventLatencyMs.p99)} ms, queued → PUBACK p50/p99 ${row.activityPublishMs.p50}/${row.activityPublishMs.p99} ms, drops ${row.pipelineDropsTotal}/${row.ingestRejectedTotal}/${row.messagesLost}${influx ? `, influx ${row.influxWrittenPerS} pts/s, spilled ${row.influxSpilled}, backlog ${row.influxBacklogAtEnd}` : ''}`,
      );
    }
  } finally {
    await broker.dispose();
    await influx?.dispose();
    rmSync(COMPILED_DIR, { recursive: true, force: true });
  }

  const summaries = summarise(rows);
  const head = header(influx !== undefined);
  const table = [head, ...tableRows(summaries, influx !== undefined)];
  const widths = head.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  console.log();
  for (const r of table) console.log(r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  '));

  const result = {
    date: startedAt,
    machine,
    model: {
      name: manifest.name,
      version: manifest.version,
      dir: relative(REPO, model.dir),
      fallback: model.fallback,
      note: model.note,
    },
    settings: {
      seconds,
      warmupS,
      repeats,
      designs: Object.fromEntries(designs.map((d) => [d, designConfig(d)])),
      influx: influx !== undefined,
      samplesPerMessage,
      rateHz: 50,
      format: 'MJI1 int16, QoS 0',
      intraOpThreads: intraOpThreads ?? 'onnxruntime default',
      nice: niceness,
      autogroup,
      runtimes: {
        tsx: 'node --import tsx (as npm start)',
        compiled: 'tsc output, plain node (as the mujo-gateway bin)',
      },
      clock:
        'gateway clock injected as performance.timeOrigin + performance.now() (sub-ms); production uses Date.now()',
    },
    ...(args.note ? { note: args.note } : {}),
    aim: AIM,
    summaries,
    measures: {
      windowsPerS: 'mujo_pipeline_windows_total increase over the steady-state interval / its length',
      fusedLatencyMs:
        'per hop: window closed (the ingest message that completes it is pushed) → fused class scores (SubjectScores.latencyMs); includes batching wait and inference',
      eventLatencyMs: 'per activity event: window close → event emitted (ActivityEvent.latencyMs)',
      brokerLatencyMs:
        'per activity event: window close → event received by a separate MQTT subscriber (latencyMs + emit → arrival, joined by seq)',
      gatewayCpuPct:
        'process.cpuUsage() of the gateway process (all threads incl. onnxruntime) over the interval, % of one core (200 % = both cores)',
      rssMaxMB: 'max of process.memoryUsage().rss sampled every 100 ms during the interval',
      drops:
        'mujo_pipeline_dropped_total and mujo_ingest_rejected_total over the whole run; messages lost = publisher sent − mujo_ingest_messages_total after the publisher stopped',
    },
    rows,
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'results.json'), JSON.stringify(result, null, 2) + '\n');
  const md = [
    '# bench/pipeline results',
    '',
    `Run ${startedAt} with \`npm run bench:pipeline -- ${process.argv
      .slice(2)
      .map((a) => (/\s/.test(a) ? JSON.stringify(a) : a))
      .join(' ')}\`.`,
    '',
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}; load average at start ${machine.loadAvgAtStart.join(' / ')}.`,
    `Model: ${manifest.name} ${manifest.version} (\`${relative(REPO, model.dir)}\`)${model.fallback ? ` — **${model.note}**` : ''}.`,
    ...(args.note ? [`Note: ${args.note}`, ''] : []),
    `Streams: 50 Hz IMU, ${samplesPerMessage} samples per MJI1 message (${50 / samplesPerMessage} msg/s per device), QoS 0; ${warmupS} s warm-up, ${seconds} s measured per run; ${repeats} run(s) per configuration, interleaved across designs.${influx ? ' InfluxDB on (VictoriaMetrics), IMU of every stream written.' : ''}`,
    '',
    markdownTable(summaries, influx !== undefined),
    '',
    'Each cell: median (min–max) over the runs. design `before` = aligned hops, InfluxDB one request in flight and IMU averaged at 100 Hz (the design of the issue); `after` = staggered hops, up to 4 requests in flight, every raw sample. fused = window close → fused scores (every hop); event on broker = window close → activity event received by a separate subscriber; drops over the whole run.',
    '',
  ].join('\n');
  writeFileSync(join(outDir, 'results.md'), await formatMarkdown(md));
  console.log(
    `\nwrote ${relative(process.cwd(), join(outDir, 'results.json'))} and results.md; gateway logs in ${logDir}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
