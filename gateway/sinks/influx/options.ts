import { Type, type Static } from '@sinclair/typebox';
import { GatewayError } from '../../observability/errors.ts';

/*
 * The `influx` config section. A key with a `default` is always present after validation;
 * `Type.Optional` keys mean something when absent. The lead folds this into
 * gateway/config/schema.ts (same conventions as the other sections).
 */

const Tls = Type.Object(
  {
    ca: Type.Optional(
      Type.String({ minLength: 1, description: 'CA certificate file (PEM) to trust for https:// URLs.' }),
    ),
    rejectUnauthorized: Type.Boolean({
      default: true,
      description: 'Refuse a server whose certificate does not verify. Keep true outside tests.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'TLS for https:// URLs.' },
);

export const InfluxOptionsSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: false,
      description: 'Write activity, repetitions, device and pipeline health to InfluxDB.',
    }),
    url: Type.String({
      pattern: '^https?://',
      default: 'http://127.0.0.1:8086',
      description:
        'Server base URL (no /api/v2). InfluxDB 2.x/3.x, 1.8+ and compatible stores that accept /api/v2/write.',
    }),
    token: Type.Optional(
      Type.String({
        description:
          'API token (2.x/3.x), or `user:password` for InfluxDB 1.8+ with authentication (redacted by --print-config).',
      }),
    ),
    org: Type.String({ default: '', description: 'Organisation (2.x). Ignored by 1.8+ and 3.x.' }),
    bucket: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Bucket (2.x) or database (3.x). Give either bucket or database.',
      }),
    ),
    database: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'InfluxDB 1.8+: database, written through the v2-compatible endpoint as bucket `database/retentionPolicy`.',
      }),
    ),
    retentionPolicy: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'InfluxDB 1.8+: retention policy. Absent: the database default.',
      }),
    ),
    tls: Tls,
    batchSize: Type.Integer({
      minimum: 1,
      maximum: 100000,
      default: 5000,
      description: 'Points per write request at most.',
    }),
    flushIntervalMs: Type.Integer({
      minimum: 10,
      maximum: 600000,
      default: 1000,
      description:
        'A partial batch is written after waiting this long (at most a quarter of syncIntervalMs, so it reaches the server before the durability bound spills it).',
    }),
    maxInFlight: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 4,
      description:
        'Write requests in flight at once. Points carry their own timestamps, so batches may land in any order. One at a time until the server has accepted a write and while writes fail; 1 = always one at a time.',
    }),
    gzipLevel: Type.Integer({
      minimum: 0,
      maximum: 9,
      default: 1,
      description:
        'zlib level of the gzipped write bodies (compressed on the thread pool, off the main thread). On raw IMU, 1: about 11 % of the raw size for 0.4 µs CPU per point; 6 (zlib and client default): about 7 % for 1.1 µs; 0: uncompressed, for a server on the same host.',
    }),
    lineBlocks: Type.Boolean({
      default: true,
      description:
        "Raw IMU lines written as bytes into large buffers, and the lines of one write (an IMU chunk's samples, an event's lines) queued as one item. false: a string and a queued item per point, as earlier versions (for before/after benchmarks).",
    }),
    keepSpilledInMemory: Type.Boolean({
      default: true,
      description:
        'Points the durability bound spills while the server keeps up also stay in memory (within memoryQueuePoints) and are sent from there, not read back from the spool. false: every spill empties the memory queue, as earlier versions.',
    }),
    timeoutMs: Type.Integer({
      minimum: 100,
      maximum: 600000,
      default: 10000,
      description: 'Per write request.',
    }),
    maxRetries: Type.Integer({
      minimum: 0,
      maximum: 1000,
      default: 5,
      description:
        'Retries of a batch the server refuses for a reason that may pass (401, 403, 404, 500…) before it is dropped and counted. A server that is away (connection errors, timeouts, 429, 502-504) is retried until it is back.',
    }),
    maxRetryDelayMs: Type.Integer({
      minimum: 10,
      maximum: 3600000,
      default: 30000,
      description:
        'Longest wait between two attempts (exponential backoff with jitter; Retry-After is honoured up to 10× this).',
    }),
    memoryQueuePoints: Type.Integer({
      minimum: 1,
      default: 50000,
      description: 'Points kept in memory while the server is away before they are spilled to disk.',
    }),
    spoolDir: Type.String({
      minLength: 1,
      default: 'var/spool/influx',
      description: 'Directory for points spilled to disk.',
    }),
    maxSpoolBytes: Type.Integer({
      minimum: 0,
      default: 268435456,
      description:
        'Disk spool limit in bytes (256 MiB). Beyond it, the oldest points are dropped and counted.',
    }),
    segmentBytes: Type.Integer({
      minimum: 4096,
      default: 4194304,
      description: 'Spool segment file size (4 MiB).',
    }),
    syncIntervalMs: Type.Integer({
      minimum: 0,
      maximum: 60000,
      default: 1000,
      description:
        'Durability bound, ms: a point accepted and not written to the server within this time is written to the spool and fdatasynced, so a crash (kill -9, power loss) loses at most this much. 0 turns it off (spill only past memoryQueuePoints).',
    }),
    imuDownsampleHz: Type.Number({
      minimum: 0,
      maximum: 1000,
      default: 0,
      description: 'Write raw IMU averaged to this rate as measurement `imu`; 0 writes none.',
    }),
    imuRaw: Type.Boolean({
      default: false,
      description:
        'Write every raw IMU sample as its own `imu` point at its own time (device clock mapped to the gateway clock); takes precedence over imuDownsampleHz.',
    }),
    statsIntervalMs: Type.Integer({
      minimum: 0,
      default: 10000,
      description: "Period of the sink's own `pipeline` point (stage sink:influx); 0 writes none.",
    }),
    drainTimeoutMs: Type.Integer({
      minimum: 0,
      default: 5000,
      description: 'On stop, how long to keep writing before the rest is spooled for the next start.',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'InfluxDB sink: line protocol over /api/v2/write, batched, buffered on disk while the server is away.',
  },
);

