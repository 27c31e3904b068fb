import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtualTimeScheduler } from 'rxjs';
import type { SampleChunk } from '../../../gateway/domain/samples.ts';
import type { Clock, TimeNs } from '../../../gateway/domain/time.ts';
import type { Recorder } from '../../../gateway/sinks/recorder/index.ts';
import { ReplaySource, loadRecording, type Recording } from '../../../gateway/sources/replay/index.ts';

/** Shared by the recorder's unit and integration tests. */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEMO_DIR = join(REPO_ROOT, 'recordings', 'demo');
export const PYTHON = process.env['MUJO_PYTHON'] ?? '/usr/bin/python3';

/** 2026-01-01T00:00:00.000Z on the gateway clock. */
export const ORIGIN_2026_NS: TimeNs = Date.parse('2026-01-01T00:00:00.000Z') * 1e6;

export function fixedClock(nowNs: TimeNs): Clock & { set(t: TimeNs): void } {
  let now = nowNs;
  return { nowNs: () => now, set: (t) => (now = t) };
}

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `mujo-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Every chunk the replay source emits for a recording, played in virtual time from `originNs`. */
export function replayChunks(recording: Recording, originNs: TimeNs): SampleChunk[] {
  const scheduler = new VirtualTimeScheduler();
  const source = new ReplaySource(recording, { scheduler, originNs });
  const chunks: SampleChunk[] = [];
  source.samples$.subscribe((c) => chunks.push(c));
  source.start();
  scheduler.flush();
  return chunks;
}

export async function demoChunks(originNs: TimeNs): Promise<{ recording: Recording; chunks: SampleChunk[] }> {
  const recording = await loadRecording(DEMO_DIR);
  return { recording, chunks: replayChunks(recording, originNs) };
}

/**
 * Feeds chunks as a pipeline would, letting the disk catch up every few chunks (the demo
 * arrives far faster than real time here). Stops feeding once the recorder stops by itself.
 * Returns the rows handed over while it was recording.
 */
export async function feed(recorder: Recorder, chunks: readonly SampleChunk[], every = 50): Promise<number> {
  let rows = 0;
  for (const [i, chunk] of chunks.entries()) {
    if (!recorder.recording) break;
    recorder.write(chunk);
    rows += chunk.tNs.length;
    if (i % every === every - 1) await recorder.flush();
  }
  return rows;
}

export interface PythonStreamComparison {
  readonly rows: number;
  readonly originalRows: number;
  readonly maxValueDiff: number;
  readonly maxTimeDiffNs: number;
}

export interface PythonComparison {
  readonly gateway: string;
  readonly startTime: string;
  readonly devices: Record<
    string,
    PythonStreamComparison & { placement: string; subject: string | null; rateHz: number }
  >;
  readonly tracks: Record<string, PythonStreamComparison & { subject: string | null }>;
  readonly labels: {
    readonly rows: number;
    readonly originalRows: number;
    readonly maxDiffNs: number;
    readonly sameActivities: boolean;
  };
  readonly model: unknown;
}

/**
 * Reads a recording with the trainer's reader (encoders.data.recording.read_recording) and
 * compares every stream with the same stream of `original` as a prefix: recorded rows must
 * equal the original's first rows (a full recording: all of them). Track streams are
 * compared per track because rows of equal time may interleave tracks in any order.
 */
export async function pythonCompare(original: string, recorded: string): Promise<PythonComparison> {
  const script = `
import json, sys
import numpy as np
from encoders.data.recording import read_recording
orig, rec = read_recording(sys.argv[1]), read_recording(sys.argv[2])
def cmp(t0, v0, t1, v1):
    n = len(t1)
    return {"rows": int(n), "originalRows": int(len(t0)),
            "maxValueDiff": float(np.max(np.abs(v1 - v0[:n]))) if n else 0.0,
            "maxTimeDiffNs": int(np.max(np.abs(t1 - t0[:n]))) if n else 0}
out = {"gateway": rec.gateway, "startTime": rec.start_time, "devices": {}, "tracks": {}, "model": rec.model}
for d in rec.devices:
    o = orig.device(d.id)
    out["devices"][d.id] = dict(cmp(o.t_ns, o.values, d.t_ns, d.values), placement=d.placement, subject=d.subject, rateHz=d.rate_hz)
for c in rec.cameras:
    o = next(x for x in orig.cameras if x.id == c.id)
    for track in sorted(set(c.track.tolist())):
        t0, k0 = o.for_track(track)
        t1, k1 = c.for_track(track)
        out["tracks"][f"{c.id}/{track}"] = dict(cmp(t0, k0.astype(np.float64), t1, k1.astype(np.float64)), subject=c.tracks.get(track))
ol = sorted(orig.labels, key=lambda l: (l.start_ns, l.subject))
rl = sorted(rec.labels, key=lambda l: (l.start_ns, l.subject))
n = len(rl)
out["labels"] = {"rows": n, "originalRows": len(ol),
    "maxDiffNs": max([max(abs(a.start_ns - b.start_ns), abs(a.end_ns - b.end_ns)) for a, b in zip(ol, rl)] or [0]),
    "sameActivities": [(a.subject, a.activity) for a in ol[:n]] == [(b.subject, b.activity) for b in rl]}
print(json.dumps(out))
`;
  const stdout = await run(PYTHON, ['-c', script, original, recorded], REPO_ROOT);
  return JSON.parse(stdout) as PythonComparison;
}

export function run(command: string, args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolvePromise(out) : reject(new Error(`${command} exited ${code}: ${err}`)),
    );
  });
}

/** Half the spacing of doubles at `t`: how far a float64 gateway time can be from the integer it stands for. */
export function float64HalfSpacingNs(t: TimeNs): number {
  return 2 ** (Math.floor(Math.log2(t)) - 52) / 2;
}
