/*
 * How long teaching the gateway a class takes on this machine: the bundled model, the demo
 * recording replayed in real time (speed 1, as live sensors), MQTT on the embedded broker.
 *
 *   node --import tsx bench/enrollment/run.ts [--trials 3] [--seconds 5] [--out bench/enrollment/results.json]
 *
 * - live: "the next N s of subject s2 are class C" (enrollment.enroll in-process, as MQTT and
 *   REST call it). Collecting is the interval itself (N s of data); what the machine adds is
 *   build (prototypes + new version on disk) and load (manifest, hashes, swap; encoder
 *   sessions are shared), and request → serving minus the interval.
 * - recording: one class from k = 3 labelled intervals of recordings/demo (s2's first three
 *   of one activity): cold (recording parsed) and warm (parsed recording reused).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { loadRecording } from '../../gateway/sources/replay/recording.ts';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const trials = Number(arg('trials', '3'));
const seconds = Number(arg('seconds', '5'));
const out = arg('out', 'bench/enrollment/results.json');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const round = (x: number): number => Math.round(x);

const work = await mkdtemp(join(tmpdir(), 'mujo-bench-enroll-'));
const config = validateConfig({
  gateway: { id: 'bench' },
  mqtt: { embeddedPort: 0, queue: { spoolDir: join(work, 'spool') } },
  http: { enabled: false },
  ingest: { enabled: false },
  replay: { path: 'recordings/demo', speed: 1, loop: true },
  enrollment: { storeDir: join(work, 'models') },
  log: { level: 'silent' },
});
const app = new GatewayApp(config, { logger: silentLogger() });
await app.start();
// Let s2 produce windows first.
await new Promise<void>((resolve) => {
  const sub = app.embeddings$.subscribe((e) => {
    if (e.window.subjectId === 's2') {
      sub.unsubscribe();
      resolve();
    }
  });
});

const live: { requestToServingMs: number; collectMs: number; buildMs: number; loadMs: number }[] = [];
for (let i = 0; i < trials; i++) {
  const started = performance.now();
  const result = await app.enrollment.enroll({ subject: 's2', class: `live_${i}`, seconds });
  live.push({
    requestToServingMs: round(performance.now() - started),
    collectMs: round(result.timings.collectMs),
    buildMs: round(result.timings.buildMs),
    loadMs: round(result.timings.loadMs),
  });
  console.log(`live ${i}: ${JSON.stringify(live.at(-1))}`);
}

const recording = await loadRecording('recordings/demo');
const activity = recording.labels.find((l) => l.subject === 's2')!.activity;
const intervals = recording.labels
  .filter((l) => l.subject === 's2' && l.activity === activity)
  .slice(0, 3)
  .map((l) => ({ subject: l.subject, startS: l.startNs / 1e9, endS: l.endNs / 1e9 }));
const fromRecording: {
  cache: string;
  requestToServingMs: number;
  collectMs: number;
  buildMs: number;
  loadMs: number;
}[] = [];
for (let i = 0; i < trials; i++) {
  const started = performance.now();
  const result = await app.enrollment.enroll({
    recording: 'recordings/demo',
    class: `rec_${i}`,
    intervals,
  });
  fromRecording.push({
    cache: i === 0 ? 'cold' : 'warm',
    requestToServingMs: round(performance.now() - started),
    collectMs: round(result.timings.collectMs),
    buildMs: round(result.timings.buildMs),
    loadMs: round(result.timings.loadMs),
  });
  console.log(`recording ${i}: ${JSON.stringify(fromRecording.at(-1))}`);
}
await app.stop();
await rm(work, { recursive: true, force: true });

const results = {
  benchmark: 'enrollment',
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
  note: `bundled model, demo replay at speed 1; live = ${seconds} s of s2; recording = k=3 intervals of '${activity}' (s2); machine shared with other jobs unless loadAverage says otherwise`,
  live: { trials: live, medianOverheadMs: median(live.map((t) => t.requestToServingMs - seconds * 1000)) },
  recording: {
    trials: fromRecording,
    coldMs: fromRecording[0]?.requestToServingMs,
    warmMedianMs:
      fromRecording.length > 1 ? median(fromRecording.slice(1).map((t) => t.requestToServingMs)) : null,
  },
};
await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify({ live: results.live.medianOverheadMs, recording: results.recording }, null, 2));
