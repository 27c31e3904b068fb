import { Type, type Static, type TSchema, type SchemaOptions } from '@sinclair/typebox';
import { BleSection } from '../sources/ble/options.ts';
import { CamerasSection, MatchingSection } from '../sources/camera/options.ts';
import { RecorderOptionsSchema } from '../sinks/recorder/options.ts';
import { InfluxOptionsSchema } from '../sinks/influx/options.ts';
import { EnrollmentOptionsSchema } from '../enrollment/options.ts';
import { FleetOptionsSchema } from '../fleet/options.ts';
import { RepsSection } from '../pipeline/reps/options.ts';

/*
 * The one source of truth for configuration: the TypeScript type (`GatewayConfig`), the
 * validation (ajv, in validate.ts) and the published JSON Schema file (write-schema.ts) all
 * come from the TypeBox schema below.
 *
 * Convention: a key with a `default` is required in the TypeScript type (validation fills it
 * in, so code never handles `undefined`), but optional in the published schema (see
 * `publishedSchema`), so editors do not ask users to spell out defaults. Keys that are
 * `Type.Optional` have no default: absence means something (e.g. no `mqtt.url` → embedded
 * broker).
 */

/** A string enum as a plain `enum` (TypeBox unions become anyOf, whose errors are unreadable). */
function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** An object whose every key is checked, that is filled in with defaults when absent. */
function Section<T extends Record<string, TSchema>>(properties: T, options: SchemaOptions = {}) {
  return Type.Object(properties, { additionalProperties: false, default: {}, ...options });
}

const Identifier = (description: string, options: SchemaOptions = {}) =>
  Type.String({ pattern: '^[A-Za-z0-9_-]+$', minLength: 1, maxLength: 64, description, ...options });

const Port = (description: string, defaultPort: number) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: defaultPort, description });

export const EXECUTION_PROVIDERS = ['tensorrt', 'cuda', 'coreml', 'dml', 'webgpu', 'cpu'] as const;
export type ExecutionProviderName = (typeof EXECUTION_PROVIDERS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const GatewaySection = Section(
  {
    id: Identifier('Gateway id: the <gw> level of every MQTT topic and a tag on every InfluxDB point.', {
      default: 'demo',
    }),
  },
  { description: 'Who this gateway is.' },
);

const ModelSection = Section(
  {
    path: Type.String({
      minLength: 1,
      default: 'models/default',
      description: 'Model directory (manifest.json + ONNX files), relative to the working directory.',
    }),
    providers: Type.Array(StringEnum(EXECUTION_PROVIDERS), {
      minItems: 1,
      uniqueItems: true,
      default: ['tensorrt', 'cuda', 'cpu'],
      description:
        'onnxruntime execution providers, tried in order per encoder; the first that loads is used and reported in /health and on MQTT.',
    }),
    intraOpThreads: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 1,
      description:
        "Threads per ONNX session. 1 by default: the small encoders run micro-batches, and onnxruntime's spinning thread pool cost 2.7x per window and ~35 % of a core at idle on 2 cores (bench/pipeline). Raise it for one big stream on a many-core box.",
    }),
    openSet: Type.Boolean({
      default: true,
      description:
        "Announce 'unknown' when no class is close enough, with the thresholds in the model's manifest (openSet). false always names the closest class, as models without thresholds do.",
    }),
  },
  { description: 'The activity model (encoders + class prototypes) and how to run it.' },
);

const ReplaySection = Section(
  {
    enabled: Type.Boolean({ default: true, description: 'Play a recording as if it were live sensors.' }),
    path: Type.String({ minLength: 1, default: 'recordings/demo', description: 'Recording directory.' }),
    speed: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1000,
      default: 1,
      description: 'Playback speed: 1 is real time, 10 is ten times faster.',
    }),
    loop: Type.Boolean({ default: true, description: 'Start again at the end of the recording.' }),
    withoutModalities: Type.Array(StringEnum(['imu', 'pose'] as const), {
      uniqueItems: true,
      default: [],
      description: "Modalities to leave out of the replay, e.g. ['pose'] to run IMU only.",
    }),
  },
  { description: 'Replay of a recording: the default source, so the demo needs no hardware.' },
);

