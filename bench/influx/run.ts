/*
 * InfluxDB sink benchmark (not a test): `node --import tsx bench/influx/run.ts [--quick]`.
 *  1. sustained: points/s the sink delivers to a real VictoriaMetrics (batches of 5000, gzip),
 *     with the producer going as fast as the sink takes points.
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
import { PointSerializer } from '../../gateway/sinks/influx/line-protocol.ts';
import { InfluxSink, type InfluxSinkOptions } from '../../gateway/sinks/influx/sink.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../../test/helpers/victoria-metrics.ts';

const quick = process.argv.includes('--quick');
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

async function sustained(vm: VictoriaMetrics, tmp: string) {
  const total = quick ? 200_000 : 1_000_000;
  const s = sink(vm, 'bench-sustained', join(tmp, 'sustained'));
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
      // Producer paces itself on the sink: never more than a few batches ahead.
      while (s.queued > 20_000) await new Promise((r) => setTimeout(r, 1));
      peakSpool = Math.max(peakSpool, s.spoolBytes);
      peakQueued = Math.max(peakQueued, s.queued);
      await tick();
    }
  }
  await s.flush();
  const seconds = (performance.now() - started) / 1000;
  await s.stop();
  const lines = total; // one line per writePipeline; VM splits each into 3 field series
  const back = await countBack(vm, '{__name__="pipeline_queue_depth", gateway="bench-sustained"}', total);
  return {
    points: lines,
    seconds,
    pointsPerSec: lines / seconds,
    peakSpoolBytes: peakSpool,
    peakQueued,
    readBack: back,
  };
}

async function outage(vm: VictoriaMetrics, tmp: string) {
  const subjects = 100;
  const simulatedS = quick ? 120 : 600;
  const activities = ['squat', 'lunge', 'jog', 'walk', 'sit_to_stand', 'push_up'];
  const spoolDir = join(tmp, 'outage');
  await vm.stop();
  const s = sink(vm, 'bench-outage', spoolDir, { imuDownsampleHz: 10, statsIntervalMs: 0 });
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
            gateway: 'bench-outage',
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
          gateway: 'bench-outage',
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
    (await countBack(vm, '{__name__="activity_confidence", gateway="bench-outage"}', 1)) +
    (await countBack(vm, '{__name__="reps_count", gateway="bench-outage"}', 1)) +
    (await countBack(vm, '{__name__="device_connected", gateway="bench-outage"}', 1)) +
    (await countBack(vm, '{__name__="imu_ax", gateway="bench-outage"}', 1)) +
    (await countBack(vm, '{__name__="pipeline_queue_depth", gateway="bench-outage"}', delivered));
  return {
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

const vm = await startVictoriaMetrics();
const tmp = mkdtempSync(join(tmpdir(), 'mujo-bench-influx-'));
try {
  // The outage first, so its RSS baseline is not inflated by the other run's garbage.
  const b = await outage(vm, tmp);
  const a = outageOnly ? undefined : await sustained(vm, tmp);
  const ser = serializerRate();
  const rows: Array<[string, string]> = [
    ['serializer alone: lines/s (one core)', ser.toFixed(0)],
    ...(a
      ? ([
          ['sustained: points written', String(a.points)],
          ['sustained: seconds', a.seconds.toFixed(2)],
          ['sustained: points/s to VictoriaMetrics', a.pointsPerSec.toFixed(0)],
          ['sustained: points read back', String(a.readBack)],
          ['sustained: peak queued / spool bytes', `${a.peakQueued} / ${a.peakSpoolBytes}`],
        ] as Array<[string, string]>)
      : []),
    [
      `outage: ${b.subjects} subjects × ${b.simulatedMinutes} simulated min, points queued`,
      String(b.pointsQueued),
    ],
    ['outage: generated in (s)', b.generateSeconds.toFixed(2)],
    ['outage: RSS baseline → peak (MiB)', `${b.rssBaselineMiB.toFixed(1)} → ${b.rssPeakMiB.toFixed(1)}`],
    ['outage: heap baseline → peak (MiB)', `${b.heapBaselineMiB.toFixed(1)} → ${b.heapPeakMiB.toFixed(1)}`],
    [
      'outage: after GC at the end of the outage: heap / RSS (MiB)',
      b.retainedHeapMiB === undefined
        ? 'run with --expose-gc'
        : `${b.retainedHeapMiB.toFixed(1)} / ${b.retainedRssMiB!.toFixed(1)}`,
    ],
    [
      'outage: spool bytes at the end of the outage',
      `${b.spoolBytes} (${(b.spoolBytes / MiB).toFixed(1)} MiB)`,
    ],
    ['outage: points evicted', String(b.evicted)],
    ['recovery: drain seconds', b.drainSeconds.toFixed(2)],
    ['recovery: points/s while draining', b.drainPointsPerSec.toFixed(0)],
    ['recovery: points delivered / read back', `${b.delivered} / ${b.readBack}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(
    `\nInfluxDB sink benchmark (${cpus().length} cores, node ${process.version}${quick ? ', --quick' : ''})\n`,
  );
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  const out = join(
    dirname(fileURLToPath(import.meta.url)),
    outageOnly ? 'results-outage-only.json' : 'results.json',
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
        },
        quick,
        serializerLinesPerSec: ser,
        sustained: a,
        outage: b,
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
