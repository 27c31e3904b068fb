import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { letterbox, resizeLetterbox } from '../../gateway/sources/camera/image.ts';
import { MoveNetEstimator } from '../../gateway/sources/camera/pose-estimator.ts';
import type { PoseModelName } from '../../gateway/sources/camera/types.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import {
  loadTfjsMoveNet,
  runTfjs,
  tfjsModelPath,
  useBackend,
} from '../../tools/movenet-to-onnx/tfjs-reference.ts';
import { loadPhoto } from '../../test/fixtures/people/photos.ts';

/*
 * bench/pose — not a test. Part 1: ms/frame of each MoveNet variant in onnxruntime-node vs
 * the same weights in TensorFlow.js with the wasm backend, interleaved frame by frame in one
 * run so both see the same machine load. Part 2: 1, 2 and 4 simulated cameras at 15 fps
 * sharing one Lightning session through the full estimator path (640×480 RGB24 → letterbox
 * → ONNX → keypoints), latest-frame-wins per camera, with the process's CPU use.
 *
 *   node --import tsx bench/pose/run.ts [--quick]
 */

const quick = process.argv.includes('--quick');
const ITERATIONS = quick ? 10 : 40;
const STREAM_SECONDS = quick ? 3 : 10;
const THREADS = 2;
const out = join(dirname(fileURLToPath(import.meta.url)), 'results.json');

function stats(ms: number[]): { median: number; p90: number; mean: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: at(0.5), p90: at(0.9), mean: s.reduce((a, b) => a + b, 0) / s.length };
}
const r2 = (v: number) => Math.round(v * 100) / 100;

async function compare(variant: PoseModelName) {
  const onnx = await MoveNetEstimator.create({
    model: variant,
    logger: silentLogger(),
    intraOpThreads: THREADS,
  });
  const size = onnx.inputSize;
  const img = loadPhoto('standing-wall');
  const square = resizeLetterbox(img.data, letterbox(img.width, img.height, size)).map(Math.round);
  const ints = Int32Array.from(square);
  const source = tfjsModelPath(variant);
  const tfjs = existsSync(source) ? await loadTfjsMoveNet(source) : undefined;
  for (let i = 0; i < 5; i++) {
    await onnx.runSquare(square);
    if (tfjs) await runTfjs(tfjs, ints, size);
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    let t = performance.now();
    await onnx.runSquare(square);
    a.push(performance.now() - t);
    if (tfjs) {
      t = performance.now();
      await runTfjs(tfjs, ints, size);
      b.push(performance.now() - t);
    }
  }
  await onnx.close();
  tfjs?.dispose();
  const sa = stats(a);
  const sb = b.length ? stats(b) : undefined;
  return {
    variant,
    inputSize: size,
    onnxMs: { median: r2(sa.median), p90: r2(sa.p90) },
    tfjsWasmMs: sb ? { median: r2(sb.median), p90: r2(sb.p90) } : null,
    speedup: sb ? r2(sb.median / sa.median) : null,
  };
}

async function streams(n: number, estimator: MoveNetEstimator) {
  const img = loadPhoto('standing-wall', { width: 640, height: 480 });
  const periodMs = 1000 / 15;
  let processed = 0;
  let dropped = 0;
  const latency: number[] = [];
  const busy = new Array<boolean>(n).fill(false);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const timers: NodeJS.Timeout[] = [];
  const inflight = new Set<Promise<void>>();
  let offered = 0;
  for (let s = 0; s < n; s++) {
    // Cameras are not in phase with each other. A camera makes a frame every period whether or
    // not the timer fires on time (it lags under load), so frames are counted from the clock:
    // the newest is estimated when the camera's previous one is done, the others are dropped.
    const phase = (s * periodMs) / n;
    let seen = -1;
    const tick = () => {
      const newest = Math.floor((performance.now() - t0 - phase) / periodMs);
      if (newest <= seen) return;
      offered += newest - seen;
      if (busy[s]) {
        dropped += newest - seen;
        seen = newest;
        return;
      }
      dropped += newest - seen - 1;
      seen = newest;
      busy[s] = true;
      const arrived = performance.now();
      const p = estimator.estimate(img.data, img.width, img.height).then(() => {
        latency.push(performance.now() - arrived);
        processed++;
        busy[s] = false;
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    };
    timers.push(setInterval(tick, Math.max(1, periodMs / 4)));
  }
  await new Promise((r) => setTimeout(r, STREAM_SECONDS * 1000));
  for (const t of timers) clearInterval(t);
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const done = processed;
  await Promise.all(inflight);
  const cpuCoreFraction = (cpu.user + cpu.system) / 1e6 / wallS;
  const lat = stats(latency);
  return {
    streams: n,
    offeredFps: 15 * n,
    framesOffered: offered,
    processedFps: r2(done / wallS),
    perStreamFps: r2(done / wallS / n),
    dropped,
    latencyMs: { median: r2(lat.median), p90: r2(lat.p90) },
    cpuPercentOfOneCore: Math.round(cpuCoreFraction * 100),
    cpuPercentOfMachine: Math.round((cpuCoreFraction / cpus().length) * 100),
  };
}

await useBackend('wasm');
const load = loadavg();
const comparisons = [];
for (const v of ['lightning', 'thunder', 'multipose'] as PoseModelName[]) comparisons.push(await compare(v));
const estimator = await MoveNetEstimator.create({
  model: 'lightning',
  logger: silentLogger(),
  intraOpThreads: THREADS,
});
await estimator.estimate(loadPhoto('standing-wall', { width: 640, height: 480 }).data, 640, 480);
const throughput = [];
for (const n of [1, 2, 4]) throughput.push(await streams(n, estimator));
await estimator.close();

const results = {
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model ?? 'unknown',
    loadavgAtStart: load.map(r2),
    node: process.version,
  },
  settings: {
    iterations: ITERATIONS,
    onnxIntraOpThreads: THREADS,
    tfjsBackend: 'wasm',
    streamSeconds: STREAM_SECONDS,
    frame: '640×480 RGB24',
  },
  msPerFrame: comparisons,
  streams: throughput,
};
writeFileSync(out, JSON.stringify(results, null, 2) + '\n');

console.log(
  `\nMoveNet ms/frame (median / p90), ${ITERATIONS} frames, onnxruntime ${THREADS} threads vs tfjs-wasm, load avg ${load.map(r2).join(' ')}`,
);
console.log('| model | input | ONNX ms | tfjs-wasm ms | speed-up |');
console.log('| --- | --- | --- | --- | --- |');
for (const c of comparisons) {
  const t = c.tfjsWasmMs ? `${c.tfjsWasmMs.median} / ${c.tfjsWasmMs.p90}` : 'n/a (TFJS source absent)';
  console.log(
    `| ${c.variant} | ${c.inputSize}² | ${c.onnxMs.median} / ${c.onnxMs.p90} | ${t} | ${c.speedup ?? '–'}× |`,
  );
}
console.log(`\nLightning, 640×480 frames at 15 fps per camera, one shared session, ${STREAM_SECONDS} s each`);
console.log(
  '| cameras | offered fps | processed fps | dropped frames | latency ms (median / p90) | CPU % of one core | CPU % of machine |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const s of throughput) {
  console.log(
    `| ${s.streams} | ${s.offeredFps} | ${s.processedFps} | ${s.dropped} of ${s.framesOffered} | ${s.latencyMs.median} / ${s.latencyMs.p90} | ${s.cpuPercentOfOneCore} | ${s.cpuPercentOfMachine} |`,
  );
}
console.log(`\nwrote ${out}`);
