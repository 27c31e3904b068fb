/**
 * CPU time and allocation per sample of each per-sample stage of the gateway's hot path, for
 * many 50 Hz IMU streams in 10-sample chunks (5 messages/s per device), on one thread:
 *
 *   decode MJI1          decodeImuMessage on the binary messages bench/pipeline publishes
 *   decode JSON          decodeImuMessage on phones' JSON ({"v":1,"t0Ns","rateHz","acc","gyro"})
 *   ingest JSON          MqttImuIngest.onMessage: topic, decode, device clock mapping, counters
 *   clock map            DeviceClockMapper.map alone
 *   resample             resampleToGrid
 *   resample+window      resampleToGrid → slidingWindows (100-sample windows every 25)
 *   reps                 RepService.push, every subject in a repetitive activity (worst case)
 *   mqtt dispatch        matching each message's topic against the sink's subscriptions
 *
 * Per stage: CPU ns per sample (process CPU time of the pass, so GC helper threads count and
 * other processes' load does not; wall time is in results.json), bytes allocated per sample (V8's sampling
 * heap profiler in a second pass, counting objects already collected: what the garbage
 * collector has to clean up). The time GC entries report during the timed pass is kept in
 * results.json (`raw`) but not tabled: entries arrive late and short passes catch GC work of
 * earlier ones, so it is noise; take GC shares from a profile of the running gateway.
 *
 * `--before <git ref>` runs the same stages on that ref's gateway/ (extracted to a temporary
 * directory) side by side with the working tree, interleaved per repeat (before, after,
 * after, before, …) so drifting load on a shared machine hits both alike; the table gives the
 * median and range of the repeats. Not a test: prints a table and writes results.json (or
 * --out) next to this file.
 *
 *   node --import tsx bench/pipeline-stages/run.ts [--streams 1000] [--seconds 10]
 *        [--repeats 3] [--before <ref>] [--stages decode-mji1,clock-map,…] [--out FILE]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { Subject } from 'rxjs';
import type { ImuChunk, SampleChunk } from '../../gateway/domain/samples.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = resolve(HERE, '../..');

const { values: args } = parseArgs({
  options: {
    streams: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    repeats: { type: 'string', default: '3' },
    before: { type: 'string' },
    stages: { type: 'string' },
    out: { type: 'string', default: join(HERE, 'results.json') },
    /** Print the N functions allocating most per stage. */
    'top-sites': { type: 'string', default: '0' },
  },
});
const streams = Number(args.streams);
const seconds = Number(args.seconds);
const repeats = Number(args.repeats);
const topSites = Number(args['top-sites']);
const RATE = 50;
const PER_CHUNK = 10;
const samplesPerPass = streams * seconds * RATE;
const encoder = {
  name: 'imu',
  modality: 'imu' as const,
  sampleRateHz: 50,
  windowSamples: 100,
  hopSamples: 25,
};
const fixedClock = { nowNs: () => 0 };
const T0_NS = Date.UTC(2026, 0, 1) * 1e6 + 3_141_592;
const DEVICE_T0_NS = 86_400e9; // devices count from their own boot
const TOPIC_BASE = 'mujo/bench';

// --- the two trees ------------------------------------------------------------------------

/** The modules a stage needs, loaded from one tree (the working tree or a git ref). */
interface Tree {
  readonly label: string;
  readonly decode: typeof import('../../gateway/sources/mqtt/imu-decode.ts');
  readonly ingest: typeof import('../../gateway/sources/mqtt/ingest.ts');
  readonly mapper: typeof import('../../gateway/clock/device-clock-mapper.ts');
  readonly resample: typeof import('../../gateway/pipeline/stages/resample.ts');
  readonly window: typeof import('../../gateway/pipeline/stages/window.ts');
  readonly reps: typeof import('../../gateway/pipeline/reps/rep-service.ts');
  readonly sink: typeof import('../../gateway/sinks/mqtt/sink.ts');
  readonly topics: typeof import('../../gateway/sinks/mqtt/topics.ts');
  readonly logger: typeof import('../../gateway/observability/logger.ts');
}

