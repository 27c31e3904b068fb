/**
 * Per-rep latency through the whole gateway, in real time: the bundled rep sets
 * (test/fixtures/rep-sets) replayed at speed 1 through the bundled model, the activity
 * recognised by the model, reps counted and published to a real mosquitto. For every rep:
 * the time its message arrives at an MQTT subscriber minus the end of the rep's clip
 * (ground truth), the k-th rep of an activity paired with its k-th true rep when the counts
 * agree. Reps counted before the activity was announced (the smoother's dwell) are published
 * as soon as it is; they are the late ones. Prints a line and writes live.json here.
 *
 *   node --import tsx bench/reps/live.ts
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstValueFrom } from 'rxjs';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import type { RepsEvent } from '../../gateway/domain/events.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { observe, startMosquitto } from '../../test/helpers/mosquitto.ts';

const FIXTURE = 'test/fixtures/rep-sets';
const here = dirname(fileURLToPath(import.meta.url));
const truth = JSON.parse(readFileSync(join(FIXTURE, 'sets.json'), 'utf8')) as {
  sets: { activity: string; count: number; repEndsNs: number[] }[];
};

const broker = await startMosquitto();
const work = mkdtempSync(join(tmpdir(), 'mujo-reps-live-'));
const listener = await observe(broker.url, ['mujo/live/subjects/+/reps']);
const app = new GatewayApp(
  validateConfig({
    gateway: { id: 'live' },
    mqtt: { url: broker.url, queue: { spoolDir: join(work, 'spool') } },
    http: { enabled: false },
    ingest: { enabled: false },
    replay: { path: FIXTURE, speed: 1, loop: false },
    log: { level: 'silent' },
  }),
  { logger: silentLogger() },
);
const arrivals = new Map<number, number>();
listener.messages.length = 0;
await app.start();
const replay = app.replaySource;
if (!replay) throw new Error('no replay');
const poll = setInterval(() => {
  for (const m of listener.messages) {
    const e = JSON.parse(m.payload.toString()) as RepsEvent;
    if (!arrivals.has(e.seq)) arrivals.set(e.seq, Date.now() * 1e6);
  }
}, 5);
await firstValueFrom(replay.done$);
const origin = (replay.labels(0)[0]?.startNs ?? 0) - (replay.recording.labels[0]?.startNs ?? 0);
await new Promise((r) => setTimeout(r, 500));
clearInterval(poll);
await app.stop();
const events = listener.messages.map((m) => JSON.parse(m.payload.toString()) as RepsEvent);
await listener.close();
await broker.dispose();
rmSync(work, { recursive: true, force: true });

const delays: { activity: string; k: number; delayS: number; countedS: number }[] = [];
const counts: Record<string, { counted: number; truth: number }> = {};
for (const t of truth.sets) {
  const reps = events
    .filter((e) => e.kind === 'rep' && e.activity === t.activity)
    .sort((a, b) => a.timeNs - b.timeNs);
  counts[t.activity] = { counted: reps.length, truth: t.count };
  if (reps.length !== t.count) continue;
  reps.forEach((r, k) => {
    const end = origin + (t.repEndsNs[k] as number);
    const arrived = arrivals.get(r.seq) ?? NaN;
    delays.push({
      activity: t.activity,
      k: k + 1,
      delayS: (arrived - end) / 1e9,
      countedS: (r.timeNs - end) / 1e9,
    });
  });
}
const sorted = delays.map((d) => d.delayS).sort((a, b) => a - b);
const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
const result = {
  generated: new Date().toISOString(),
  command: 'node --import tsx bench/reps/live.ts',
  counts,
  reps: delays.length,
  delayS: { p50: q(0.5), p95: q(0.95), max: sorted.at(-1) ?? NaN },
  withinOneSecond: delays.filter((d) => d.delayS <= 1).length / (delays.length || 1),
  perRep: delays,
};
console.log(JSON.stringify({ ...result, perRep: undefined }, null, 1));
writeFileSync(join(here, 'live.json'), JSON.stringify(result, null, 1) + '\n');
