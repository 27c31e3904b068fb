/*
 * InfluxDB sink benchmark (not a test):
 *   node --expose-gc --import tsx bench/influx/run.ts [--quick] [--repeats 3] [--designs before,after]
 *                                                     [--out FILE]
 *  0. IMU lines: raw samples serialised one `Point` per sample (before) and as direct lines (after).
 *  1. sustained: points/s the sink delivers to a real VictoriaMetrics (batches of 5000, gzip),
 *     with the producer going as fast as the sink takes points.
 *  1b. imu: raw IMU of 1,000 devices at 50 Hz in 10-sample chunks (50,000 points/s, 6 float
 *     fields, tags device and subject) offered in real time for --imu-seconds (20) to a real
 *     VictoriaMetrics: points/s written, points spilled, backlog, CPU µs per point of the
 *     whole process and of the main thread (event-loop utilisation), the generator's own
 *     cost measured alone and subtracted; then every sample counted back. And the same
 *     chunks as fast as the sink takes them (the ceiling).
 *  Designs: `before` = the sink as issue 16 profiled it (a queued string per point, gzip at
 *  zlib's default level 6, every spill empties the memory queue; maxInFlight 4), `after` =
 *  today's defaults (lines of a chunk queued as one string, gzip level 1, spilled points kept
 *  in memory while the server keeps up). `single` = `before` with one request in flight,
 *  the design of the InfluxDB issue (--designs single,before,after).
 *  2. outage: the database is down while 100 subjects produce 10 simulated minutes of points
 *     (activity changes, repetitions, device states, pipeline stats, IMU at 50 Hz averaged
 *     to 10 Hz); RSS and spool size meanwhile; then the database comes back and the backlog
 *     drains (time, points/s, and everything is counted back from the server).
 * Prints a table and writes bench/influx/results.json. Run with `node --expose-gc --import tsx
 * bench/influx/run.ts` to also get the memory retained after a GC at the end of the outage.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PAYLOAD_VERSION, type ActivityEvent, type DeviceState } from '../../gateway/domain/events.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { createMetricsRegistry } from '../../gateway/observability/metrics.ts';
import { Point } from '@influxdata/influxdb-client';
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { ImuChunk } from '../../gateway/domain/samples.ts';
import { gzipSync } from 'node:zlib';
import { imuSampleLines, PointSerializer } from '../../gateway/sinks/influx/line-protocol.ts';
import { LineSlabs } from '../../gateway/sinks/influx/line-slabs.ts';
import { InfluxSink, type InfluxSinkOptions } from '../../gateway/sinks/influx/sink.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../../test/helpers/victoria-metrics.ts';

const quick = process.argv.includes('--quick');
const argValue = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
};
const repeats = Number(argValue('--repeats', '3'));
type Design = 'single' | 'before' | 'after';
/** What selects each design in the sink's options (config keys of the same names). */
const DESIGN: Record<Design, Partial<InfluxSinkOptions>> = {
  single: { maxInFlight: 1, gzipLevel: 6, lineBlocks: false, keepSpilledInMemory: false },
  before: { maxInFlight: 4, gzipLevel: 6, lineBlocks: false, keepSpilledInMemory: false },
  after: {},
};
const designs = argValue('--designs', 'before,after').split(',') as Design[];
for (const d of designs) if (!(d in DESIGN)) throw new Error(`--designs: "${d}" unknown`);
const imuSeconds = Number(argValue('--imu-seconds', quick ? '8' : '20'));
/** --only imu: just the raw-IMU scenarios (and the line rates). */
const only = argValue('--only', '');
/** --outage-only: skip the sustained run (e.g. to look at RSS under --max-old-space-size). */
const outageOnly = process.argv.includes('--outage-only');
const MS = 1e6;
const MiB = 1024 * 1024;
const rssMiB = (): number => process.memoryUsage().rss / MiB;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function sink(
  vm: VictoriaMetrics,
  gatewayId: string,
  spoolDir: string,
  over: Partial<InfluxSinkOptions> = {},
): InfluxSink {
  return new InfluxSink({
    gatewayId,
    url: vm.url,
    target: { org: 'bench', bucket: 'bench', token: 'bench', flavour: '2.x/3.x' },
    spoolDir,
    logger: silentLogger(),
    registry: createMetricsRegistry({ defaultMetrics: false }),
    minRetryDelayMs: 100,
    maxRetryDelayMs: 1000,
    ...over,
  });
}