export type InfluxOptions = Static<typeof InfluxOptionsSchema>;

/** Where writes go: the query string of /api/v2/write and the Authorization token. */
export interface InfluxTarget {
  readonly org: string;
  readonly bucket: string;
  readonly token: string | undefined;
  /** `2.x/3.x` (bucket given) or `1.8+` (database given), for logs and /health. */
  readonly flavour: '2.x/3.x' | '1.8+';
}

/** Checks what the schema cannot express (bucket xor database) and names the keys. */
export function resolveInfluxTarget(
  opts: Pick<InfluxOptions, 'org' | 'bucket' | 'database' | 'retentionPolicy' | 'token'>,
  keyPrefix = 'influx',
): InfluxTarget {
  if (opts.bucket !== undefined && opts.database !== undefined)
    throw new GatewayError(
      'INFLUX_CONFIG',
      `${keyPrefix}.bucket and ${keyPrefix}.database are both set: give bucket for InfluxDB 2.x/3.x, or database (and retentionPolicy) for 1.8+`,
    );
  if (opts.bucket !== undefined) {
    if (opts.retentionPolicy !== undefined)
      throw new GatewayError(
        'INFLUX_CONFIG',
        `${keyPrefix}.retentionPolicy applies only with ${keyPrefix}.database (InfluxDB 1.8+)`,
      );
    return { org: opts.org, bucket: opts.bucket, token: opts.token, flavour: '2.x/3.x' };
  }
  if (opts.database !== undefined) {
    const bucket =
      opts.retentionPolicy === undefined ? opts.database : `${opts.database}/${opts.retentionPolicy}`;
    return { org: opts.org, bucket, token: opts.token, flavour: '1.8+' };
  }
  throw new GatewayError(
    'INFLUX_CONFIG',
    `${keyPrefix}: set bucket (InfluxDB 2.x/3.x) or database (InfluxDB 1.8+)`,
  );
}
