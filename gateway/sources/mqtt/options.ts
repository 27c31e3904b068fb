import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Section } from '../../domain/option-schema.ts';

/* The `ingest` config section: IMU from phones/watches over MQTT (composed by gateway/config). */

export const IngestOptionsSchema = Section(
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
    jsonFastPath: Type.Boolean({
      default: true,
      description:
        'Decode JSON messages with a one-pass scan into typed arrays, falling back to JSON.parse + schema validation for anything it does not fully understand (same results and errors). Off: always the general path (for comparison).',
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

export type IngestConfig = Static<typeof IngestOptionsSchema>;

/** The defaults, read from the schema above (written once, there). */
export const INGEST_DEFAULTS: IngestConfig = Value.Default(IngestOptionsSchema, {}) as IngestConfig;