async function countBack(vm: VictoriaMetrics, match: string, expected: number): Promise<number> {
  const series = await vm.exportSettled(match, expected, 60000);
  return series.reduce((n, s) => n + s.values.length, 0);
}

async function sustained(vm: VictoriaMetrics, tmp: string, design: Design, run: number) {
  const total = quick ? 200_000 : 1_000_000;
  const gateway = `bench-sustained-${design}-${run}`;
  const s = sink(vm, gateway, join(tmp, `sustained-${design}-${run}`), DESIGN[design]);
  await s.start();
  const t0 = (Date.now() - 7_200_000) * MS + MS / 2;
  const started = performance.now();
  let peakSpool = 0;
  let peakQueued = 0;
  for (let k = 0; k < total; k++) {
    // 100 series, a point per series per ms of data time.
    s.writePipeline({
      stage: `stage-${k % 100}`,
      timeNs: t0 + Math.floor(k / 100) * MS,
      queueDepth: k % 1000,
      inferenceUs: 150 + (k % 50),
      windows: k,
    });
    if (k % 5000 === 4999) {
      // Producer paces itself on the sink: never more than a few batches ahead (room for
      // four in flight, below the memory bound so nothing spills for that reason).
      while (s.queued > 40_000) await new Promise((r) => setTimeout(r, 1));
      peakSpool = Math.max(peakSpool, s.spoolBytes);
      peakQueued = Math.max(peakQueued, s.queued);
      await tick();
    }
  }
  await s.flush();
  const seconds = (performance.now() - started) / 1000;
  const spilled = (await s.metrics.spilled.get()).values[0]?.value ?? 0;
  await s.stop();
  const lines = total; // one line per writePipeline; VM splits each into 3 field series
  const back = await countBack(vm, `{__name__="pipeline_queue_depth", gateway="${gateway}"}`, total);
  return {
    design,
    run,
    spilled,
    points: lines,
    seconds,
    pointsPerSec: lines / seconds,
    peakSpoolBytes: peakSpool,
    peakQueued,
    readBack: back,
  };
}

