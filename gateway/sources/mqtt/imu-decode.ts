import { Ajv, type ValidateFunction } from 'ajv';
import ingestSchema from '../../../config/schemas/mqtt-ingest-imu.schema.json' with { type: 'json' };
import { IMU_CHANNELS, type Placement } from '../../domain/samples.ts';
import type { TimeNs } from '../../domain/time.ts';
import { scanImuJson } from './imu-json-scan.ts';

/*
 * Pure decoders for IMU messages from phones and watches: JSON (config/schemas/
 * mqtt-ingest-imu.schema.json) and the compact binary MJI1 format (docs/mqtt.md). Output is
 * canonical units (m/s², rad/s) and sample times in ns; the times are on the DEVICE clock
 * when the message carries t0, and mapping device clocks is the pipeline's job.
 */

export const STANDARD_GRAVITY = 9.80665;
export const DEG_TO_RAD = Math.PI / 180;

export type IngestRejectReason =
  | 'empty'
  | 'unknown_format'
  | 'json_syntax'
  | 'json_schema'
  | 'length_mismatch'
  | 'too_many_samples'
  | 'non_finite'
  | 'time_not_ascending'
  | 'binary_header'
  | 'binary_length'
  | 'bad_topic';

export interface DecodedImu {
  readonly format: 'json' | 'binary';
  /** Sample times, ns, strictly ascending. */
  readonly tNs: Float64Array;
  /** Interleaved ax, ay, az [m/s²], gx, gy, gz [rad/s]; length 6·n. */
  readonly values: Float32Array;
  /** True: tNs are on the device's clock. False: the message had no time, tNs are gateway clock (last sample = arrival). */
  readonly deviceClock: boolean;
  readonly placement?: Placement;
  readonly seq?: number;
}

export type DecodeResult =
  | { readonly ok: true; readonly imu: DecodedImu }
  | { readonly ok: false; readonly reason: IngestRejectReason; readonly message: string };

export interface DecodeContext {
  /** Gateway clock at arrival, for messages without device time. */
  readonly receivedNs: TimeNs;
  readonly maxSamples: number;
  /**
   * JSON: try the one-pass scan (imu-json-scan.ts) before JSON.parse + Ajv (default true;
   * config ingest.jsonFastPath). Same results either way; false measures the general path.
   */
  readonly jsonFastPath?: boolean;
}

const reject = (reason: IngestRejectReason, message: string): DecodeResult => ({
  ok: false,
  reason,
  message,
});

/** Placement codes of the binary format, index = code. */
export const PLACEMENT_CODES = [
  'unknown',
  'wrist',
  'thigh',
  'chest',
  'ankle',
  'waist',
  'upper_arm',
  'pocket',
] as const satisfies readonly Placement[];

export function decodeImuMessage(payload: Buffer, ctx: DecodeContext): DecodeResult {
  if (payload.length === 0) return reject('empty', 'empty payload');
  // "MJI" compared byte by byte: no string per message.
  if (payload.length >= 4 && payload[0] === 0x4d && payload[1] === 0x4a && payload[2] === 0x49)
    return decodeImuBinary(payload, ctx);
  let i = 0;
  while (
    i < payload.length &&
    (payload[i] === 0x20 || payload[i] === 0x0a || payload[i] === 0x0d || payload[i] === 0x09)
  )
    i++;
  if (payload[i] === 0x7b) return decodeImuJson(payload, ctx);
  return reject(
    'unknown_format',
    `payload is neither JSON (starts with "{") nor binary (starts with "MJI1"); first byte 0x${payload[0]!.toString(16).padStart(2, '0')}`,
  );
}

// --- JSON ----------------------------------------------------------------------------------

interface ImuJson {
  v: 1;
  t0Ns?: number | string;
  tMs?: number[];
  tNs?: number[];
  rateHz?: number;
  acc: number[][];
  gyro: number[][];
  accUnit?: 'm/s2' | 'g';
  gyroUnit?: 'rad/s' | 'deg/s';
  placement?: Placement;
  seq?: number;
}

let validateJson: ValidateFunction<ImuJson> | undefined;

function jsonValidator(): ValidateFunction<ImuJson> {
  // strict: false: the schema's descriptive keywords (e.g. `default` inside enums) are fine.
  validateJson ??= new Ajv({ allErrors: false, strict: false }).compile<ImuJson>(ingestSchema);
  return validateJson;
}

