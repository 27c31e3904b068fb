import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import recordingSchema from '../../config/schemas/recording.schema.json' with { type: 'json' };
import type { Placement } from './placement.ts';
import { COCO17_KEYPOINTS } from './samples.ts';

/**
 * CSV headers of the recording format (docs/recording-format.md): one definition for the
 * writer (sinks/recorder) and the reader (sources/replay), so they cannot disagree.
 */
export const IMU_HEADER = ['t_ns', 'ax', 'ay', 'az', 'gx', 'gy', 'gz'] as const;
export const POSE_HEADER = [
  't_ns',
  'track',
  ...COCO17_KEYPOINTS.flatMap((k) => [`${k}_x`, `${k}_y`, `${k}_score`]),
] as const;
export const LABELS_HEADER = ['subject', 'start_ns', 'end_ns', 'activity'] as const;

/** Where the schema lives, for messages: both the gateway and the trainer validate against it. */
export const RECORDING_SCHEMA_FILE = 'config/schemas/recording.schema.json';

/** recording.json (format version 1) as config/schemas/recording.schema.json defines it. */
export interface RecordingJson {
  readonly format: 'mujo-recording';
  readonly formatVersion: 1;
  readonly gateway: string;
  readonly startTime: string;
  readonly description?: string;
  readonly source?: unknown;
  readonly subjects: readonly RecordingSubjectJson[];
  readonly devices: readonly ImuDeviceJson[];
  readonly cameras?: readonly CameraJson[];
  readonly labels?: string | null;
  readonly model?: string | { readonly name: string; readonly version: string } | null;
}

export interface RecordingSubjectJson {
  readonly id: string;
  readonly name?: string;
}

export interface ImuDeviceJson {
  readonly id: string;
  readonly kind: 'imu';
  readonly file: string;
  readonly subject: string | null;
  readonly placement: Placement;
  readonly placementNote?: string;
  readonly rateHz: number;
  readonly units: { readonly acc: 'm/s^2'; readonly gyro: 'rad/s' };
}

export interface CameraJson {
  readonly id: string;
  readonly kind: 'camera';
  readonly file: string;
  readonly rateHz: number;
  readonly layout: 'coco17';
  readonly tracks: Readonly<Record<string, string>>;
}

// ajv-formats is CommonJS with a default export; under NodeNext its type is the module namespace.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

let compiled: ValidateFunction<RecordingJson> | undefined;
function validator(): ValidateFunction<RecordingJson> {
  if (!compiled) {
    const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: false });
    addFormats(ajv);
    compiled = ajv.compile<RecordingJson>(recordingSchema);
  }
  return compiled;
}

/** `/devices/0/rateHz` → `devices[0].rateHz`, the way a reader of the JSON names it. */
export function recordingFieldName(pointer: string): string {
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

function describe(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${recordingFieldName(`${e.instancePath}/${String(params['missingProperty'])}`)}: missing`;
    case 'enum':
      return `${recordingFieldName(e.instancePath)}: expected one of ${(params['allowedValues'] as unknown[]).join(', ')} (got ${JSON.stringify(e.data)})`;
    case 'const':
      return `${recordingFieldName(e.instancePath)}: expected ${JSON.stringify(params['allowedValue'])} (got ${JSON.stringify(e.data)})`;
    case 'propertyNames':
      return `${recordingFieldName(e.instancePath)}: key ${JSON.stringify(params['propertyName'])} must be an integer track id`;
    default:
      return `${recordingFieldName(e.instancePath)}: ${e.message ?? e.keyword} (got ${JSON.stringify(e.data)})`;
  }
}

/**
 * Every way `raw` breaks config/schemas/recording.schema.json, one line each naming the field
 * (empty when it conforms). Readers and writers wrap these in their own coded error.
 */
export function recordingJsonProblems(raw: unknown): string[] {
  const validate = validator();
  if (validate(raw)) return [];
  // anyOf reports each branch and then itself; the branches say more, the summary only noise.
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'if');
  return [...new Set(errors.map(describe))];
}