async function outage(vm: VictoriaMetrics, tmp: string, design: Design, run: number) {
  const subjects = 100;
  const simulatedS = quick ? 120 : 600;
  const activities = ['squat', 'lunge', 'jog', 'walk', 'sit_to_stand', 'push_up'];
  const spoolDir = join(tmp, `outage-${design}-${run}`);
  const gateway = `bench-outage-${design}-${run}`;
  await vm.stop();
  const s = sink(vm, gateway, spoolDir, { imuDownsampleHz: 10, statsIntervalMs: 0, ...DESIGN[design] });
  await s.start();
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = rssMiB();
  const baselineHeap = process.memoryUsage().heapUsed / MiB;
  let peakRss = baseline;
  let peakHeap = process.memoryUsage().heapUsed / MiB;
  const t0 = (Date.now() - 3_600_000) * MS;
  const started = performance.now();
  const current = new Map<string, { activity: string; startNs: number; reps: number }>();
  let written = 0;
  const imuRateHz = 50;
  const stepS = 0.5;
  const stateEvery = 5;
  for (let t = 0; t < simulatedS; t += stepS) {
    const now = t0 + t * 1e9;
    for (let i = 0; i < subjects; i++) {
      const subject = `s${i}`;
      const device = `imu-${i}`;
      // IMU: 25 samples per half second.
      const n = imuRateHz * stepS;
      const tNs = Float64Array.from({ length: n }, (_, k) => now + (k * 1e9) / imuRateHz);
      const values = Float32Array.from({ length: n * 6 }, (_, k) => Math.sin(t + k / 6 + i));
      s.writeImu({ modality: 'imu', sourceId: device, subjectId: subject, tNs, values });
      // An activity change every ~4 s per subject (staggered), a repetition every 2 s.
      const cur = current.get(subject);
      if (!cur || (t * 2 + i) % 8 === 0) {
        const activity = activities[(Math.floor(t / 4) + i) % activities.length]!;
        if (!cur || cur.activity !== activity) {
          const e: ActivityEvent = {
            v: PAYLOAD_VERSION,
            gateway,
            subject,
            transition: cur ? 'changed' : 'started',
            activity,
            activityName: activity,
            confidence: 0.8,
            topK: [],
            start: '',
            startNs: now,
            ...(cur ? { previous: cur.activity, endNs: now, end: '' } : {}),
            model: 'bench',
            modelVersion: '1',
            latencyMs: 30,
            seq: written,
            modalities: ['imu', 'pose'],
            sources: [device],
          };
          s.writeActivity(e);
          written += cur ? 2 : 1;
          current.set(subject, { activity, startNs: now, reps: 0 });
        }
      }
      const c = current.get(subject)!;
      if ((t * 2 + i) % 4 === 0) {
        s.writeReps({ subject, activity: c.activity, count: ++c.reps, timeNs: now });
        written++;
      }
      if ((t * 2 + i) % (stateEvery * 2) === 0) {
        const d: DeviceState = {
          v: PAYLOAD_VERSION,
          gateway,
          device,
          kind: 'imu',
          subject,
          connected: true,
          battery: 90,
          rssi: -60,
          rateHz: 50,
          dropped: 0,
          reconnects: 0,
          lastSeen: null,
        };
        s.writeDevice(d, now);
        written++;
      }
    }
    if (t % 10 === 0) {
      s.writePipeline(
        ['window', 'inference:imu', 'inference:pose', 'sink:mqtt'].map((stage) => ({
          stage,
          timeNs: now,
          queueDepth: 0,
          dropped: 0,
          windows: t * subjects,
        })),
      );
      written += 4;
    }
    if ((t / stepS) % 20 === 0) {
      peakRss = Math.max(peakRss, rssMiB());
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed / MiB);
      await tick();
    }
  }
  peakRss = Math.max(peakRss, rssMiB());
  const generateSeconds = (performance.now() - started) / 1000;
  const queued = s.queued;
  const spoolBytes = s.spoolBytes;
  const evicted = (await s.metrics.evicted.get()).values[0]?.value ?? 0;
  // What the sink keeps while the server is away, garbage of the load generator collected.
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const retainedHeapMiB = gc ? process.memoryUsage().heapUsed / MiB : undefined;
  const retainedRssMiB = gc ? rssMiB() : undefined;
  await vm.start();
  const drainStart = performance.now();
  await s.flush();
  const drainSeconds = (performance.now() - drainStart) / 1000;
  await s.stop();
  const delivered = (await s.metrics.written.get()).values[0]?.value ?? 0;
  // One VictoriaMetrics series per measurement that every point of it has.
  const back =
    (await countBack(vm, `{__name__="activity_confidence", gateway="${gateway}"}`, 1)) +
    (await countBack(vm, `{__name__="reps_count", gateway="${gateway}"}`, 1)) +
    (await countBack(vm, `{__name__="device_connected", gateway="${gateway}"}`, 1)) +
    (await countBack(vm, `{__name__="imu_ax", gateway="${gateway}"}`, 1)) +
    (await countBack(vm, `{__name__="pipeline_queue_depth", gateway="${gateway}"}`, delivered));
  return {
    design,
    run,
    delivered,
    subjects,
    simulatedMinutes: simulatedS / 60,
    pointsQueued: queued,
    nonImuPoints: written,
    generateSeconds,
    rssBaselineMiB: baseline,
    heapBaselineMiB: baselineHeap,
    rssPeakMiB: peakRss,
    heapPeakMiB: peakHeap,
    retainedHeapMiB,
    retainedRssMiB,
    spoolBytes,
    evicted,
    drainSeconds,
    drainPointsPerSec: queued / drainSeconds,
    readBack: back,
  };
}