export function decodeImuJson(payload: Buffer, ctx: DecodeContext): DecodeResult {
  if (ctx.jsonFastPath !== false) {
    const s = scanImuJson(payload, ctx.maxSamples);
    if (s !== undefined) return finish('json', s.values, s.tNs, s.t0Ns, ctx, s.placement, s.seq);
  }
  return decodeImuJsonGeneric(payload, ctx);
}

/** JSON.parse + Ajv: every message the scan does not take, and every rejection. */
export function decodeImuJsonGeneric(payload: Buffer, ctx: DecodeContext): DecodeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return reject('json_syntax', `not JSON: ${(err as Error).message}`);
  }
  const validate = jsonValidator();
  if (!validate(parsed)) {
    const e = validate.errors?.[0];
    return reject(
      'json_schema',
      `does not match mqtt-ingest-imu.schema.json: ${e ? `${e.instancePath || '(root)'} ${e.message ?? ''}` : 'invalid'}`,
    );
  }
  const m = parsed;
  const n = m.acc.length;
  if (n > ctx.maxSamples)
    return reject(
      'too_many_samples',
      `${n} samples, more than ingest.maxSamplesPerMessage (${ctx.maxSamples})`,
    );
  if (m.gyro.length !== n) return reject('length_mismatch', `acc has ${n} samples, gyro ${m.gyro.length}`);
  const offsets = m.tMs ?? m.tNs;
  if (offsets && offsets.length !== n)
    return reject('length_mismatch', `acc has ${n} samples, ${m.tMs ? 'tMs' : 'tNs'} ${offsets.length}`);
  const accScale = m.accUnit === 'g' ? STANDARD_GRAVITY : 1;
  const gyroScale = m.gyroUnit === 'deg/s' ? DEG_TO_RAD : 1;
  const values = new Float32Array(n * IMU_CHANNELS);
  for (let i = 0; i < n; i++) {
    const a = m.acc[i]!;
    const g = m.gyro[i]!;
    const o = i * IMU_CHANNELS;
    values[o] = a[0]! * accScale;
    values[o + 1] = a[1]! * accScale;
    values[o + 2] = a[2]! * accScale;
    values[o + 3] = g[0]! * gyroScale;
    values[o + 4] = g[1]! * gyroScale;
    values[o + 5] = g[2]! * gyroScale;
  }
  const tNs = new Float64Array(n);
  if (m.tMs) for (let i = 0; i < n; i++) tNs[i] = m.tMs[i]! * 1e6;
  else if (m.tNs) for (let i = 0; i < n; i++) tNs[i] = m.tNs[i]!;
  else for (let i = 0; i < n; i++) tNs[i] = (i * 1e9) / m.rateHz!;
  const base = m.t0Ns === undefined ? undefined : Number(m.t0Ns);
  return finish('json', values, tNs, base, ctx, m.placement, m.seq);
}

// --- binary (MJI1) ---------------------------------------------------------------------------

export const BINARY_HEADER_BYTES = 32;
/** "MJI1" read as a big-endian uint32: compared without building a string per message. */
const MJI1_MAGIC = 0x4d4a4931;
export const FLAG_INT16 = 1;
export const FLAG_OFFSETS = 2;
export const FLAG_NO_DEVICE_TIME = 4;
const KNOWN_FLAGS = FLAG_INT16 | FLAG_OFFSETS | FLAG_NO_DEVICE_TIME;