async function loadTree(label: string, root: string): Promise<Tree> {
  const load = <M>(path: string): Promise<M> => import(pathToFileURL(join(root, path)).href) as Promise<M>;
  return {
    label,
    decode: await load('gateway/sources/mqtt/imu-decode.ts'),
    ingest: await load('gateway/sources/mqtt/ingest.ts'),
    mapper: await load('gateway/clock/device-clock-mapper.ts'),
    resample: await load('gateway/pipeline/stages/resample.ts'),
    window: await load('gateway/pipeline/stages/window.ts'),
    reps: await load('gateway/pipeline/reps/rep-service.ts'),
    sink: await load('gateway/sinks/mqtt/sink.ts'),
    topics: await load('gateway/sinks/mqtt/topics.ts'),
    logger: await load('gateway/observability/logger.ts'),
  };
}

/** `ref`'s gateway/ and config/ in a temporary directory that resolves packages from ours. */
function extractRef(ref: string): string {
  const dir = mkdtempSync(join(os.tmpdir(), 'mujo-stages-before-'));
  const tar = execFileSync('git', ['-C', REPO, 'archive', ref, 'gateway', 'config', 'package.json'], {
    maxBuffer: 1 << 30,
  });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

// --- inputs (built once, shared by both trees) --------------------------------------------

/** Chunks per stream in one pass; the input holds two passes' worth (warm-up, then measured). */
const chunkCount = (seconds * RATE) / PER_CHUNK;
const inputChunks = 2 * chunkCount;
/** Sample values of chunk c (sine per channel: the same for every stream). */
const valuesOf: Float32Array[] = [];
const gridTimesOf: Float64Array[] = [];
for (let c = 0; c < inputChunks; c++) {
  const values = new Float32Array(PER_CHUNK * 6);
  const tNs = new Float64Array(PER_CHUNK);
  for (let i = 0; i < PER_CHUNK; i++) {
    const k = c * PER_CHUNK + i;
    // Off the grid by up to 1.2 ms, so resampling interpolates.
    tNs[i] = T0_NS + k * 20e6 + ((k * 7919) % 13) * 1e5;
    for (let ch = 0; ch < 6; ch++) values[i * 6 + ch] = Math.sin(k * 0.05 + ch) * (ch < 3 ? 9.81 : 2);
  }
  valuesOf.push(values);
  gridTimesOf.push(tNs);
}
const streamIds = Array.from({ length: streams }, (_, s) => `imu-${s}`);
const subjectIds = Array.from({ length: streams }, (_, s) => `s${s}`);
const topicOf = streamIds.map((id) => `${TOPIC_BASE}/ingest/${id}/imu`);
/** Device time of chunk c's first sample, and its arrival at the gateway (last sample + 4 ms). */
const deviceT0 = (c: number) => DEVICE_T0_NS + c * PER_CHUNK * 20e6;
const arrivalNs = (c: number) => T0_NS + ((c + 1) * PER_CHUNK - 1) * 20e6 + 4e6;

function jsonPayload(c: number, s: number): Buffer {
  // As a phone app would: full-precision doubles (JSON.stringify), a little different per device.
  const v = valuesOf[c] as Float32Array;
  const acc: number[][] = [];
  const gyro: number[][] = [];
  for (let i = 0; i < PER_CHUNK; i++) {
    acc.push([0, 1, 2].map((ch) => (v[i * 6 + ch] as number) + s * 1e-7));
    gyro.push([3, 4, 5].map((ch) => (v[i * 6 + ch] as number) - s * 1e-7));
  }
  return Buffer.from(
    `{"v":1,"t0Ns":"${BigInt(deviceT0(c))}","rateHz":50,"acc":${JSON.stringify(acc)},"gyro":${JSON.stringify(gyro)}}`,
  );
}

// --- the stages ---------------------------------------------------------------------------

/**
 * Builds a stage's state on a tree; the result runs chunks [from, to) of every stream through
 * it. The measured half follows a warm-up half on the same state, as in a gateway that has
 * been running: per-source state exists, times continue.
 */
type Stage = (tree: Tree) => (from: number, to: number) => void;

let mji1Messages: Buffer[][] | undefined;
let jsonMessages: Buffer[][] | undefined;

function mji1(tree: Tree): Buffer[][] {
  // Encoded once with the working tree's encoder; both trees decode the same bytes.
  mji1Messages ??= valuesOf.map((values, c) =>
    streamIds.map((_, s) =>
      tree.decode.encodeImuBinary({
        values,
        t0Ns: BigInt(deviceT0(c)),
        rateHz: RATE,
        encoding: 'int16',
        placement: 'wrist',
        seq: c * streams + s,
      }),
    ),
  );
  return mji1Messages;
}
const json = (): Buffer[][] =>
  (jsonMessages ??= valuesOf.map((_, c) => streamIds.map((__, s) => jsonPayload(c, s))));

function deviceChunks(): ImuChunk[][] {
  return valuesOf.map((values, c) =>
    streamIds.map((sourceId, s) => ({
      modality: 'imu' as const,
      sourceId,
      subjectId: subjectIds[s] as string,
      clockDomain: 'device' as const,
      tNs: Float64Array.from({ length: PER_CHUNK }, (_, i) => deviceT0(c) + i * 20e6),
      values,
    })),
  );
}
let deviceChunkCache: ImuChunk[][] | undefined;
let gridChunkCache: ImuChunk[][] | undefined;
const gatewayChunks = (): ImuChunk[][] =>
  (gridChunkCache ??= valuesOf.map((values, c) =>
    streamIds.map((sourceId, s) => ({
      modality: 'imu' as const,
      sourceId,
      subjectId: subjectIds[s] as string,
      tNs: gridTimesOf[c] as Float64Array,
      values,
    })),
  ));

let sink = 0; // results go here so no pass is optimised away

/** The decode stage alone: every message of chunks [from, to) through the tree's decoder. */
function decodeEach(tree: Tree, messages: Buffer[][]): ReturnType<Stage> {
  return (from, to) => {
    for (let c = from; c < to; c++) {
      const ctx = { receivedNs: arrivalNs(c), maxSamples: 1000 };
      for (const m of messages[c] as Buffer[]) {
        const r = tree.decode.decodeImuMessage(m, ctx);
        if (r.ok) sink += r.imu.tNs.length;
      }
    }
  };
}

const STAGES: Record<string, Stage> = {
  'decode-mji1': (tree) => decodeEach(tree, mji1(tree)),
  'decode-json': (tree) => decodeEach(tree, json()),
  'ingest-json': (tree) => {
    const messages = json();
    let nowNs = 0;
    const topics = tree.topics.mqttTopics('mujo', 'bench');
    const ingest = new tree.ingest.MqttImuIngest({
      subscriber: { subscribe: () => () => undefined },
      topics,
      subjectForDevice: (d) => d,
      maxSamplesPerMessage: 1000,
      logger: tree.logger.silentLogger(),
      registry: new Registry(),
      clock: { nowNs: () => nowNs },
    });
    ingest.samples$.subscribe((m) => (sink += m.chunk.tNs.length));
    return (from, to) => {
      for (let c = from; c < to; c++) {
        nowNs = arrivalNs(c);
        const round = messages[c] as Buffer[];
        for (let s = 0; s < round.length; s++) ingest.onMessage(topicOf[s] as string, round[s] as Buffer);
      }
    };
  },
  'clock-map': (tree) => {
    const chunks = (deviceChunkCache ??= deviceChunks());
    const mapper = new tree.mapper.DeviceClockMapper(
      {},
      { clock: fixedClock, onDrift: (_s, ppm) => (sink += ppm > 0 ? 1 : 0) },
    );
    return (from, to) => {
      for (let c = from; c < to; c++)
        for (const chunk of chunks[c] as ImuChunk[]) sink += mapper.map(chunk, true, arrivalNs(c)).tNs.length;
    };
  },
  resample: (tree) => {
    const input = new Subject<SampleChunk>();
    input.pipe(tree.resample.resampleToGrid({ rateHz: RATE })).subscribe((g) => (sink += g.count));
    const chunks = gatewayChunks();
    return (from, to) => {
      for (let c = from; c < to; c++) for (const chunk of chunks[c] as ImuChunk[]) input.next(chunk);
    };
  },
  'resample+window': (tree) => {
    const input = new Subject<SampleChunk>();
    input
      .pipe(
        tree.resample.resampleToGrid({ rateHz: RATE }),
        tree.window.slidingWindows(encoder, { clock: fixedClock }),
      )
      .subscribe((w) => (sink += w.input.length));
    const chunks = gatewayChunks();
    return (from, to) => {
      for (let c = from; c < to; c++) for (const chunk of chunks[c] as ImuChunk[]) input.next(chunk);
    };
  },
  reps: (tree) => {
    const service = new tree.reps.RepService({ gateway: 'bench' }, { clock: fixedClock });
    service.events$.subscribe((e) => (sink += e.kind === 'rep' ? 1 : 0));
    for (let s = 0; s < streams; s++)
      service.onActivity({
        v: 1,
        gateway: 'bench',
        subject: subjectIds[s] as string,
        transition: 'started',
        activity: 'squat',
        activityName: 'Squat',
        confidence: 1,
        topK: [],
        start: new Date(T0_NS / 1e6).toISOString(),
        startNs: T0_NS,
        model: 'bench',
        modelVersion: '0',
        latencyMs: 0,
        seq: s,
        modalities: ['imu'],
        sources: [streamIds[s] as string],
      });
    const chunks = gatewayChunks();
    return (from, to) => {
      for (let c = from; c < to; c++) for (const chunk of chunks[c] as ImuChunk[]) service.push(chunk);
    };
  },
  'mqtt-dispatch': (tree) => {
    // The sink's subscriptions while ingest is on: the ingest filter and the request filter.
    const topics = tree.topics.mqttTopics('mujo', 'bench');
    const filters = [topics.requestFilter, topics.ingestImuFilter];
    const compile =
      (tree.sink as { topicFilterMatcher?: (f: string) => (t: string) => boolean }).topicFilterMatcher ??
      ((f: string) => (t: string) => tree.sink.topicMatches(f, t));
    const matchers = filters.map(compile);
    return (from, to) => {
      for (let c = from; c < to; c++)
        for (const topic of topicOf) for (const m of matchers) if (m(topic)) sink += PER_CHUNK;
    };
  },
};

// --- measuring ----------------------------------------------------------------------------

let gcMs = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
});
gcObserver.observe({ entryTypes: ['gc'] });
const settle = () => new Promise((r) => setTimeout(r, 20));