const DEVICES = 1000;
const RATE_HZ = 50;
const PER_CHUNK = 10;
const CHUNK_NS = (PER_CHUNK * 1e9) / RATE_HZ;

/** One reusable chunk per device (the sink copies what it needs while it is called): the generator costs little. */
function imuDevices(): ImuChunk[] {
  return Array.from({ length: DEVICES }, (_, d) => ({
    modality: 'imu' as const,
    sourceId: `imu-${String(d).padStart(4, '0')}`,
    subjectId: `p${d}`,
    tNs: new Float64Array(PER_CHUNK),
    values: Float32Array.from({ length: PER_CHUNK * 6 }, (_, k) => Math.sin(k + d) * (k % 6 < 3 ? 9.81 : 2)),
  }));
}

/** Sets chunk `c` of device `d`: its samples at RATE_HZ from `t0`, values nudged so no two chunks are alike. */
function fillChunk(ch: ImuChunk, t0: number, c: number): void {
  const tNs = ch.tNs as Float64Array;
  for (let i = 0; i < PER_CHUNK; i++) tNs[i] = t0 + c * CHUNK_NS + (i * 1e9) / RATE_HZ;
  const v = ch.values as Float32Array;
  v[0] = (c % 1000) / 100;
}

interface CpuSample {
  readonly cpu: NodeJS.CpuUsage;
  readonly elu: EventLoopUtilization;
  readonly at: number;
}
const cpuNow = (): CpuSample => ({
  cpu: process.cpuUsage(),
  elu: performance.eventLoopUtilization(),
  at: performance.now(),
});
/** CPU ms of the process (all threads) and of the main thread (event loop busy) since `a`. */
function cpuSince(a: CpuSample): { processMs: number; mainMs: number; wallMs: number } {
  const d = process.cpuUsage(a.cpu);
  const elu = performance.eventLoopUtilization(a.elu);
  return { processMs: (d.user + d.system) / 1000, mainMs: elu.active, wallMs: performance.now() - a.at };
}

/**
 * Offers every device's chunk every CHUNK_NS of wall time (devices staggered over the
 * period, one 20 ms tick after another) for `seconds`, handing each to `write`; catches up
 * when a tick comes late (still yielding to the event loop between ticks). Returns the points
 * offered.
 */
async function offerImu(seconds: number, t0: number, write: (ch: ImuChunk) => void): Promise<number> {
  const devices = imuDevices();
  const tickMs = 1000 / RATE_HZ;
  const ticksPerChunk = PER_CHUNK;
  const perTick = DEVICES / ticksPerChunk;
  const ticks = Math.round((seconds * 1000) / tickMs);
  const start = performance.now();
  let offered = 0;
  for (let k = 0; k < ticks; k++) {
    const due = start + k * tickMs;
    const wait = due - performance.now();
    // Yield every tick, also when late: device messages arrive as I/O events, between which
    // the sink's responses are read; a generator that never yields would starve them.
    await (wait > 1 ? new Promise((r) => setTimeout(r, wait)) : tick());
    const c = Math.floor(k / ticksPerChunk);
    const first = (k % ticksPerChunk) * perTick;
    for (let d = first; d < first + perTick; d++) {
      const ch = devices[d]!;
      fillChunk(ch, t0 + d * 1e5, c);
      write(ch);
      offered += PER_CHUNK;
    }
  }
  return offered;
}

/** The generator alone (writes go nowhere): its CPU is subtracted from the sink runs. */
async function imuGeneratorCost(seconds: number) {
  const before = cpuNow();
  let sink = 0;
  const offered = await offerImu(seconds, 1.7e18, (ch) => (sink += ch.tNs.length));
  const c = cpuSince(before);
  return {
    offered,
    processUsPerPoint: (c.processMs * 1000) / offered,
    mainUsPerPoint: (c.mainMs * 1000) / offered,
  };
}

