import { open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  RECORDING_SCHEMA_FILE,
  recordingJsonProblems,
  type CameraJson,
  type RecordingJson,
  type RecordingSubjectJson,
} from '../../domain/recording-format.ts';
import { nsToIso, type TimeNs } from '../../domain/time.ts';
import { GatewayError } from '../../observability/errors.ts';
import type { Session, TrackState } from './session.ts';
import type { StopReason } from './types.ts';

/**
 * recording.json as the recorder writes it (docs/recording-format.md, format version 1): the
 * shared contract type, with the fields the recorder always fills made required.
 */
export interface RecordingJsonOut extends Omit<
  RecordingJson,
  'description' | 'source' | 'subjects' | 'cameras' | 'labels' | 'model'
> {
  readonly description: string;
  readonly source: {
    readonly recorder: 'mujo-gateway';
    readonly name: string;
    /** Null while recording (a checkpoint), then when and why the recording stopped. */
    readonly endTime: string | null;
    readonly stopReason: string | null;
    readonly droppedRows: Readonly<Record<string, number>>;
  };
  readonly subjects: readonly Required<RecordingSubjectJson>[];
  readonly cameras: readonly CameraJson[];
  readonly labels: 'labels.csv';
  readonly model: { readonly name: string; readonly version: string } | null;
}

/**
 * Writes recording.json so a reader never sees half of it: a temporary file renamed over
 * the old one. A manifest that breaks config/schemas/recording.schema.json is never written
 * (RECORDER_MANIFEST_INVALID): the replay source and the trainer would refuse it. On a full disk the temporary file cannot be written; the file is then
 * rewritten in place when the new text fits the blocks it already holds (no allocation
 * needed), else the previous version is kept and the error thrown.
 */
export async function writeManifest(path: string, manifest: RecordingJsonOut): Promise<void> {
  const problems = recordingJsonProblems(manifest);
  if (problems.length > 0) {
    throw new GatewayError(
      'RECORDER_MANIFEST_INVALID',
      `${path}: not written, it does not match ${RECORDING_SCHEMA_FILE}: ${problems.join('; ')}`,
      { details: { file: path, problems } },
    );
  }
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  const tmp = join(dirname(path), `.${basename(path)}.tmp`);
  try {
    await writeFile(tmp, text, 'utf8');
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    if ((code === 'ENOSPC' || code === 'EDQUOT') && (await rewriteInPlace(path, text))) return;
    throw err;
  }
}

async function rewriteInPlace(path: string, text: string): Promise<boolean> {
  const bytes = Buffer.from(text, 'utf8');
  let allocated: number;
  try {
    allocated = (await stat(path)).blocks * 512;
  } catch {
    return false;
  }
  if (bytes.length > allocated) return false;
  const handle = await open(path, 'r+');
  try {
    await handle.write(bytes, 0, bytes.length, 0);
    await handle.truncate(bytes.length);
  } finally {
    await handle.close();
  }
  return true;
}

/** Measured rate from first/last time and row count; the nominal one when too few rows. */
export function measuredRateHz(rows: number, firstNs: number, lastNs: number, nominalHz: number): number {
  if (rows < 2 || lastNs <= firstNs) return nominalHz;
  return Math.round(((rows - 1) / (lastNs - firstNs)) * 1e9 * 1000) / 1000;
}

/** recording.json of a session: a checkpoint while it runs (`end` null), final at stop. */
export function recordingJson(
  gatewayId: string,
  s: Session,
  end: { endNs: TimeNs; reason: StopReason } | null,
): RecordingJsonOut {
  const devices = [...s.imu.values()]
    .filter((d) => d.file.confirmedRows > 0)
    .map((d) => ({
      id: d.id,
      kind: 'imu' as const,
      file: d.file.relative,
      subject: d.subject !== null && s.subjects.has(d.subject) ? d.subject : null,
      placement: d.placement,
      ...(d.placementNote === undefined ? {} : { placementNote: d.placementNote }),
      rateHz: measuredRateHz(d.seen, d.firstT, d.lastT, d.nominalRateHz),
      units: { acc: 'm/s^2' as const, gyro: 'rad/s' as const },
    }));
  const cameras = [...s.cameras.values()]
    .filter((c) => c.file.confirmedRows > 0)
    .map((c) => {
      let busiest: TrackState | undefined;
      const tracks: Record<string, string> = {};
      for (const [track, t] of [...c.tracks].sort(([a], [b]) => a - b)) {
        if (t.subject !== undefined && s.subjects.has(t.subject)) tracks[String(track)] = t.subject;
        if (!busiest || t.seen > busiest.seen) busiest = t;
      }
      const rateHz = busiest
        ? measuredRateHz(busiest.seen, busiest.firstT, busiest.lastT, c.nominalRateHz)
        : c.nominalRateHz;
      return {
        id: c.id,
        kind: 'camera' as const,
        file: c.file.relative,
        rateHz,
        layout: 'coco17' as const,
        tracks,
      };
    });
  return {
    format: 'mujo-recording',
    formatVersion: 1,
    gateway: gatewayId,
    startTime: s.origin.startTime,
    description: s.description,
    source: {
      recorder: 'mujo-gateway',
      name: s.name,
      endTime: end ? nsToIso(end.endNs) : null,
      stopReason: end ? end.reason : null,
      droppedRows: Object.fromEntries(s.dropped),
    },
    subjects: [...s.subjects].map(([id, name]) => ({ id, name })),
    devices,
    cameras,
    labels: 'labels.csv',
    model: s.model,
  };
}