export function decodeImuBinary(payload: Buffer, ctx: DecodeContext): DecodeResult {
  if (payload.length < BINARY_HEADER_BYTES)
    return reject(
      'binary_header',
      `${payload.length} bytes, shorter than the ${BINARY_HEADER_BYTES}-byte MJI1 header`,
    );
  if (payload.readUInt32BE(0) !== MJI1_MAGIC) {
    const magic = payload.toString('latin1', 0, 4);
    return reject(
      'binary_header',
      `magic ${JSON.stringify(magic)}, expected "MJI1" (only version 1 is known)`,
    );
  }
  const flags = payload.readUInt8(4);
  if ((flags & ~KNOWN_FLAGS) !== 0)
    return reject('binary_header', `unknown flag bits 0x${(flags & ~KNOWN_FLAGS).toString(16)}`);
  const placementCode = payload.readUInt8(5);
  if (placementCode >= PLACEMENT_CODES.length)
    return reject(
      'binary_header',
      `placement code ${placementCode} unknown (0..${PLACEMENT_CODES.length - 1})`,
    );
  const n = payload.readUInt16LE(6);
  if (n === 0) return reject('binary_header', 'sample count is 0');
  if (n > ctx.maxSamples)
    return reject(
      'too_many_samples',
      `${n} samples, more than ingest.maxSamplesPerMessage (${ctx.maxSamples})`,
    );
  // Two 32-bit halves instead of a BigInt per message; hi·2³² + lo rounds once, like Number(bigint).
  const t0Hi = payload.readInt32LE(12);
  const t0 = t0Hi * 4294967296 + payload.readUInt32LE(8);
  const rateHz = payload.readFloatLE(16);
  const accScale = payload.readFloatLE(20);
  const gyroScale = payload.readFloatLE(24);
  const seq = payload.readUInt32LE(28);
  const int16 = (flags & FLAG_INT16) !== 0;
  const hasOffsets = (flags & FLAG_OFFSETS) !== 0;
  const sampleBytes = IMU_CHANNELS * (int16 ? 2 : 4);
  const expected = BINARY_HEADER_BYTES + n * sampleBytes + (hasOffsets ? n * 4 : 0);
  if (payload.length !== expected)
    return reject(
      'binary_length',
      `${payload.length} bytes, expected ${expected} for ${n} ${int16 ? 'int16' : 'float32'} samples${hasOffsets ? ' with offsets' : ''}`,
    );
  if (!hasOffsets && !(rateHz > 0 && rateHz <= 10000))
    return reject(
      'binary_header',
      `rateHz ${rateHz} must be in (0, 10000] when no per-sample offsets are sent`,
    );
  if (int16 && !(accScale > 0 && gyroScale > 0 && Number.isFinite(accScale) && Number.isFinite(gyroScale))) {
    return reject('binary_header', `int16 samples need positive scales (acc ${accScale}, gyro ${gyroScale})`);
  }
  if (!(flags & FLAG_NO_DEVICE_TIME) && t0Hi < 0)
    return reject('binary_header', `t0 ${payload.readBigInt64LE(8)} ns is negative`);
  const values = new Float32Array(n * IMU_CHANNELS);
  let o = BINARY_HEADER_BYTES;
  if (int16) {
    for (let i = 0; i < n * IMU_CHANNELS; i += IMU_CHANNELS, o += 2 * IMU_CHANNELS) {
      values[i] = payload.readInt16LE(o) * accScale;
      values[i + 1] = payload.readInt16LE(o + 2) * accScale;
      values[i + 2] = payload.readInt16LE(o + 4) * accScale;
      values[i + 3] = payload.readInt16LE(o + 6) * gyroScale;
      values[i + 4] = payload.readInt16LE(o + 8) * gyroScale;
      values[i + 5] = payload.readInt16LE(o + 10) * gyroScale;
    }
  } else {
    for (let i = 0; i < n * IMU_CHANNELS; i++, o += 4) values[i] = payload.readFloatLE(o);
  }
  // The offsets go straight into tNs; finish() adds the base in place.
  const tNs = new Float64Array(n);
  if (hasOffsets) for (let i = 0; i < n; i++, o += 4) tNs[i] = payload.readUInt32LE(o) * 1000;
  else for (let i = 0; i < n; i++) tNs[i] = (i * 1e9) / rateHz;
  const base = flags & FLAG_NO_DEVICE_TIME ? undefined : t0;
  const placement = placementCode === 0 ? undefined : PLACEMENT_CODES[placementCode];
  return finish('binary', values, tNs, base, ctx, placement, seq);
}

export interface EncodeImuBinaryInput {
  /** Interleaved ax, ay, az [m/s²], gx, gy, gz [rad/s]; length 6·n. */
  readonly values: Float32Array | readonly number[];
  /** Device-clock time of the first sample, ns; absent: the gateway stamps arrival. */
  readonly t0Ns?: bigint;
  readonly rateHz?: number;
  /** Per-sample offsets from t0, µs (then rateHz is informational). */
  readonly offsetsUs?: readonly number[];
  readonly encoding: 'int16' | 'float32';
  /** m/s² and rad/s per LSB, for int16. Defaults cover ±16 g and ±2000 °/s. */
  readonly accScale?: number;
  readonly gyroScale?: number;
  readonly placement?: Placement;
  readonly seq?: number;
}