const session = new Session();
session.connect();
await session.post('HeapProfiler.enable');

interface SamplingNode {
  selfSize: number;
  children: SamplingNode[];
}
function totalBytes(node: SamplingNode): number {
  let sum = node.selfSize;
  for (const child of node.children) sum += totalBytes(child);
  return sum;
}

interface Measure {
  /** CPU time per sample (process user + system). */
  cpuNsPerSample: number;
  /** Wall time per sample. */
  nsPerSample: number;
  bytesPerSample: number;
  gcShare: number;
}

async function measure(stage: Stage, tree: Tree): Promise<Measure> {
  // Two instances, each fed the first half of the input to warm state and JIT up; one runs the
  // second half timed, the other with the allocation sampler on.
  const timed = stage(tree);
  const sampled = stage(tree);
  timed(0, chunkCount);
  sampled(0, chunkCount);
  await settle();
  const gcBefore = gcMs;
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  timed(chunkCount, inputChunks);
  const cpu = process.cpuUsage(cpuStart);
  const ns = Number(process.hrtime.bigint() - start);
  // CPU time of the process (this thread and V8's GC helpers): on a shared machine the wall
  // time also counts the time other processes held the cores.
  const cpuNs = (cpu.user + cpu.system) * 1e3;
  await settle();
  const gcShare = (gcMs - gcBefore) / (ns / 1e6);
  // Allocation pass: the same work again, every allocation sampled (also those already collected).
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  sampled(chunkCount, inputChunks);
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as {
    profile: { head: SamplingNode };
  };
  if (topSites > 0) printTopSites(profile.head, tree.label);
  return {
    cpuNsPerSample: cpuNs / samplesPerPass,
    nsPerSample: ns / samplesPerPass,
    bytesPerSample: totalBytes(profile.head) / samplesPerPass,
    gcShare,
  };
}