const MqttSection = Section(
  {
    url: Type.Optional(
      Type.String({
        pattern: '^(mqtts?|wss?|tcp|ssl)://',
        description:
          'Broker URL (mqtt://, mqtts://, ws://, wss://). Absent: the gateway starts an embedded broker (MQTT 3.1.1) on embeddedHost:embeddedPort.',
      }),
    ),
    embeddedPort: Port(
      'Port of the embedded broker (used only when url is absent; 0 picks a free port).',
      1883,
    ),
    embeddedHost: Type.String({
      minLength: 1,
      default: '127.0.0.1',
      description: 'Address the embedded broker listens on. 0.0.0.0 exposes it to the network.',
    }),
    baseTopic: Type.String({
      pattern: '^[^#+/][^#+]*[^#+/]$|^[^#+/]$',
      default: 'mujo',
      description:
        'First level of every topic: <baseTopic>/<gateway.id>/... (no wildcards, no leading or trailing /).',
    }),
    clientId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description: 'MQTT client id. Absent: mujo-<gateway.id>.',
      }),
    ),
    username: Type.Optional(
      Type.String({
        description:
          'Broker user name. With the embedded broker (no url), username and password are required from every client when set.',
      }),
    ),
    password: Type.Optional(Type.String({ description: 'Broker password (redacted everywhere).' })),
    commands: Section(
      {
        token: Type.Optional(
          Type.String({
            minLength: 8,
            description:
              'Requests on <base>/<gw>/request/<action> that change anything (reload_model, devices, recordings) must carry "token": "<this>" in their JSON body. Absent: http.token is used; neither set: those commands are refused. Redacted everywhere.',
          }),
        ),
        rateLimitPerMinute: Type.Integer({
          minimum: 1,
          maximum: 100000,
          default: 30,
          description: 'Requests a minute per action (bursts up to this); more are refused and counted.',
        }),
      },
      { description: 'Who may run MQTT commands, and how often.' },
    ),
    tls: Section(
      {
        ca: Type.Optional(Type.String({ minLength: 1, description: 'CA certificate file (PEM) to trust.' })),
        cert: Type.Optional(Type.String({ minLength: 1, description: 'Client certificate file (PEM).' })),
        key: Type.Optional(Type.String({ minLength: 1, description: 'Client private key file (PEM).' })),
        rejectUnauthorized: Type.Boolean({
          default: true,
          description: 'Refuse a broker whose certificate does not verify. Keep true outside tests.',
        }),
      },
      { description: 'TLS for mqtts:// and wss:// URLs.' },
    ),
    qos: Type.Unsafe<0 | 1 | 2>({
      type: 'integer',
      enum: [0, 1, 2],
      default: 1,
      description: 'QoS of events, state and responses.',
    }),
    queue: Section(
      {
        memoryMessages: Type.Integer({
          minimum: 1,
          default: 10000,
          description: 'Messages kept in memory while the broker is away before spilling to disk.',
        }),
        spoolDir: Type.String({
          minLength: 1,
          default: 'var/spool/mqtt',
          description: 'Directory for messages spilled to disk.',
        }),
        maxSpoolBytes: Type.Integer({
          minimum: 0,
          default: 268435456,
          description:
            'Disk spool limit in bytes (256 MiB). Beyond it, the oldest messages are dropped and counted.',
        }),
        syncIntervalMs: Type.Integer({
          minimum: 0,
          maximum: 60000,
          default: 1000,
          description:
            'Durability bound, ms: a message accepted and not acknowledged by the broker within this time is written to the spool and fdatasynced, so a crash (kill -9, power loss) loses at most this much. 0 turns it off (spill only at memoryMessages or spillAfterMs).',
        }),
      },
      { description: 'What happens to outgoing messages while the broker is unreachable.' },
    ),
    homeAssistant: Section(
      {
        enabled: Type.Boolean({
          default: false,
          description: 'Publish Home Assistant MQTT discovery messages.',
        }),
        discoveryPrefix: Type.String({
          minLength: 1,
          default: 'homeassistant',
          description: "Home Assistant's discovery prefix.",
        }),
      },
      { description: 'Home Assistant MQTT discovery.' },
    ),
  },
  { description: 'MQTT: events, state and commands out; IMU ingest in.' },
);

const IngestSection = Section(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'Accept IMU samples from phones/watches on <baseTopic>/<gateway.id>/ingest/<device>/imu.',
    }),
    maxSamplesPerMessage: Type.Integer({
      minimum: 1,
      maximum: 100000,
      default: 1000,
      description: 'Larger messages are refused and counted.',
    }),
    unknownDevices: Section(
      {
        maxTracked: Type.Integer({
          minimum: 0,
          maximum: 100000,
          default: 64,
          description:
            'Devices not listed in subjects[].devices tracked at once (shown in /api/devices); beyond it their samples still flow but the device is not tracked, counted.',
        }),
        idleTimeoutMs: Type.Integer({
          minimum: 1000,
          default: 60000,
          description: 'An unknown device silent this long is forgotten.',
        }),
        publishState: Type.Boolean({
          default: false,
          description:
            'Publish state (retained MQTT devices/<device>/state, InfluxDB device points) for unknown devices too. Off: one client cannot fill the broker with retained topics.',
        }),
      },
      { description: 'Devices that send IMU data but are not configured: bounded, expiring tracking.' },
    ),
  },
  { description: 'IMU ingest over MQTT.' },
);

