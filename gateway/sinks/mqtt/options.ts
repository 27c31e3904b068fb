import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Port, Section } from '../../domain/option-schema.ts';

/*
 * The `mqtt` config section: broker, topics, commands, TLS and the outgoing queue (composed by
 * gateway/config). The sink reads its defaults from MQTT_DEFAULTS, so each is written once, here.
 */

export const MqttOptionsSchema = Section(
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

export type MqttConfig = Static<typeof MqttOptionsSchema>;

/** The defaults, read from the schema above (written once, there). */
export const MQTT_DEFAULTS: MqttConfig = Value.Default(MqttOptionsSchema, {}) as MqttConfig;
