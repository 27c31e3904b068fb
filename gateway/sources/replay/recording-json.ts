import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { GatewayError } from '../../observability/errors.ts';

/** recording.json, format version 1 (docs/recording-format.md). */
const PlacementSchema = Type.Union([
  Type.Literal('wrist'),
  Type.Literal('thigh'),
  Type.Literal('chest'),
  Type.Literal('ankle'),
  Type.Literal('waist'),
  Type.Literal('upper_arm'),
  Type.Literal('pocket'),
  Type.Literal('unknown'),
]);

const NonEmpty = Type.String({ minLength: 1 });

const SubjectSchema = Type.Object({ id: NonEmpty, name: Type.Optional(Type.String()) });

const ImuDeviceSchema = Type.Object({
  id: NonEmpty,
  kind: Type.Literal('imu'),
  file: NonEmpty,
  subject: Type.Union([NonEmpty, Type.Null()]),
  placement: PlacementSchema,
  placementNote: Type.Optional(Type.String()),
  rateHz: Type.Number({ exclusiveMinimum: 0 }),
  units: Type.Object({ acc: Type.Literal('m/s^2'), gyro: Type.Literal('rad/s') }),
});

const CameraSchema = Type.Object({
  id: NonEmpty,
  kind: Type.Literal('camera'),
  file: NonEmpty,
  rateHz: Type.Number({ exclusiveMinimum: 0 }),
  layout: Type.Literal('coco17'),
  tracks: Type.Record(Type.String(), NonEmpty),
});

export const RecordingJsonSchema = Type.Object({
  format: Type.Literal('mujo-recording'),
  formatVersion: Type.Literal(1),
  gateway: Type.String(),
  startTime: Type.String({ minLength: 1 }),
  description: Type.Optional(Type.String()),
  source: Type.Optional(Type.Unknown()),
  subjects: Type.Array(SubjectSchema),
  devices: Type.Array(ImuDeviceSchema),
  cameras: Type.Optional(Type.Array(CameraSchema)),
  labels: Type.Optional(Type.Union([NonEmpty, Type.Null()])),
  model: Type.Optional(Type.Unknown()),
});

export type RecordingJson = Static<typeof RecordingJsonSchema>;
export type ImuDeviceJson = Static<typeof ImuDeviceSchema>;
export type CameraJson = Static<typeof CameraSchema>;

/** `/devices/0/rateHz` → `devices[0].rateHz`, the way a reader of the JSON would name it. */
function fieldName(pointer: string): string {
  if (pointer === '') return '(root)';
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce(
      (acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc === '' ? part : `${acc}.${part}`),
      '',
    );
}

/** TypeBox says "Expected union value" for an enum; the reader needs the allowed values. */
function describeExpected(schema: unknown, fallback: string): string {
  const anyOf = (schema as { anyOf?: unknown[] }).anyOf;
  const consts = anyOf?.map((s) => (s as { const?: unknown }).const);
  if (consts && consts.length > 0 && consts.every((c) => typeof c === 'string')) {
    return `expected one of ${consts.join(', ')}`;
  }
  return fallback;
}

export function invalid(file: string, field: string, message: string, value?: unknown): GatewayError {
  const got = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
  return new GatewayError('REPLAY_INVALID', `recording ${file}: ${field}: ${message}${got}`, {
    details: { file, field },
  });
}

/**
 * Checks the parsed recording.json against the schema and the cross-references the schema
 * cannot express (ids unique, subjects known, files inside the recording). Throws
 * REPLAY_INVALID naming the file and the first offending field.
 */
export function validateRecordingJson(raw: unknown, file: string): RecordingJson {
  const first = Value.Errors(RecordingJsonSchema, raw).First();
  if (first) {
    throw invalid(file, fieldName(first.path), describeExpected(first.schema, first.message), first.value);
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
