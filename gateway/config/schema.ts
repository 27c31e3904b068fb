import { Type, type Static } from '@sinclair/typebox';
import { Identifier, Section, StringEnum } from '../domain/option-schema.ts';
import { ModelOptionsSchema } from '../model/options.ts';
import { ReplayOptionsSchema } from '../sources/replay/options.ts';
import { IngestOptionsSchema } from '../sources/mqtt/options.ts';
import { BleSection } from '../sources/ble/options.ts';
import { CamerasSection, MatchingSection } from '../sources/camera/options.ts';
import { MqttOptionsSchema } from '../sinks/mqtt/options.ts';
import { RecorderOptionsSchema } from '../sinks/recorder/options.ts';
import { InfluxOptionsSchema } from '../sinks/influx/options.ts';
import { HttpOptionsSchema } from '../http/options.ts';
import { EnrollmentOptionsSchema } from '../enrollment/options.ts';
import { FleetOptionsSchema } from '../fleet/options.ts';
import { PipelineSection } from '../pipeline/options.ts';
import { RepsSection } from '../pipeline/reps/options.ts';
import { SubjectsOptionsSchema } from '../subjects/options.ts';

/*
 * The one source of truth for configuration: the TypeScript type (`GatewayConfig`), the
 * validation (ajv, in validate.ts) and the published JSON Schema file (write-schema.ts) all
 * come from the TypeBox schema below.
 *
 * Each module owns its section (its options.ts: schema, defaults, type); this file only
 * composes them. Only gateway/config/, app.ts and main.ts may import gateway/config/
 * (.dependency-cruiser.cjs), so configuration flows one way: from here into the modules.
 * The conventions for defaults are in gateway/domain/option-schema.ts.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const GatewaySection = Section(
  {
    id: Identifier('Gateway id: the <gw> level of every MQTT topic and a tag on every InfluxDB point.', {
      default: 'demo',
    }),
  },
  { description: 'Who this gateway is.' },
);

const LogSection = Section(
  { level: StringEnum(LOG_LEVELS, { default: 'info', description: 'Least severe level written.' }) },
  { description: 'Structured logs (JSON lines on stdout).' },
);

export const GatewayConfigSchema = Type.Object(
  {
    gateway: GatewaySection,
    model: ModelOptionsSchema,
    replay: ReplayOptionsSchema,
    mqtt: MqttOptionsSchema,
    ingest: IngestOptionsSchema,
    http: HttpOptionsSchema,
    ble: BleSection,
    cameras: CamerasSection,
    matching: MatchingSection,
    influx: InfluxOptionsSchema,
    recorder: RecorderOptionsSchema,
    enrollment: EnrollmentOptionsSchema,
    fleet: FleetOptionsSchema,
    pipeline: PipelineSection,
    reps: RepsSection,
    subjects: SubjectsOptionsSchema,
    log: LogSection,
  },
  { additionalProperties: false },
);

/** The effective configuration: every default filled in. */
export type GatewayConfig = Static<typeof GatewayConfigSchema>;
export type PipelineConfig = GatewayConfig['pipeline'];
export type { SubjectConfig } from '../subjects/options.ts';
export type { MqttConfig } from '../sinks/mqtt/options.ts';
export type { HttpConfig } from '../http/options.ts';
export type { ModelConfig } from '../model/options.ts';
export type { ReplayConfig } from '../sources/replay/options.ts';
export type { BleConfig, BleDeviceConfig } from '../sources/ble/options.ts';
export type { CameraConfig, MatchingConfig } from '../sources/camera/options.ts';

export const GATEWAY_SCHEMA_ID = 'https://mujo-gateway.dev/schemas/gateway.schema.json';

type JsonObject = { [key: string]: unknown };

/**
 * The schema as users and editors see it: plain JSON (TypeBox's symbols dropped), keys with a
 * default not required. Validation uses this same object, so the file and the gateway agree.
 */
export function publishedSchema(): JsonObject {
  const plain = JSON.parse(JSON.stringify(GatewayConfigSchema)) as JsonObject;
  const relaxed = dropDefaultedRequired(plain) as JsonObject;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: GATEWAY_SCHEMA_ID,
    title: 'mujo-gateway configuration',
    description:
      'Generated from gateway/config/schema.ts by `npm run schemas`; do not edit. Every key is optional: an empty file runs the demo.',
    ...relaxed,
  };
}

function dropDefaultedRequired(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(dropDefaultedRequired);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node as JsonObject)) out[key] = dropDefaultedRequired(value);
  const properties = out['properties'] as Record<string, JsonObject> | undefined;
  if (properties && Array.isArray(out['required'])) {
    const required = (out['required'] as string[]).filter((k) => properties[k]?.['default'] === undefined);
    if (required.length > 0) out['required'] = required;
    else delete out['required'];
  }
  return out;
}
