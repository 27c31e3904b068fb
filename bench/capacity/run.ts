/**
 * Capacity of one gateway box, from the benchmarks run on that box: how many 50 Hz IMU
 * streams and how many 15 fps cameras it carries with everything on, leaving headroom for
 * the room's broker and the rest of the system. Not a test and no measurement of its own: it
 * reads `bench/pipeline/results.json` (IMU streams through the whole gateway; run it with
 * `--influx` for the configuration users run) and `bench/pose/results.json` (cameras through
 * the pose estimator) from the same machine, and prints and writes the capacity table.
 *
 *   npm run bench:pipeline -- --influx --streams 100,250,500 --modes micro --designs after \
 *     --compiled-streams 0 --out bench/capacity/pipeline
 *   npm run bench:pose
 *   npm run bench:capacity -- --pipeline bench/capacity/pipeline/results.json [--budget 0.6]
 *
 * On a Raspberry Pi or a Jetson, run the same three commands there: the table is that box's.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const BENCH = join(HERE, '..');

const { values: args } = parseArgs({
  options: {
    // Share of the box's cores the gateway may use; the rest is for mosquitto, InfluxDB
    // clients, the OS and bursts (a fleet room runs its own broker on the same box).
    budget: { type: 'string', default: '0.6' },
    // A stream count is within capacity only if it was measured with no drops and an event
    // p99 on the broker at most this (ms).
    'p99-ms': { type: 'string', default: '100' },
    // A camera count is within capacity only if each camera kept this share of its 15 fps.
    'min-fps-share': { type: 'string', default: '0.9' },
    // The results files to read (default: each benchmark's own results.json).
    pipeline: { type: 'string', default: join(BENCH, 'pipeline/results.json') },
    pose: { type: 'string', default: join(BENCH, 'pose/results.json') },
  },
});
const budget = Number(args.budget);
const p99Aim = Number(args['p99-ms']);
const fpsShare = Number(args['min-fps-share']);

interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}
interface PipelineSummary {
  readonly streams: number;
  readonly mode: string;
  readonly runtime: string;
  readonly design: string;
  readonly brokerP99Ms: Spread;
  readonly gatewayCpuPct: Spread;
  readonly rssMaxMB: Spread;
  readonly drops: Spread;
}
interface PipelineResults {
  readonly date: string;
  readonly machine: { readonly cores?: number; readonly cpu?: string; readonly [k: string]: unknown };
  readonly settings: { readonly influx?: boolean };
  readonly summaries: readonly PipelineSummary[];
}
interface PoseStream {
  readonly streams: number;
  readonly offeredFps: number;
  readonly perStreamFps: number;
  readonly cpuPercentOfOneCore: number;
}
interface PoseResults {
  readonly date: string;
  readonly machine: { readonly [k: string]: unknown };
  readonly streams: readonly PoseStream[];
}

const read = <T>(path: string): T => {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (err) {
    throw new Error(`cannot read ${path}: run its benchmark on this machine first`, { cause: err });
  }
};
const pipeline = read<PipelineResults>(args.pipeline);
const pose = read<PoseResults>(args.pose);
if (!Array.isArray(pipeline.summaries))
  throw new Error('bench/pipeline/results.json has no summaries: rerun npm run bench:pipeline');

const cores = Number(pipeline.machine.cores ?? 0) || Number((pose.machine as { cpus?: number }).cpus ?? 0);
if (!cores) throw new Error('the results do not say how many cores the machine has');
const budgetPctOfOneCore = budget * cores * 100;

// IMU: the configuration users run (current design, micro-batched, compiled if measured).
const imuRows = pipeline.summaries
  .filter((s) => s.design === 'after' && s.mode === 'micro-batched')
  .sort((a, b) => a.streams - b.streams || (a.runtime === 'compiled' ? -1 : 1));
const healthy = imuRows.filter((s) => s.drops.max === 0 && s.brokerP99Ms.median <= p99Aim);
if (healthy.length === 0) throw new Error(`no IMU configuration met 0 drops and p99 ≤ ${p99Aim} ms`);
const largest = healthy.reduce((a, b) => (b.streams > a.streams ? b : a));
// CPU per stream from the largest healthy load: fixed costs (timers, HTTP) are spread thinnest there.
const cpuPerStream = largest.gatewayCpuPct.median / largest.streams;

// Cameras: cost per camera at the largest count that kept its frame rate.
const camRows = pose.streams.filter((s) => s.perStreamFps >= fpsShare * (s.offeredFps / s.streams));
const camLargest = camRows.reduce<PoseStream | undefined>(
  (a, b) => (!a || b.streams > a.streams ? b : a),
  undefined,
);
const cpuPerCamera = camLargest ? camLargest.cpuPercentOfOneCore / camLargest.streams : Number.NaN;

interface CapacityRow {
  readonly cameras: number;
  readonly streams: number;
  readonly limitedBy: 'cpu budget' | 'largest load measured';
}
const rows: CapacityRow[] = [];
for (
  let cameras = 0;
  Number.isFinite(cpuPerCamera) && cameras * cpuPerCamera <= budgetPctOfOneCore;
  cameras++
) {
  const byCpu = Math.floor((budgetPctOfOneCore - cameras * cpuPerCamera) / cpuPerStream);
  // Never claim more streams than were measured healthy: the curve past it is unknown.
  const streams = Math.min(byCpu, largest.streams);
  rows.push({
    cameras,
    streams,
    limitedBy: byCpu > largest.streams ? 'largest load measured' : 'cpu budget',
  });
  if (cameras > 16) break;
}

const lines = [
  `Capacity of this box (${cores} cores${pipeline.machine.cpu ? `, ${String(pipeline.machine.cpu)}` : ''}), gateway budget ${Math.round(budget * 100)} % of the cores`,
  `IMU (bench/pipeline ${pipeline.date}, InfluxDB ${pipeline.settings.influx ? 'on' : 'OFF — rerun with --influx'}): ${largest.streams} streams healthy at ${largest.gatewayCpuPct.median.toFixed(0)} % of one core, p99 ${largest.brokerP99Ms.median.toFixed(1)} ms, RSS ${largest.rssMaxMB.median.toFixed(0)} MB → ${(cpuPerStream * 10).toFixed(2)} % of a core per 10 streams`,
  camLargest
    ? `Cameras (bench/pose ${pose.date}): ${camLargest.streams} at ${camLargest.perStreamFps} fps each, ${camLargest.cpuPercentOfOneCore} % of one core → ${cpuPerCamera.toFixed(0)} % of a core per camera`
    : 'Cameras: no camera count kept its frame rate in bench/pose',
  '',
  '| cameras (15 fps) | IMU streams (50 Hz) | limited by |',
  '| ---------------- | ------------------- | ---------- |',
  ...rows.map((r) => `| ${r.cameras} | ${r.streams} | ${r.limitedBy} |`),
];
process.stdout.write(lines.join('\n') + '\n');
writeFileSync(
  join(HERE, 'results.json'),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      cores,
      budget,
      p99AimMs: p99Aim,
      sources: { pipeline: pipeline.date, pose: pose.date, influx: pipeline.settings.influx ?? false },
      imu: {
        largestHealthyStreams: largest.streams,
        cpuPctOfOneCore: largest.gatewayCpuPct.median,
        brokerP99Ms: largest.brokerP99Ms.median,
        rssMaxMB: largest.rssMaxMB.median,
        cpuPctPerStream: cpuPerStream,
      },
      cameras: camLargest ? { measured: camLargest.streams, cpuPctPerCamera: cpuPerCamera } : null,
      rows,
    },
    null,
    2,
  ) + '\n',
);