async function imuRealTime(
  vm: VictoriaMetrics,
  tmp: string,
  design: Design,
  run: number,
  generator: { processUsPerPoint: number; mainUsPerPoint: number },
) {
  const gateway = `bench-imu-${design}-${run}`;
  const s = sink(vm, gateway, join(tmp, `imu-${design}-${run}`), { imuRaw: true, ...DESIGN[design] });
  await s.start();
  const t0 = (Date.now() - 3_600_000) * MS;
  let peakRss = rssMiB();
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, rssMiB())), 250);
  const before = cpuNow();
  const offered = await offerImu(imuSeconds, t0, (ch) => s.writeImu(ch));
  const c = cpuSince(before);
  const written = (await s.metrics.written.get()).values[0]?.value ?? 0;
  const spilled = (await s.metrics.spilled.get()).values[0]?.value ?? 0;
  const backlog = s.queued;
  const drainStart = performance.now();
  await s.flush(120_000);
  const drainSeconds = (performance.now() - drainStart) / 1000;
  clearInterval(rssTimer);
  await s.stop();
  const back = await countBack(vm, `{__name__="imu_ax", gateway="${gateway}"}`, offered);
  return {
    design,
    run,
    offered,
    offeredPerSec: offered / (c.wallMs / 1000),
    writtenPerSec: written / (c.wallMs / 1000),
    spilled,
    backlogAtEnd: backlog,
    drainSeconds,
    processUsPerPoint: (c.processMs * 1000) / offered - generator.processUsPerPoint,
    mainUsPerPoint: (c.mainMs * 1000) / offered - generator.mainUsPerPoint,
    processCorePercent: (100 * c.processMs) / c.wallMs,
    mainBusyPercent: (100 * c.mainMs) / c.wallMs,
    rssPeakMiB: peakRss,
    readBack: back,
  };
}

/** The same chunks as fast as the sink takes them (never more than a few batches ahead). */
async function imuCeiling(vm: VictoriaMetrics, tmp: string, design: Design, run: number) {
  const gateway = `bench-imumax-${design}-${run}`;
  const s = sink(vm, gateway, join(tmp, `imumax-${design}-${run}`), { imuRaw: true, ...DESIGN[design] });
  await s.start();
  const devices = imuDevices();
  const total = quick ? 300_000 : 1_000_000;
  const t0 = (Date.now() - 7_000_000) * MS;
  const before = cpuNow();
  let n = 0;
  for (let c = 0; n < total; c++)
    for (let d = 0; d < DEVICES && n < total; d++) {
      const ch = devices[d]!;
      fillChunk(ch, t0 + d * 1e5, c);
      s.writeImu(ch);
      n += PER_CHUNK;
      if (n % 5000 === 0) {
        while (s.queued > 40_000) await new Promise((r) => setTimeout(r, 1));
        await tick();
      }
    }
  await s.flush();
  const cpu = cpuSince(before);
  const spilled = (await s.metrics.spilled.get()).values[0]?.value ?? 0;
  await s.stop();
  const back = await countBack(vm, `{__name__="imu_ax", gateway="${gateway}"}`, total);
  return {
    design,
    run,
    points: total,
    pointsPerSec: total / (cpu.wallMs / 1000),
    processUsPerPoint: (cpu.processMs * 1000) / total,
    mainUsPerPoint: (cpu.mainMs * 1000) / total,
    spilled,
    readBack: back,
  };
}

/**
 * What compressing one batch costs at each gzip level: a 5,000-line raw-IMU body (as the sink
 * sends it) gzipped synchronously here to time it alone; the sink runs the same on the
 * thread pool. CPU µs per point and the compressed size relative to the raw body.
 */
function gzipCosts(): Array<{ level: number; usPerPoint: number; ratio: number; rawBytes: number }> {
  const slabs = new LineSlabs('bench');
  const devices = imuDevices();
  const parts: Buffer[] = [];
  for (let d = 0; d < 500; d++) {
    fillChunk(devices[d]!, 1.7e18 + d * 1e5, d);
    const r = slabs.imuChunk(devices[d]!);
    parts.push(r.slab.subarray(r.start, r.end));
  }
  const body = Buffer.concat(parts);
  const points = 5000;
  return [1, 6, 9].map((level) => {
    const rounds = quick ? 10 : 40;
    let size = 0;
    const t = process.cpuUsage();
    for (let i = 0; i < rounds; i++) size = gzipSync(body, { level }).length;
    const c = process.cpuUsage(t);
    return {
      level,
      usPerPoint: (c.user + c.system) / rounds / points,
      ratio: size / body.length,
      rawBytes: body.length,
    };
  });
}

