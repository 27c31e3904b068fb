import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/*
 * The `recorder` config section. A key with a `default` is always present after validation;
 * gateway/config/schema.ts composes it.
 */

export const RecorderOptionsSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: false,
      description: 'Allow recordings of what the gateway sees (IMU, pose, labels) for fine-tuning the model.',
    }),
    dir: Type.String({
      minLength: 1,
      default: 'var/recordings',
      description: 'Parent directory of recordings; each recording is a new <time>-<name> directory in it.',
    }),
    autoStart: Type.Boolean({
      default: false,
      description: 'Start a recording when the gateway starts (otherwise over MQTT, REST or the live page).',
    }),
    name: Type.String({
      pattern: '^[A-Za-z0-9._-]+$',
      minLength: 1,
      maxLength: 64,
      default: 'gateway',
      description: 'Name of recordings started without one (autoStart); the tail of the directory name.',
    }),
    maxBytes: Type.Integer({
      minimum: 4096,
      default: 1073741824,
      description:
        'Size cap of one recording in bytes of CSV rows (1 GiB). The recording is stopped cleanly, with reason max_bytes, before a row would pass it.',
    }),
    maxQueuedBytesPerFile: Type.Integer({
      minimum: 4096,
      default: 2097152,
      description:
        'Bytes waiting for the disk per file (2 MiB). While the disk cannot keep up beyond this, rows are dropped and counted (reason backpressure) instead of growing memory.',
    }),
    reorderWindowMs: Type.Integer({
      minimum: 0,
      maximum: 60000,
      default: 500,
      description:
        "Pose rows of a camera's tracks arrive in separate chunks; rows are held this long to be written in time order. Rows older than what was already written are dropped (reason late).",
    }),
    drainTimeoutMs: Type.Integer({
      minimum: 0,
      maximum: 600000,
      default: 10000,
      description:
        'On stop, how long to wait for the disk to take queued rows before they are dropped and counted.',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'Recorder: writes samples and labels into the recording format (docs/recording.md) for the trainer.',
  },
);

export type RecorderOptions = Static<typeof RecorderOptionsSchema>;

/** The defaults, read from the schema above (written once, there). */
export const RECORDER_DEFAULTS: RecorderOptions = Value.Default(RecorderOptionsSchema, {}) as RecorderOptions;
