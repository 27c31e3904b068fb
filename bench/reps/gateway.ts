/**
 * Repetition counting through the whole gateway, activity recognised by the bundled model
 * (not given): the held-out subjects' rep sets (subjects 2, 4, 6, 8 — the model's test
 * subjects too) replayed through GatewayApp, IMU + pose, IMU only and pose only. A rep event
 * belongs to the set whose span (1 s before its first rep to 3 s after its last) holds its
 * time, whatever activity the model named; a set's count is the number of rep events in it.
 * Sets the model does not recognise as a repetitive activity count 0 — that error is in the
 * figures. Prints a table and writes gateway.json next to this file.
 *
 *   python3 -m encoders make-rep-sets --out /tmp/rep-test-sets --subjects 2,4,6,8 --datasets "$MUJO_DATASETS"
 *   node --import tsx bench/reps/gateway.ts --sets /tmp/rep-test-sets [--speed 20]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { firstValueFrom } from 'rxjs';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import type { RepsEvent } from '../../gateway/domain/events.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import type { GroundTruthSet } from './evaluate.ts';

const { values: args } = parseArgs({
  options: {
    sets: { type: 'string' },
    speed: { type: 'string', default: '20' },
    out: { type: 'string', default: dirname(fileURLToPath(import.meta.url)) },
  },
});
if (!args.sets) {
  console.error('usage: node --import tsx bench/reps/gateway.ts --sets DIR [--speed 20]');
  process.exit(2);
}
const dir = args.sets;
const truth = (JSON.parse(readFileSync(join(dir, 'sets.json'), 'utf8')) as { sets: GroundTruthSet[] }).sets;

interface SetScore {
  readonly subject: string;
  readonly activity: string;
  readonly variant: string;
  readonly count: number;
  readonly counted: number;
  /** Activities the rep events in this set were counted under. */
  readonly as: readonly string[];
}

async function run(withoutModalities: ('imu' | 'pose')[]): Promise<SetScore[]> {
  const work = mkdtempSync(join(tmpdir(), 'mujo-reps-gw-'));
  const app = new GatewayApp(
    validateConfig({
      gateway: { id: 'reps-bench' },
      mqtt: { embeddedPort: 0, queue: { spoolDir: join(work, 'spool') } },
      http: { enabled: false },
      ingest: { enabled: false },
      replay: { path: dir, speed: Number(args.speed), loop: false, withoutModalities },
      log: { level: 'silent' },
    }),
    { logger: silentLogger() },
  );
  const reps: RepsEvent[] = [];
  app.reps$.subscribe((e) => {
    if (e.kind === 'rep') reps.push(e);
  });
  try {
    await app.start();
    const replay = app.replaySource;
    if (!replay) throw new Error('no replay');
    await firstValueFrom(replay.done$);
    await app.stop();
    const origin = (replay.labels(0)[0]?.startNs ?? 0) - (replay.recording.labels[0]?.startNs ?? 0);
    return truth.map((t) => {
      const inSet = reps.filter(
        (r) =>
          r.subject === t.subject &&
          r.timeNs >= origin + t.startNs - 1e9 &&
          r.timeNs < origin + t.endNs + 3e9,
      );
      return {
        subject: t.subject,
        activity: t.activity,
        variant: t.variant,
        count: t.count,
        counted: inSet.length,
        as: [...new Set(inSet.map((r) => r.activity))],
      };
    });
  } finally {
    await app.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function summary(scores: readonly SetScore[]) {
  const n = scores.length;
  const err = scores.map((s) => s.counted - s.count);
  return {
    sets: n,
    mae: err.reduce((a, e) => a + Math.abs(e), 0) / n,
    within1: err.filter((e) => Math.abs(e) <= 1).length / n,
    exact: err.filter((e) => e === 0).length / n,
    countedAsTrueActivity: scores.filter((s) => s.as.length === 1 && s.as[0] === s.activity).length / n,
  };
}

const runs: Record<string, SetScore[]> = {};
for (const [name, without] of [
  ['IMU + pose', []],
  ['IMU only', ['pose']],
  ['pose only', ['imu']],
] as const) {
  runs[name] = await run([...without]);
}
const activities = [...new Set(truth.map((t) => t.activity))].sort();
const pct = (x: number): string => `${(100 * x).toFixed(0)} %`;
const lines = [
  '| modality (activity from the model) | sets | MAE | within ±1 | exact | sets counted as their true activity | ' +
    activities.map((a) => `${a} MAE / ±1`).join(' | ') +
    ' |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ' + activities.map(() => '---:').join(' | ') + ' |',
];
const results: Record<string, unknown> = {};
for (const [name, scores] of Object.entries(runs)) {
  const s = summary(scores);
  const per = activities.map((a) => summary(scores.filter((x) => x.activity === a)));
  results[name] = {
    ...s,
    perActivity: Object.fromEntries(activities.map((a, i) => [a, per[i]])),
    sets: scores,
  };
  lines.push(
    `| ${name} | ${s.sets} | ${s.mae.toFixed(2)} | ${pct(s.within1)} | ${pct(s.exact)} | ${pct(s.countedAsTrueActivity)} | ` +
      per.map((p) => `${p.mae.toFixed(2)} / ${pct(p.within1)}`).join(' | ') +
      ' |',
  );
}
console.log(lines.join('\n'));
writeFileSync(
  join(args.out, 'gateway.json'),
  JSON.stringify(
    { generated: new Date().toISOString(), speed: Number(args.speed), table: lines, results },
    null,
    1,
  ) + '\n',
);
