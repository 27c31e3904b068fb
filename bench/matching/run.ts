/**
 * Automatic wearable ↔ camera-track matching, evaluated on multi-person scenes composed from
 * UTD-MHAD (the demo recording: test subjects 2, 4, 6, 8, each with their real Kinect
 * skeleton projected to COCO-17 and their real wrist IMU of the same takes). Each scene
 * places 2-4 of them side by side in one camera view for 60 s, starting at several points
 * of the recording, and plays pose (as camera tracks, delayed by a camera latency) and IMU
 * into the matcher with the config defaults. Not a test: prints a table and writes
 * results.json next to this file.
 *
 *   node --import tsx bench/matching/run.ts [--duration 60] [--starts 5,65,125,185,245] [--out DIR]
 *
 * Time to lock: scene start → the hop from which every wearer's track carries their
 * subject (and keeps it to the end of the scene). Accuracy: (track, hop) slots whose
 * assignment is right (a distractor without a wearable is right when unassigned) over all
 * slots, the warm-up included; "after lock" counts only assigned slots from the lock on.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Value } from '@sinclair/typebox/value';
import { MatchingSection } from '../../gateway/sources/camera/options.ts';
import type { MatcherOptions } from '../../gateway/sources/camera/matching.ts';
import { simulateMatching, type SimOptions, type SimResult } from '../../test/helpers/matching-sim.ts';
import { composeScene, loadDemo } from '../../test/helpers/pose-scene.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    starts: { type: 'string', default: '5,65,125,185,245' },
    out: { type: 'string', default: dirname(fileURLToPath(import.meta.url)) },
  },
});
const durationS = Number(args.duration);
const starts = args.starts.split(',').map(Number);

const defaults = Value.Default(MatchingSection, {}) as MatcherOptions & { enabled: boolean };

function combinations<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items as [T, ...T[]];
  return [...combinations(rest, k - 1).map((c) => [first, ...c]), ...combinations(rest, k)];
}

interface Scenario {
  readonly name: string;
  readonly people: number;
  readonly combos: string[][];
  readonly sim: (combo: string[]) => Partial<SimOptions>;
  readonly options?: Partial<MatcherOptions>;
}

const ALL = ['s2', 's4', 's6', 's8'];
const scenarios: Scenario[] = [
  { name: '2 people, both wearing', people: 2, combos: combinations(ALL, 2), sim: () => ({}) },
  { name: '3 people, all wearing', people: 3, combos: combinations(ALL, 3), sim: () => ({}) },
  { name: '4 people, all wearing', people: 4, combos: [ALL], sim: () => ({}) },
  {
    name: '4 people, one without wearable',
    people: 4,
    combos: ALL.map((x) => [...ALL.filter((y) => y !== x), x]),
    sim: (c) => ({ withoutWearable: [c.at(-1)!] }),
  },
  {
    name: '3 in view + 1 wearer out of view',
    people: 3,
    combos: ALL.map((x) => [...ALL.filter((y) => y !== x), x]),
    sim: (c) => ({ outOfView: [c.at(-1)!] }),
  },
  { name: '4 people, camera 250 ms late', people: 4, combos: [ALL], sim: () => ({ cameraLatencyS: 0.25 }) },
  {
    name: '4 people, pose acceleration feature',
    people: 4,
    combos: [ALL],
    sim: () => ({}),
    options: { poseFeature: 'acceleration' },
  },
  { name: '4 people, 8 s window', people: 4, combos: [ALL], sim: () => ({}), options: { windowS: 8 } },
];

interface Row {
  scenario: string;
  people: number;
  scenes: number;
  lockMedianS: number | null;
  lockP90S: number | null;
  lockMaxS: number | null;
  neverLocked: number;
  accuracy: number;
  wrong: number;
  unassigned: number;
  accuracyAfterLock: number;
  perTrackLockMedianS: number | null;
  changesPerScene: number;
}

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const rec = await loadDemo();
const started = performance.now();
const rows: Row[] = [];
for (const sc of scenarios) {
  const results: SimResult[] = [];
  for (const combo of sc.combos)
    for (const startS of starts) {
      const scene = composeScene(rec, combo);
      results.push(
        simulateMatching(
          scene,
          { ...defaults, ...sc.options },
          { startS, durationS, cameraLatencyS: 0.1, ...sc.sim(combo) },
        ),
      );
    }
  const locks = results
    .map((r) => r.timeToLockS)
    .filter((x): x is number => x !== null)
    .sort((a, b) => a - b);
  const perTrack = results
    .flatMap((r) => Object.values(r.perTrackLockS).filter((x): x is number => x !== null))
    .sort((a, b) => a - b);
  const sum = (f: (r: SimResult) => number) => results.reduce((s, r) => s + f(r), 0);
  const slots = sum((r) => r.slots);
  rows.push({
    scenario: sc.name,
    people: sc.people,
    scenes: results.length,
    lockMedianS: quantile(locks, 0.5),
    lockP90S: quantile(locks, 0.9),
    lockMaxS: locks.at(-1) ?? null,
    neverLocked: results.length - locks.length,
    accuracy: sum((r) => r.correct) / slots,
    wrong: sum((r) => r.wrong) / slots,
    unassigned: sum((r) => r.unassigned) / slots,
    accuracyAfterLock:
      sum((r) => r.correctAfterLock) /
      Math.max(
        1,
        sum((r) => r.slotsAfterLock),
      ),
    perTrackLockMedianS: quantile(perTrack, 0.5),
    changesPerScene: sum((r) => r.changes) / results.length,
  });
}
const elapsedS = (performance.now() - started) / 1000;

const f1 = (x: number | null) => (x === null ? '—' : x.toFixed(1));
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const header =
  '| scenario | scenes | lock median s | lock p90 s | lock max s | never locked | accuracy (all hops) | wrong | unassigned | accuracy after lock | per-track lock median s |';
const sep = '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
const lines = rows.map(
  (r) =>
    `| ${r.scenario} | ${r.scenes} | ${f1(r.lockMedianS)} | ${f1(r.lockP90S)} | ${f1(r.lockMaxS)} | ${r.neverLocked} | ${pct(r.accuracy)} | ${pct(r.wrong)} | ${pct(r.unassigned)} | ${pct(r.accuracyAfterLock)} | ${f1(r.perTrackLockMedianS)} |`,
);
console.log([header, sep, ...lines].join('\n'));
console.log(
  `\n${rows.reduce((s, r) => s + r.scenes, 0)} scenes of ${durationS} s in ${elapsedS.toFixed(1)} s; matcher: ${JSON.stringify(defaults)}`,
);

const out = join(args.out, 'results.json');
writeFileSync(
  out,
  JSON.stringify(
    {
      bench: 'matching',
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', node: process.version },
      data: 'recordings/demo (UTD-MHAD test subjects 2, 4, 6, 8: real skeleton projected to COCO-17 + real wrist IMU)',
      sceneS: durationS,
      startsS: starts,
      cameraLatencyS: 0.1,
      matcher: defaults,
      rows,
    },
    null,
    2,
  ) + '\n',
);
console.log(`wrote ${relative(process.cwd(), out)}`);
