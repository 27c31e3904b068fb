import {
  RECORDING_SCHEMA_FILE,
  recordingJsonProblems,
  type CameraJson,
  type ImuDeviceJson,
  type RecordingJson,
} from '../../domain/recording-format.ts';
import { GatewayError } from '../../observability/errors.ts';

export type { CameraJson, ImuDeviceJson, RecordingJson };

export function invalid(file: string, field: string, message: string, value?: unknown): GatewayError {
  const got = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
  return new GatewayError('REPLAY_INVALID', `recording ${file}: ${field}: ${message}${got}`, {
    details: { file, field },
  });
}

/**
 * Checks the parsed recording.json against config/schemas/recording.schema.json and the
 * cross-references the schema cannot express (ids unique, subjects known, files inside the
 * recording). Throws REPLAY_INVALID naming the file and every offending field.
 */
export function validateRecordingJson(raw: unknown, file: string): RecordingJson {
  const problems = recordingJsonProblems(raw);
  if (problems.length > 0) {
    throw new GatewayError(
      'REPLAY_INVALID',
      `recording ${file}: does not match ${RECORDING_SCHEMA_FILE}: ${problems.join('; ')}`,
      { details: { file, problems } },
    );
  }
  const rec = raw as RecordingJson;
  if (Number.isNaN(Date.parse(rec.startTime))) {
    throw invalid(file, 'startTime', 'expected an ISO 8601 date-time', rec.startTime);
  }
  const subjectIds = new Set<string>();
  rec.subjects.forEach((s, i) => {
    if (subjectIds.has(s.id)) throw invalid(file, `subjects[${i}].id`, 'duplicate subject id', s.id);
    subjectIds.add(s.id);
  });
  const streamIds = new Set<string>();
  const checkFile = (field: string, path: string): void => {
    const parts = path.split(/[\\/]/);
    if (path.startsWith('/') || parts.includes('..')) {
      throw invalid(file, field, 'must be a relative path inside the recording directory', path);
    }
  };
  rec.devices.forEach((d, i) => {
    if (streamIds.has(d.id)) throw invalid(file, `devices[${i}].id`, 'duplicate device id', d.id);
    streamIds.add(d.id);
    if (d.subject !== null && !subjectIds.has(d.subject)) {
      throw invalid(file, `devices[${i}].subject`, 'not one of subjects[].id', d.subject);
    }
    checkFile(`devices[${i}].file`, d.file);
  });
  (rec.cameras ?? []).forEach((c, i) => {
    if (streamIds.has(c.id)) throw invalid(file, `cameras[${i}].id`, 'duplicate device/camera id', c.id);
    streamIds.add(c.id);
    checkFile(`cameras[${i}].file`, c.file);
    for (const [track, subject] of Object.entries(c.tracks)) {
      if (!/^\d+$/.test(track))
        throw invalid(file, `cameras[${i}].tracks`, 'track ids must be integers', track);
      if (!subjectIds.has(subject)) {
        throw invalid(file, `cameras[${i}].tracks.${track}`, 'not one of subjects[].id', subject);
      }
    }
  });
  if (typeof rec.labels === 'string') checkFile('labels', rec.labels);
  return rec;
}