interface SiteNode extends SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  children: SiteNode[];
}
/** The functions that allocated most (self), in bytes per sample: where to look next. */
function printTopSites(head: SamplingNode, label: string): void {
  const sites = new Map<string, number>();
  const walk = (n: SiteNode): void => {
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(gateway|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    sites.set(key, (sites.get(key) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c);
  };
  walk(head as SiteNode);
  const top = [...sites].sort((a, b) => b[1] - a[1]).slice(0, topSites);
  console.log(
    `  ${label}: ${top.map(([k, b]) => `${(b / samplesPerPass).toFixed(1)} B ${k}`).join('\n    ')}`,
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const cell = (xs: number[], digits: number) =>
  xs.length === 1
    ? xs[0]!.toFixed(digits)
    : `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

const stageNames = args.stages ? args.stages.split(',') : Object.keys(STAGES);
for (const name of stageNames)
  if (!STAGES[name]) throw new Error(`--stages: "${name}" unknown; use ${Object.keys(STAGES).join(', ')}`);
const trees: Tree[] = [];
let beforeDir: string | undefined;
if (args.before) {
  beforeDir = extractRef(args.before);
  trees.push(await loadTree(`before (${args.before})`, beforeDir));
}
trees.push(await loadTree('after (working tree)', REPO));

const load = os.loadavg().map((l) => l.toFixed(2));
console.log(
  `${streams} streams × ${seconds} s × ${RATE} Hz = ${samplesPerPass} samples per pass, ${repeats} repeat(s); load average ${load.join(' ')}`,
);
const results: Record<string, Record<string, Measure[]>> = {};
for (let r = 0; r < repeats; r++) {
  const order = r % 2 === 0 ? trees : [...trees].reverse();
  for (const name of stageNames) {
    for (const tree of order) {
      if (topSites > 0) console.log(name);
      const m = await measure(STAGES[name] as Stage, tree);
      ((results[name] ??= {})[tree.label] ??= []).push(m);
    }
  }
  console.log(`repeat ${r + 1}/${repeats} done`);
}
const loadAfter = os.loadavg().map((l) => l.toFixed(2));

const rows = stageNames.map((name) => {
  const row: Record<string, string> = { stage: name };
  for (const tree of trees) {
    const ms = results[name]?.[tree.label] ?? [];
    const short = tree === trees[0] && trees.length > 1 ? 'before' : 'after';
    row[`${short} CPU ns/sample`] = cell(
      ms.map((m) => m.cpuNsPerSample),
      0,
    );
    row[`${short} B/sample`] = cell(
      ms.map((m) => m.bytesPerSample),
      0,
    );
  }
  return row;
});
console.table(rows);
console.log(`load average before ${load.join(' ')}, after ${loadAfter.join(' ')}`);
writeFileSync(
  args.out,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      loadAverage: { before: load, after: loadAfter },
      note: `one thread; ${streams} × ${RATE} Hz IMU streams, ${PER_CHUNK} samples per chunk, ${seconds} s of data per pass; B/sample: V8 sampling heap profiler including collected objects`,
      before: args.before ?? null,
      rows,
      raw: results,
    },
    null,
    2,
  ) + '\n',
);
session.disconnect();
gcObserver.disconnect();
if (beforeDir) rmSync(beforeDir, { recursive: true, force: true });
console.log(`sink ${sink > 0 ? 'ok' : 'empty'}; wrote ${args.out}`);
