/**
 * What inference costs the gateway's main thread: the real encoders (models/default, IMU)
 * behind batchInference at a steady window rate, with the sessions on the main thread or in
 * the inference worker (model.inferenceThread) and fixed or adaptive batching
 * (pipeline.batching). CPU is read per thread from /proc, so the figures are CPU time per
 * window — comparable on a shared machine, unlike latencies (printed, but indicative only).
 * Not a test: prints a table and writes results.json next to this file.
 *
 *   node --import tsx bench/inference/run.ts [windowsPerS=2000] [seconds=10] [configs=main-fixed,main-adaptive,worker-fixed,worker-adaptive]
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Subject } from 'rxjs';
import { systemClock } from '../../gateway/domain/time.ts';
import type { SensorWindow } from '../../gateway/domain/windows.ts';
import { InferenceThread } from '../../gateway/model/inference-thread.ts';
import { loadModel } from '../../gateway/model/load-model.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { batchInference, type BatchingMode } from '../../gateway/pipeline/inference/batch-inference.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const MODEL = fileURLToPath(new URL('../../models/default', import.meta.url));
const rate = Number(process.argv[2] ?? 2000);
const seconds = Number(process.argv[3] ?? 10);
const configs = (process.argv[4] ?? 'main-fixed,main-adaptive,worker-fixed,worker-adaptive').split(',');
const TICK_MS = 5; // windows arrive in small groups, as staggered hops deliver them
const WARMUP_S = 2;

/** utime + stime of one thread of this process, s (USER_HZ 100). */
function threadCpuS(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
/** CPU of the main thread, of the whole process, and per thread name (V8 helpers, the worker …). */
function cpu(): { main: number; total: number; byName: Map<string, number> } {
  let total = 0;
  const byName = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const s = threadCpuS(Number(tid));
      const name =
        Number(tid) === process.pid ? 'main' : readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      total += s;
      byName.set(name, (byName.get(name) ?? 0) + s);
    } catch {
      // the thread ended between listing and reading
    }
  }
  return { main: byName.get('main') ?? 0, total, byName };
}

interface Row {
  config: string;
  windows: number;
  batches: number;
  meanBatch: number;
  mainCpuUsPerWindow: number;
  totalCpuUsPerWindow: number;
  mainCpuPctOfCore: number;
  totalCpuPctOfCore: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** CPU % of one core per thread name, over the measurement. */
  threads: Record<string, number>;
}

async function measure(config: string): Promise<Row> {
  const [where, mode] = config.split('-') as ['main' | 'worker', BatchingMode];
  const thread = where === 'worker' ? new InferenceThread({ logger: silentLogger() }) : undefined;
  const model = await loadModel(MODEL, {
    providers: ['cpu'],
    intraOpThreads: 1,
    logger: silentLogger(),
    thread,
  });
  const imu = model.encoder('imu')!;
  const input = new Subject<SensorWindow>();
  let windows = 0;
  let batches = 0;
  let measuring = false;
  const latencies: number[] = [];
  const done = new Promise<void>((resolve) =>
    input
      .pipe(
        batchInference([imu], { mode, maxBatch: 32, maxWaitMs: 5, maxInFlight: 2 }, { clock: systemClock }),
      )
      .subscribe({
        next: (e) => {
          if (!measuring) return;
          windows++;
          batches += 1 / e.batchSize; // each window carries its batch's size
          latencies.push((systemClock.nowNs() - e.window.closedAtNs) / 1e6);
        },
        complete: resolve,
      }),
  );
  const values = Float32Array.from({ length: imu.inputSize }, (_, i) => Math.sin(i * 0.1));
  let n = 0;
  const perTick = (rate * TICK_MS) / 1000;
  const timer = setInterval(() => {
    for (let i = 0; i < perTick; i++) {
      const now = systemClock.nowNs();
      input.next({
        subjectId: `p${n % 1000}`,
        sourceId: `imu-${n % 1000}`,
        modality: 'imu',
        encoder: 'imu',
        startNs: now - 2e9,
        endNs: now,
        closedAtNs: now,
        input: values,
      });
      n++;
    }
  }, TICK_MS);
  await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
  measuring = true;
  const before = cpu();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const after = cpu();
  measuring = false;
  clearInterval(timer);
  input.complete();
  await done;
  await model.close();
  await thread?.stop();
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    Math.round((latencies[Math.floor((p / 100) * (latencies.length - 1))] ?? NaN) * 10) / 10;
  const mainS = after.main - before.main;
  const totalS = after.total - before.total;
  return {
    config,
    windows,
    batches: Math.round(batches),
    meanBatch: Math.round((windows / batches) * 10) / 10,
    mainCpuUsPerWindow: Math.round((mainS / windows) * 1e6),
    totalCpuUsPerWindow: Math.round((totalS / windows) * 1e6),
    mainCpuPctOfCore: Math.round((mainS / seconds) * 1000) / 10,
    totalCpuPctOfCore: Math.round((totalS / seconds) * 1000) / 10,
    latencyP50Ms: q(50),
    latencyP99Ms: q(99),
    threads: Object.fromEntries(
      [...after.byName].map(([name, s]) => [
        name,
        Math.round(((s - (before.byName.get(name) ?? 0)) / seconds) * 1000) / 10,
      ]),
    ),
  };
}

const rows: Row[] = [];
console.log(
  `${rate} IMU windows/s, ${seconds} s each, load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const config of configs) {
  const row = await measure(config);
  rows.push(row);
  console.log(JSON.stringify(row));
}
console.table(rows.map(({ threads: _threads, ...row }) => row));
writeFileSync(
  `${HERE}/results.json`,
  JSON.stringify({ rate, seconds, load: os.loadavg(), cores: os.cpus().length, rows }, null, 2),
);