const HttpSection = Section(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'Serve /health, /metrics, the REST API and the live page.',
    }),
    host: Type.String({
      minLength: 1,
      default: '127.0.0.1',
      description: 'Address to bind. The default keeps the server local; 0.0.0.0 exposes it.',
    }),
    port: Port('TCP port (0 picks a free port).', 8080),
    token: Type.Optional(
      Type.String({
        minLength: 8,
        description:
          'Bearer token required by endpoints that change anything. Absent: those endpoints are refused.',
      }),
    ),
    readAuth: Type.Boolean({
      default: false,
      description:
        'Reads need the token too: the live page (asks for it once, then a cookie), SSE, the REST API and /metrics; unauthenticated GET /health gives the overall status only. Needs token.',
    }),
    tls: Section(
      {
        cert: Type.Optional(
          Type.String({ minLength: 1, description: 'HTTPS certificate chain file (PEM).' }),
        ),
        key: Type.Optional(Type.String({ minLength: 1, description: 'HTTPS private key file (PEM).' })),
      },
      { description: 'HTTPS when both cert and key are given; plain HTTP otherwise.' },
    ),
  },
  { description: 'HTTP server.' },
);

const SmoothingSection = Section(
  {
    alpha: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.5,
      description: 'Exponential smoothing of class probabilities per hop (1 = no smoothing).',
    }),
    enterThreshold: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.5,
      description: 'Smoothed probability an activity needs to start.',
    }),
    exitThreshold: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.35,
      description: 'Below this the current activity ends (hysteresis; must be ≤ enterThreshold).',
    }),
    minDwellHops: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 2,
      description: 'Hops a new activity must hold before it replaces the current one.',
    }),
  },
  { description: 'Temporal smoothing with hysteresis, so events do not flicker.' },
);

const PipelineSection = Section(
  {
    maxBatch: Type.Integer({
      minimum: 1,
      maximum: 1024,
      default: 32,
      description: 'Most windows run through an encoder in one call.',
    }),
    maxBatchWaitMs: Type.Number({
      minimum: 0,
      maximum: 1000,
      default: 5,
      description: 'Longest a window waits for others to fill a batch.',
    }),
    stateIntervalS: Type.Number({
      exclusiveMinimum: 0,
      maximum: 86400,
      default: 10,
      description: 'Period of the retained per-subject state message.',
    }),
    idleEndS: Type.Number({
      exclusiveMinimum: 0,
      maximum: 3600,
      default: 3,
      description:
        'A subject whose scores stop for this long (gateway clock) ends its activity and is forgotten, s. Longer rides out BLE dropouts; a handover to another gateway ends it at once (fleet.handover).',
    }),
    staleAfterHops: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 2,
      description: 'A modality silent for this many hops leaves fusion until it returns.',
    }),
    staggerHops: Type.Boolean({
      default: true,
      description:
        "Spread subjects' window ends over the hop (by a hash of the subject id) instead of ending every subject's windows at the same instant, so inference and events do not come in one burst per hop. false: the earlier aligned hops.",
    }),
    smoothing: SmoothingSection,
    queueCapacity: Type.Integer({
      minimum: 1,
      maximum: 1000000,
      default: 1024,
      description: 'Bound of each queue between stages; overflow drops the oldest and counts it.',
    }),
  },
  { description: 'Windowing, batching, fusion and smoothing.' },
);

const Subject = Type.Object(
  {
    id: Identifier('Subject id, used in topics.'),
    name: Type.Optional(Type.String({ description: 'Display name.' })),
    devices: Type.Array(Type.String({ minLength: 1 }), {
      uniqueItems: true,
      default: [],
      description: 'Ids of the IMU devices this person wears.',
    }),
    cameraTracks: Type.Array(Type.String({ pattern: '^[^/]+/[^/]+$' }), {
      uniqueItems: true,
      default: [],
      description: "Camera tracks that are this person, as '<camera>/<track>' (e.g. 'cam1/1').",
    }),
  },
  { additionalProperties: false },
);

const LogSection = Section(
  { level: StringEnum(LOG_LEVELS, { default: 'info', description: 'Least severe level written.' }) },
  { description: 'Structured logs (JSON lines on stdout).' },
);

export const GatewayConfigSchema = Type.Object(
  {
    gateway: GatewaySection,
    model: ModelSection,
    replay: ReplaySection,
    mqtt: MqttSection,
    ingest: IngestSection,
    http: HttpSection,
    ble: BleSection,
    cameras: CamerasSection,
    matching: MatchingSection,
    influx: InfluxOptionsSchema,
    recorder: RecorderOptionsSchema,
    enrollment: EnrollmentOptionsSchema,
    fleet: FleetOptionsSchema,
    pipeline: PipelineSection,
    reps: RepsSection,
    subjects: Type.Array(Subject, {
      default: [],
      description:
        'People and what they wear or which camera track they are. Unlisted devices and tracks are reported, and a recording names its own subjects.',
    }),
    log: LogSection,
  },
  { additionalProperties: false },
);

/** The effective configuration: every default filled in. */
export type GatewayConfig = Static<typeof GatewayConfigSchema>;
export type SubjectConfig = GatewayConfig['subjects'][number];
export type MqttConfig = GatewayConfig['mqtt'];
export type HttpConfig = GatewayConfig['http'];
export type PipelineConfig = GatewayConfig['pipeline'];
export type ModelConfig = GatewayConfig['model'];
export type ReplayConfig = GatewayConfig['replay'];
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