/** Lines per second PointSerializer makes (no I/O): the ceiling of the sink's CPU cost. */
function serializerRate(): number {
  const p = new PointSerializer('bench');
  const n = 200_000;
  const t = performance.now();
  for (let k = 0; k < n; k++)
    p.pipeline([
      {
        stage: `stage-${k % 100}`,
        timeNs: 1.7e18 + k * MS,
        queueDepth: k % 1000,
        inferenceUs: 150,
        windows: k,
      },
    ]);
  return n / ((performance.now() - t) / 1000);
}

/**
 * Raw IMU lines per second, one core, no I/O: a `Point` per sample as before (what the
 * issue's profile showed: floatField alone 6.6 % of the main thread) against the direct
 * lines of imuSampleLines. Both make the same bytes (test/unit/influx/line-protocol.test.ts).
 */
function imuLineRates(): { pointPerSample: number; directLines: number } {
  const chunks = Array.from({ length: 100 }, (_, c) => ({
    modality: 'imu' as const,
    sourceId: `imu-${String(c).padStart(4, '0')}`,
    subjectId: `p${c}`,
    tNs: Float64Array.from({ length: 10 }, (_, i) => 1.7e18 + c * 1e6 + i * 2e7),
    values: Float32Array.from({ length: 60 }, (_, k) => Math.sin(k + c)),
  }));
  const rounds = quick ? 100 : 400;
  const fields = ['ax', 'ay', 'az', 'gx', 'gy', 'gz'];
  let t = performance.now();
  let n = 0;
  for (let r = 0; r < rounds; r++)
    for (const ch of chunks)
      for (let i = 0; i < ch.tNs.length; i++) {
        const p = new Point('imu')
          .tag('gateway', 'bench')
          .tag('device', ch.sourceId)
          .tag('subject', ch.subjectId);
        for (let f = 0; f < 6; f++) p.floatField(fields[f] as string, ch.values[i * 6 + f] as number);
        if (p.timestamp(BigInt(Math.round(ch.tNs[i] as number)).toString()).toLineProtocol()) n++;
      }
  const pointPerSample = n / ((performance.now() - t) / 1000);
  t = performance.now();
  n = 0;
  for (let r = 0; r < rounds; r++) for (const ch of chunks) n += imuSampleLines('bench', ch).lines.length;
  return { pointPerSample, directLines: n / ((performance.now() - t) / 1000) };
}

interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
}
function spread(values: readonly number[]): Spread {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  const median = v.length % 2 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
  return { median, min: v[0] as number, max: v[v.length - 1] as number, runs: v.length };
}
const fmtSpread = (x: Spread, digits = 0): string =>
  `${x.median.toFixed(digits)} (${x.min.toFixed(digits)}–${x.max.toFixed(digits)}, ${x.runs} runs)`;

