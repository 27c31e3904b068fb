import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Modality, Placement } from '../../domain/samples.ts';
import { NS_PER_MS, NS_PER_S, type TimeNs } from '../../domain/time.ts';
import { GatewayError, errorMessage } from '../../observability/errors.ts';
import {
  imuParser,
  labelsParser,
  parseFile,
  poseParser,
  type LineParser,
  type RecordingLabel,
  type StreamData,
} from './csv.ts';
import { invalid, validateRecordingJson, type RecordingJson } from './recording-json.ts';

export type { RecordingLabel, StreamData };

/** One playable stream: an IMU device, or one person-track of one camera. */
export interface RecordingStream {
  /** Device id, or `<camera>/<track>` for pose. */
  readonly sourceId: string;
  /** The device or camera the stream comes from. */
  readonly deviceId: string;
  readonly modality: Modality;
  readonly subjectId?: string;
  readonly placement?: Placement;
  /** Nominal rate from recording.json. */
  readonly rateHz: number;
  /** Times in ns since the recording's startTime. */
  readonly data: StreamData;
}

/** What the app publishes as device state for each recorded device or camera. */
export interface RecordingDevice {
  readonly id: string;
  readonly kind: 'imu' | 'camera';
  /** The wearer; for a camera, null (its tracks map to subjects). */
  readonly subjectId: string | null;
  readonly placement: Placement | null;
  readonly rateHz: number;
  /** Stream ids this device produces (`<camera>/<track>` for each track of a camera). */
  readonly sourceIds: readonly string[];
}

export interface RecordingSubject {
  readonly id: string;
  readonly name: string;
}

export interface Recording {
  readonly dir: string;
  readonly meta: RecordingJson;
  /** recording.json `startTime` on the Unix epoch, ns. */
  readonly startTimeNs: TimeNs;
  readonly subjects: readonly RecordingSubject[];
  readonly devices: readonly RecordingDevice[];
  readonly streams: readonly RecordingStream[];
  /** Ground truth on the recording's time base, ascending start. Empty without labels.csv. */
  readonly labels: readonly RecordingLabel[];
  /**
   * Length of one pass of the recording, ns: past the last sample of every stream by one
   * nominal period and past every label, so a looped pass starts strictly after the last one.
   */
  readonly spanNs: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function parseRecordingFile<T>(
  dir: string,
  relative: string,
  field: string,
  parser: LineParser<T>,
): Promise<T> {
  const path = join(dir, relative);
  if (!(await exists(path))) {
    throw new GatewayError(
      'REPLAY_NOT_FOUND',
      `recording ${join(dir, 'recording.json')}: ${field}: file ${path} does not exist`,
      {
        details: { file: path, field },
      },
    );
  }
  return parseFile(parser, path);
}

/**
 * Reads and validates a recording directory (docs/recording-format.md): recording.json,
 * every CSV it names, and labels.csv when present. Throws REPLAY_NOT_FOUND for a missing
 * directory or file and REPLAY_INVALID, naming file and field or line, for anything malformed.
 */
export async function loadRecording(dirArg: string): Promise<Recording> {
  const dir = resolve(dirArg);
  const jsonPath = join(dir, 'recording.json');
  if (!(await exists(dir))) {
    throw new GatewayError('REPLAY_NOT_FOUND', `recording directory ${dir} does not exist`, {
      details: { file: dir },
    });
  }
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (cause) {
    throw new GatewayError(
      'REPLAY_NOT_FOUND',
      `recording ${jsonPath} cannot be read: ${errorMessage(cause)}`,
      {
        cause,
        details: { file: jsonPath },
      },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new GatewayError(
      'REPLAY_INVALID',
      `recording ${jsonPath}: not valid JSON: ${errorMessage(cause)}`,
      {
        cause,
        details: { file: jsonPath, field: '(root)' },
      },
    );
  }
  const meta = validateRecordingJson(raw, jsonPath);

  const streams: RecordingStream[] = [];
  const devices: RecordingDevice[] = [];
  for (const [i, d] of meta.devices.entries()) {
    const data = await parseRecordingFile(dir, d.file, `devices[${i}].file`, imuParser(join(dir, d.file)));
    streams.push({
      sourceId: d.id,
      deviceId: d.id,
      modality: 'imu',
      ...(d.subject === null ? {} : { subjectId: d.subject }),
      placement: d.placement,
      rateHz: d.rateHz,
      data,
    });
    devices.push({
      id: d.id,
      kind: 'imu',
      subjectId: d.subject,
      placement: d.placement,
      rateHz: d.rateHz,
      sourceIds: [d.id],
    });
  }
  for (const [i, c] of (meta.cameras ?? []).entries()) {
    const tracks = await parseRecordingFile(dir, c.file, `cameras[${i}].file`, poseParser(join(dir, c.file)));
    const sourceIds: string[] = [];
    for (const [track, data] of [...tracks].sort(([a], [b]) => a - b)) {
      const sourceId = `${c.id}/${track}`;
      const subjectId = c.tracks[String(track)];
      sourceIds.push(sourceId);
      streams.push({
        sourceId,
        deviceId: c.id,
        modality: 'pose',
        ...(subjectId === undefined ? {} : { subjectId }),
        rateHz: c.rateHz,
        data,
      });
    }
    devices.push({ id: c.id, kind: 'camera', subjectId: null, placement: null, rateHz: c.rateHz, sourceIds });
  }

  const subjectIds = new Set(meta.subjects.map((s) => s.id));
  let labels: RecordingLabel[] = [];
  if (typeof meta.labels === 'string') {
    labels = await parseRecordingFile(
      dir,
      meta.labels,
      'labels',
      labelsParser(join(dir, meta.labels), subjectIds),
    );
  } else if (meta.labels === undefined && (await exists(join(dir, 'labels.csv')))) {
    labels = await parseFile(labelsParser(join(dir, 'labels.csv'), subjectIds), join(dir, 'labels.csv'));
  }

  let spanNs = 0;
  for (const s of streams) {
    const last = s.data.tNs[s.data.tNs.length - 1];
    if (last !== undefined) spanNs = Math.max(spanNs, last + Math.round(NS_PER_S / s.rateHz));
  }
  if (spanNs === 0) throw invalid(jsonPath, 'devices', 'the recording has no samples in any stream');
  for (const l of labels) spanNs = Math.max(spanNs, l.endNs);

  return {
    dir,
    meta,
    startTimeNs: Date.parse(meta.startTime) * NS_PER_MS,
    subjects: meta.subjects.map((s) => ({ id: s.id, name: s.name ?? s.id })),
    devices,
    streams,
    labels,
    spanNs,
  };
}