export const DEFAULT_ACC_SCALE = (16 * STANDARD_GRAVITY) / 32767;
export const DEFAULT_GYRO_SCALE = (2000 * DEG_TO_RAD) / 32767;

/** The reference encoder of MJI1 (what a phone app does), used by tests and the benchmark. */
export function encodeImuBinary(input: EncodeImuBinaryInput): Buffer {
  const n = input.values.length / IMU_CHANNELS;
  if (!Number.isInteger(n) || n < 1 || n > 0xffff)
    throw new RangeError(`values length ${input.values.length} is not 6·n with 1 ≤ n ≤ 65535`);
  const int16 = input.encoding === 'int16';
  const hasOffsets = input.offsetsUs !== undefined;
  if (hasOffsets && input.offsetsUs!.length !== n)
    throw new RangeError(`offsetsUs has ${input.offsetsUs!.length} entries, expected ${n}`);
  const accScale = input.accScale ?? DEFAULT_ACC_SCALE;
  const gyroScale = input.gyroScale ?? DEFAULT_GYRO_SCALE;
  const flags =
    (int16 ? FLAG_INT16 : 0) |
    (hasOffsets ? FLAG_OFFSETS : 0) |
    (input.t0Ns === undefined ? FLAG_NO_DEVICE_TIME : 0);
  const buf = Buffer.alloc(
    BINARY_HEADER_BYTES + n * IMU_CHANNELS * (int16 ? 2 : 4) + (hasOffsets ? n * 4 : 0),
  );
  buf.write('MJI1', 0, 'latin1');
  buf.writeUInt8(flags, 4);
  buf.writeUInt8(Math.max(0, PLACEMENT_CODES.indexOf(input.placement ?? 'unknown')), 5);
  buf.writeUInt16LE(n, 6);
  buf.writeBigInt64LE(input.t0Ns ?? 0n, 8);
  buf.writeFloatLE(input.rateHz ?? 0, 16);
  buf.writeFloatLE(int16 ? accScale : 0, 20);
  buf.writeFloatLE(int16 ? gyroScale : 0, 24);
  buf.writeUInt32LE((input.seq ?? 0) >>> 0, 28);
  let o = BINARY_HEADER_BYTES;
  for (let i = 0; i < input.values.length; i++) {
    const v = input.values[i]!;
    if (int16) {
      const q = Math.round(v / (i % IMU_CHANNELS < 3 ? accScale : gyroScale));
      buf.writeInt16LE(Math.max(-32768, Math.min(32767, q)), o);
      o += 2;
    } else {
      buf.writeFloatLE(v, o);
      o += 4;
    }
  }
  if (hasOffsets) {
    for (const us of input.offsetsUs!) {
      buf.writeUInt32LE(us >>> 0, o);
      o += 4;
    }
  }
  return buf;
}

// --- common ----------------------------------------------------------------------------------

/**
 * Checks the samples and turns `tNs` (offsets from the first sample's base, ns) into sample
 * times in place: the array is the decoder's own, so no second one is allocated.
 */
function finish(
  format: 'json' | 'binary',
  values: Float32Array,
  tNs: Float64Array,
  deviceT0: number | undefined,
  ctx: DecodeContext,
  placement: Placement | undefined,
  seq: number | undefined,
): DecodeResult {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!))
      return reject(
        'non_finite',
        `sample ${Math.floor(i / IMU_CHANNELS)} channel ${i % IMU_CHANNELS} is not a finite float32`,
      );
  }
  for (let i = 1; i < tNs.length; i++) {
    if (!(tNs[i]! > tNs[i - 1]!))
      return reject('time_not_ascending', `sample ${i} is not later than sample ${i - 1}`);
  }
  const n = tNs.length;
  const base = deviceT0 ?? ctx.receivedNs - tNs[n - 1]!;
  for (let i = 0; i < n; i++) tNs[i] = base + tNs[i]!;
  const deviceClock = deviceT0 !== undefined;
  // Optional fields absent rather than undefined, without spreading a temporary object per message.
  const imu: DecodedImu =
    placement === undefined
      ? seq === undefined
        ? { format, tNs, values, deviceClock }
        : { format, tNs, values, deviceClock, seq }
      : seq === undefined
        ? { format, tNs, values, deviceClock, placement }
        : { format, tNs, values, deviceClock, placement, seq };
  return { ok: true, imu };
}
