/**
 * Runs the set counter over rep sets with a known count (a recording + sets.json made by
 * `python3 -m encoders make-rep-sets`, or the bundled test/fixtures/rep-sets) and scores it.
 * Shared by bench/reps/run.ts and test/unit/reps/rep-sets.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRecording, type Recording } from '../../gateway/sources/replay/recording.ts';
import {
  SetCounter,
  type CountedRep,
  type SetCounterParams,
} from '../../gateway/pipeline/reps/set-counter.ts';
import { repSettingsFor, type RepActivityOverride } from '../../gateway/pipeline/reps/settings.ts';

export interface GroundTruthSet {
  readonly subject: string;
  readonly activity: string;
  readonly variant: string;
  readonly count: number;
  readonly startNs: number;
  readonly endNs: number;
  readonly repEndsNs: readonly number[];
}

export interface RepSets {
  readonly recording: Recording;
  readonly sets: readonly GroundTruthSet[];
}

export async function loadRepSets(dir: string): Promise<RepSets> {
  const recording = await loadRecording(dir);
  const raw = JSON.parse(readFileSync(join(dir, 'sets.json'), 'utf8')) as { sets: GroundTruthSet[] };
  return { recording, sets: raw.sets };
}

export type ModalityChoice = 'imu' | 'pose' | 'both';

export interface SetResult {
  readonly set: GroundTruthSet;
  readonly counted: number;
  readonly error: number;
  readonly reps: readonly CountedRep[];
  /** Per matched rep (k-th counted ↔ k-th true, only when the count is exact): counted time − rep end, s. */
  readonly delaysS: readonly number[];
}

/** Data before the set's first rep and after its last that the counter also sees (a real set has rest around it), s. */
const LEAD_S = 1;
const TAIL_S = 3;

function slice(data: { tNs: Float64Array; values: Float32Array }, width: number, from: number, to: number) {
  let a = 0;
  while (a < data.tNs.length && (data.tNs[a] as number) < from) a++;
  let b = a;
  while (b < data.tNs.length && (data.tNs[b] as number) < to) b++;
  return { tNs: data.tNs.subarray(a, b), values: data.values.subarray(a * width, b * width) };
}

/** Chunks of ~`chunkS` per stream, interleaved in time: what the gateway sees live. */
export function runSet(
  rs: RepSets,
  set: GroundTruthSet,
  modality: ModalityChoice,
  params: Partial<SetCounterParams> = {},
  override: RepActivityOverride = {},
  chunkS = 0.2,
): SetResult {
  const settings = repSettingsFor(set.activity, { [set.activity]: { repetitive: true, ...override } });
  const counter = new SetCounter(settings, params);
  const track = set.subject.replace(/^s/, '');
  const imuStream = rs.recording.streams.find((s) => s.modality === 'imu' && s.subjectId === set.subject);
  const poseStream = rs.recording.streams.find(
    (s) => s.modality === 'pose' && s.sourceId.endsWith(`/${track}`),
  );
  const from = set.startNs - LEAD_S * 1e9;
  const to = set.endNs + TAIL_S * 1e9;
  const imu = modality !== 'pose' && imuStream ? slice(imuStream.data, 6, from, to) : null;
  const pose = modality !== 'imu' && poseStream ? slice(poseStream.data, 51, from, to) : null;
  const reps: CountedRep[] = [];
  let i = 0;
  let p = 0;
  for (let t = from; t < to; t += chunkS * 1e9) {
    const end = t + chunkS * 1e9;
    if (imu) {
      let j = i;
      while (j < imu.tNs.length && (imu.tNs[j] as number) < end) j++;
      if (j > i) reps.push(...counter.pushImu(imu.tNs.subarray(i, j), imu.values.subarray(i * 6, j * 6)));
      i = j;
    }
    if (pose) {
      let j = p;
      while (j < pose.tNs.length && (pose.tNs[j] as number) < end) j++;
      if (j > p)
        reps.push(...counter.pushPose(pose.tNs.subarray(p, j), pose.values.subarray(p * 51, j * 51)));
      p = j;
    }
  }
  const counted = reps.length;
  const delaysS =
    counted === set.count ? reps.map((r, k) => (r.tNs - (set.repEndsNs[k] as number)) / 1e9) : [];
  return { set, counted, error: counted - set.count, reps, delaysS };
}

export interface Score {
  readonly sets: number;
  readonly mae: number;
  readonly within1: number;
  readonly exact: number;
  readonly delayP50S: number;
  readonly delayP95S: number;
  readonly delayMaxS: number;
  /** Share of matched reps counted more than 1 s after their end. */
  readonly lateOver1s: number;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

export function score(results: readonly SetResult[]): Score {
  const n = results.length;
  const delays = results.flatMap((r) => r.delaysS).sort((a, b) => a - b);
  return {
    sets: n,
    mae: n ? results.reduce((s, r) => s + Math.abs(r.error), 0) / n : NaN,
    within1: n ? results.filter((r) => Math.abs(r.error) <= 1).length / n : NaN,
    exact: n ? results.filter((r) => r.error === 0).length / n : NaN,
    delayP50S: quantile(delays, 0.5),
    delayP95S: quantile(delays, 0.95),
    delayMaxS: delays.length ? (delays[delays.length - 1] as number) : NaN,
    lateOver1s: delays.length ? delays.filter((d) => d > 1).length / delays.length : NaN,
  };
}