const vm = await startVictoriaMetrics();
const tmp = mkdtempSync(join(tmpdir(), 'mujo-bench-influx-'));
try {
  // The outage first, so its RSS baseline is not inflated by the other run's garbage.
  // Runs interleave the designs so drifting load on a shared machine hits both alike.
  const outages: Awaited<ReturnType<typeof outage>>[] = [];
  if (only !== 'imu')
    for (let run = 1; run <= repeats; run++)
      for (const d of designs) outages.push(await outage(vm, tmp, d, run));
  const sustainedRuns: Awaited<ReturnType<typeof sustained>>[] = [];
  if (!outageOnly && only !== 'imu')
    for (let run = 1; run <= repeats; run++)
      for (const d of designs) sustainedRuns.push(await sustained(vm, tmp, d, run));
  const imuRuns: Awaited<ReturnType<typeof imuRealTime>>[] = [];
  const imuMaxRuns: Awaited<ReturnType<typeof imuCeiling>>[] = [];
  const generatorRuns: Awaited<ReturnType<typeof imuGeneratorCost>>[] = [];
  if (!outageOnly)
    for (let run = 1; run <= repeats; run++) {
      const generator = await imuGeneratorCost(Math.min(imuSeconds, 5));
      generatorRuns.push(generator);
      for (const d of designs) imuRuns.push(await imuRealTime(vm, tmp, d, run, generator));
      for (const d of designs) imuMaxRuns.push(await imuCeiling(vm, tmp, d, run));
    }
  const ser = serializerRate();
  const gz = gzipCosts();
  const imu = [imuLineRates(), imuLineRates(), imuLineRates()];
  const rows: Array<[string, string]> = [
    ['serializer alone: pipeline lines/s (one core)', ser.toFixed(0)],
    ['IMU lines/s, a Point per sample (before)', fmtSpread(spread(imu.map((r) => r.pointPerSample)))],
    ['IMU lines/s, direct lines (after)', fmtSpread(spread(imu.map((r) => r.directLines)))],
    ...gz.map((g): [string, string] => [
      `gzip level ${g.level} of a 5,000-line IMU body (${(g.rawBytes / 1024).toFixed(0)} KiB): CPU µs/point, size`,
      `${g.usPerPoint.toFixed(2)}, ${(100 * g.ratio).toFixed(1)} %`,
    ]),
  ];
  const summary: Record<string, Record<string, Spread>> = {};
  if (generatorRuns.length > 0)
    rows.push([
      'IMU generator alone, µs/point process / main (subtracted below)',
      `${fmtSpread(spread(generatorRuns.map((r) => r.processUsPerPoint)), 2)} / ${fmtSpread(spread(generatorRuns.map((r) => r.mainUsPerPoint)), 2)}`,
    ]);
  for (const d of designs) {
    const sus = sustainedRuns.filter((r) => r.design === d);
    const out = outages.filter((r) => r.design === d);
    const imuRt = imuRuns.filter((r) => r.design === d);
    const imuMax = imuMaxRuns.filter((r) => r.design === d);
    summary[d] = {
      ...(imuRt.length > 0
        ? {
            imuWrittenPerSec: spread(imuRt.map((r) => r.writtenPerSec)),
            imuOfferedPerSec: spread(imuRt.map((r) => r.offeredPerSec)),
            imuSpilled: spread(imuRt.map((r) => r.spilled)),
            imuBacklogAtEnd: spread(imuRt.map((r) => r.backlogAtEnd)),
            imuProcessUsPerPoint: spread(imuRt.map((r) => r.processUsPerPoint)),
            imuMainUsPerPoint: spread(imuRt.map((r) => r.mainUsPerPoint)),
            imuMainBusyPercent: spread(imuRt.map((r) => r.mainBusyPercent)),
            imuRssPeakMiB: spread(imuRt.map((r) => r.rssPeakMiB)),
            imuReadBackMissing: spread(imuRt.map((r) => r.offered - r.readBack)),
            imuMaxPointsPerSec: spread(imuMax.map((r) => r.pointsPerSec)),
            imuMaxProcessUsPerPoint: spread(imuMax.map((r) => r.processUsPerPoint)),
            imuMaxMainUsPerPoint: spread(imuMax.map((r) => r.mainUsPerPoint)),
            imuMaxReadBackMissing: spread(imuMax.map((r) => r.points - r.readBack)),
          }
        : {}),
      ...(sus.length > 0
        ? {
            sustainedPointsPerSec: spread(sus.map((r) => r.pointsPerSec)),
            sustainedSpilled: spread(sus.map((r) => r.spilled)),
            sustainedReadBackMissing: spread(sus.map((r) => r.points - r.readBack)),
          }
        : {}),
      ...(out.length > 0
        ? {
            outageRssPeakMiB: spread(out.map((r) => r.rssPeakMiB)),
            outageSpoolMiB: spread(out.map((r) => r.spoolBytes / MiB)),
            drainSeconds: spread(out.map((r) => r.drainSeconds)),
            drainPointsPerSec: spread(out.map((r) => r.drainPointsPerSec)),
            drainMissing: spread(out.map((r) => r.delivered - r.readBack)),
          }
        : {}),
    };
    const x = summary[d]!;
    if (x['imuWrittenPerSec']) {
      rows.push([`[${d}] IMU 50,000/s offered: points/s written`, fmtSpread(x['imuWrittenPerSec'])]);
      rows.push([`[${d}] IMU 50,000/s: points spilled to disk`, fmtSpread(x['imuSpilled']!)]);
      rows.push([`[${d}] IMU 50,000/s: backlog at the end`, fmtSpread(x['imuBacklogAtEnd']!)]);
      rows.push([`[${d}] IMU 50,000/s: CPU µs/point, process`, fmtSpread(x['imuProcessUsPerPoint']!, 2)]);
      rows.push([`[${d}] IMU 50,000/s: CPU µs/point, main thread`, fmtSpread(x['imuMainUsPerPoint']!, 2)]);
      rows.push([`[${d}] IMU 50,000/s: main thread busy %`, fmtSpread(x['imuMainBusyPercent']!, 1)]);
      rows.push([`[${d}] IMU 50,000/s: RSS peak (MiB)`, fmtSpread(x['imuRssPeakMiB']!, 1)]);
      rows.push([`[${d}] IMU 50,000/s: samples not read back`, fmtSpread(x['imuReadBackMissing']!)]);
      rows.push([`[${d}] IMU ceiling: points/s`, fmtSpread(x['imuMaxPointsPerSec']!)]);
      rows.push([
        `[${d}] IMU ceiling: CPU µs/point process / main`,
        `${fmtSpread(x['imuMaxProcessUsPerPoint']!, 2)} / ${fmtSpread(x['imuMaxMainUsPerPoint']!, 2)}`,
      ]);
      rows.push([`[${d}] IMU ceiling: samples not read back`, fmtSpread(x['imuMaxReadBackMissing']!)]);
    }
    if (x['sustainedPointsPerSec']) {
      rows.push([`[${d}] sustained: points/s to VictoriaMetrics`, fmtSpread(x['sustainedPointsPerSec'])]);
      rows.push([`[${d}] sustained: points spilled to disk`, fmtSpread(x['sustainedSpilled']!)]);
      rows.push([`[${d}] sustained: points not read back`, fmtSpread(x['sustainedReadBackMissing']!)]);
    }
    if (x['outageRssPeakMiB']) {
      rows.push([`[${d}] outage: RSS peak (MiB)`, fmtSpread(x['outageRssPeakMiB'], 1)]);
      rows.push([`[${d}] outage: spool at the end (MiB)`, fmtSpread(x['outageSpoolMiB']!, 1)]);
      rows.push([`[${d}] recovery: drain seconds`, fmtSpread(x['drainSeconds']!, 2)]);
      rows.push([`[${d}] recovery: points/s while draining`, fmtSpread(x['drainPointsPerSec']!)]);
    }
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(
    `\nInfluxDB sink benchmark (${cpus().length} cores, node ${process.version}${quick ? ', --quick' : ''}; median (min–max) over runs)\n`,
  );
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  // --out FILE: a trial run that does not replace the recorded results.
  const out = argValue(
    '--out',
    join(
      dirname(fileURLToPath(import.meta.url)),
      outageOnly ? 'results-outage-only.json' : only === 'imu' ? 'results-imu.json' : 'results.json',
    ),
  );
  writeFileSync(
    out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: {
          cores: cpus().length,
          cpu: cpus()[0]?.model,
          node: process.version,
          execArgv: process.execArgv.filter((a) => !a.includes('tsx')),
          loadAvg: (await import('node:os')).loadavg(),
        },
        quick,
        repeats,
        designs: Object.fromEntries(designs.map((d) => [d, DESIGN[d]])),
        serializerLinesPerSec: ser,
        imuLinesPerSec: imu,
        gzip: gz,
        summary,
        imuSeconds,
        imuGenerator: generatorRuns,
        imu: imuRuns,
        imuCeiling: imuMaxRuns,
        sustained: sustainedRuns,
        outage: outages,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwrote ${out}`);
} finally {
  await vm.dispose();
  rmSync(tmp, { recursive: true, force: true });
}
