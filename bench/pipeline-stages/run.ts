/**
 * Throughput of the synchronous front of the pipeline (resample → window) and of repetition
 * counting (every subject in a repetitive activity; `windows` = reps counted) for many 50 Hz
 * IMU streams, in windows/s and samples/s of one core. Not a test: prints a table and writes
 * results.json next to this file.
 *
 *   node --import tsx bench/pipeline-stages/run.ts [streams=1000] [seconds=60]
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Subject } from 'rxjs';
import type { ImuChunk, SampleChunk } from '../../gateway/domain/samples.ts';
import { resampleToGrid } from '../../gateway/pipeline/stages/resample.ts';
import { slidingWindows } from '../../gateway/pipeline/stages/window.ts';
import { RepService } from '../../gateway/pipeline/reps/rep-service.ts';

const streams = Number(process.argv[2] ?? 1000);
const seconds = Number(process.argv[3] ?? 60);
const RATE = 50;
const PER_CHUNK = 10; // a BLE notification train every 200 ms
const encoder = {
  name: 'imu',
  modality: 'imu' as const,
  sampleRateHz: 50,
  windowSamples: 100,
  hopSamples: 25,
};
const clock = { nowNs: () => 0 };
const t0 = Date.UTC(2026, 0, 1) * 1e6 + 3_141_592;

// One source's chunks; every stream replays them under its own id (with its own phase offset
// so their device timestamps never sit exactly on the grid).
const template: { tNs: Float64Array; values: Float32Array }[] = [];
for (let c = 0; c < (seconds * RATE) / PER_CHUNK; c++) {
  const tNs = new Float64Array(PER_CHUNK);
  const values = new Float32Array(PER_CHUNK * 6);
  for (let i = 0; i < PER_CHUNK; i++) {
    const k = c * PER_CHUNK + i;
    tNs[i] = t0 + k * 20e6 + ((k * 7919) % 13) * 1e5;
    for (let ch = 0; ch < 6; ch++) values[i * 6 + ch] = Math.sin(k * 0.05 + ch);
  }
  template.push({ tNs, values });
}
const chunks: ImuChunk[][] = template.map(({ tNs, values }) =>
  Array.from({ length: streams }, (_, s) => ({
    modality: 'imu' as const,
    sourceId: `imu-${s}`,
    subjectId: `s${s}`,
    tNs,
    values,
  })),
);

function measure(name: string, withWindows: boolean): Record<string, number | string> {
  const input = new Subject<SampleChunk>();
  let gridSamples = 0;
  let windows = 0;
  const resampled = input.pipe(resampleToGrid({ rateHz: RATE }));
  if (withWindows) resampled.pipe(slidingWindows(encoder, { clock })).subscribe(() => windows++);
  else resampled.subscribe((g) => (gridSamples += g.count));
  const rssBefore = process.memoryUsage().rss;
  const start = process.hrtime.bigint();
  for (const round of chunks) for (const chunk of round) input.next(chunk);
  const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;
  input.complete();
  const samples = streams * seconds * RATE;
  return {
    stage: name,
    streams,
    dataSeconds: seconds,
    wallSeconds: +elapsedS.toFixed(3),
    samplesPerS: Math.round(samples / elapsedS),
    windows,
    windowsPerS: Math.round(windows / elapsedS),
    realtimeFactor: +(seconds / elapsedS).toFixed(1),
    rssDeltaMB: +((process.memoryUsage().rss - rssBefore) / 2 ** 20).toFixed(1),
    ...(withWindows ? {} : { gridSamples }),
  };
}

/** Repetition counting (RepService), every subject in a repetitive activity the whole time: the worst case. */
function measureReps(): Record<string, number | string> {
  const service = new RepService({ gateway: 'bench' }, { clock });
  let reps = 0;
  service.events$.subscribe((e) => (reps += e.kind === 'rep' ? 1 : 0));
  for (let s = 0; s < streams; s++) {
    service.onActivity({
      v: 1,
      gateway: 'bench',
      subject: `s${s}`,
      transition: 'started',
      activity: 'squat',
      activityName: 'Squat',
      confidence: 1,
      topK: [],
      start: new Date(t0 / 1e6).toISOString(),
      startNs: t0,
      model: 'bench',
      modelVersion: '0',
      latencyMs: 0,
      seq: s,
      modalities: ['imu'],
      sources: [`imu-${s}`],
    });
  }
  const rssBefore = process.memoryUsage().rss;
  const start = process.hrtime.bigint();
  for (const round of chunks) for (const chunk of round) service.push(chunk);
  const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;
  service.complete();
  return {
    stage: 'reps (all subjects counting)',
    streams,
    dataSeconds: seconds,
    wallSeconds: +elapsedS.toFixed(3),
    samplesPerS: Math.round((streams * seconds * RATE) / elapsedS),
    windows: reps,
    windowsPerS: 0,
    realtimeFactor: +(seconds / elapsedS).toFixed(1),
    rssDeltaMB: +((process.memoryUsage().rss - rssBefore) / 2 ** 20).toFixed(1),
    coreShare: +(elapsedS / seconds).toFixed(3),
    usPerStreamSecond: +((elapsedS * 1e6) / streams / seconds).toFixed(1),
  };
}

measure('warm-up', true);
const rows = [measure('resample', false), measure('resample+window', true), measureReps()];
console.table(rows.map(({ gridSamples: _g, ...r }) => r));
const result = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  note: 'single thread; 50 Hz IMU streams, 10 samples per chunk, windows of 100 samples every 25',
  rows,
};
writeFileSync(new URL('./results.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
