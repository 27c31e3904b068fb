/*
 * Byte encoders for the simulated devices, written from the vendors' published formats so
 * the real drivers' decoders see what a real device sends:
 * - Polar Measurement Data (PMD) service: polar-ble-sdk technical_documentation/online_measurement.pdf
 *   and documentation/TimeSystemExplained.md (frame = type, u64 ns since 2000-01-01, frame type,
 *   samples; bit 7 of the frame type = delta-compressed; control-point responses 0xF0).
 * - WitMotion WT901BLE (BLE 5.0): Bwt901bleResolver.java / Bwt901bleProcessor.java
 *   (20-byte packet 0x55 0x61, nine int16 LE: acc ±16 g, gyro ±2000 °/s, angle ±180°).
 * - Nordic Thingy:52 motion service (ble_tms.h): raw data = acc Q6.10 g, gyro Q11.5 °/s, compass Q12.4 µT.
 */

export const G = 9.80665;
const RAD_TO_DEG = 180 / Math.PI;

/** 2000-01-01T00:00:00Z in Unix ns: the Polar epoch. */
export const POLAR_EPOCH_UNIX_NS = 946_684_800n * 1_000_000_000n;

export const PMD = {
  service: 'fb005c8002e7f3871cad8acd2d8df0c8',
  controlPoint: 'fb005c8102e7f3871cad8acd2d8df0c8',
  data: 'fb005c8202e7f3871cad8acd2d8df0c8',
  measurement: { ecg: 0x00, ppg: 0x01, acc: 0x02, ppi: 0x03, gyro: 0x05, mag: 0x06 },
  op: { getSettings: 0x01, start: 0x02, stop: 0x03 },
  setting: { sampleRate: 0x00, resolution: 0x01, range: 0x02, channels: 0x04, factor: 0x05 },
} as const;

export interface PmdStartRequest {
  readonly measurement: number;
  readonly settings: ReadonlyMap<number, number>;
}

/** Parses a control-point write `[op, type, (setting, count, u16…)…]`. */
export function parsePmdCommand(
  data: Uint8Array,
): { op: number; measurement: number; settings: Map<number, number> } | null {
  if (data.length < 2) return null;
  const op = data[0]!;
  const measurement = data[1]!;
  const settings = new Map<number, number>();
  let i = 2;
  while (i + 2 <= data.length) {
    const type = data[i]!;
    const count = data[i + 1]!;
    i += 2;
    // Values are u16 LE, except the channel count which is one byte.
    const size = type === PMD.setting.channels ? 1 : 2;
    for (let k = 0; k < count && i + size <= data.length; k++) {
      settings.set(type, size === 1 ? data[i]! : data[i]! | (data[i + 1]! << 8));
      i += size;
    }
  }
  return { op, measurement, settings };
}

/** Control-point response: 0xF0, op, measurement, status (0 = success), more frames, then parameters. */
export function encodePmdResponse(
  op: number,
  measurement: number,
  status: number,
  parameters: Uint8Array = new Uint8Array(),
): Uint8Array {
  const out = new Uint8Array(5 + parameters.length);
  out.set([0xf0, op, measurement, status, 0]);
  out.set(parameters, 5);
  return out;
}

/** Setting 0x05 (factor), one float32 LE: the scale of a compressed stream's integer units. */
export function encodePmdFactor(factor: number): Uint8Array {
  const out = new Uint8Array(6);
  out[0] = PMD.setting.factor;
  out[1] = 1;
  new DataView(out.buffer).setFloat32(2, factor, true);
  return out;
}

function pmdHeader(
  measurement: number,
  lastSampleNs2000: bigint,
  frameType: number,
  payload: number,
): { buf: Uint8Array; dv: DataView } {
  const buf = new Uint8Array(10 + payload);
  const dv = new DataView(buf.buffer);
  buf[0] = measurement;
  dv.setBigUint64(1, lastSampleNs2000, true);
  buf[9] = frameType;
  return { buf, dv };
}

/** Uncompressed ACC frame type 0x01: int16 x,y,z per sample, mG. `xyz` in integer mG. */
export function encodePmdAccInt16(lastSampleNs2000: bigint, xyz: Int16Array): Uint8Array {
  const { buf, dv } = pmdHeader(PMD.measurement.acc, lastSampleNs2000, 0x01, xyz.length * 2);
  for (let i = 0; i < xyz.length; i++) dv.setInt16(10 + 2 * i, xyz[i]!, true);
  return buf;
}

/**
 * Delta-compressed frame (frame type 0x80 | `type`): a reference sample of int16 per channel,
 * then one block `[delta bit width, sample count]` + the deltas packed LSB-first,
 * channel by channel within each sample, two's complement in `width` bits.
 */
export function encodePmdCompressed(
  measurement: number,
  lastSampleNs2000: bigint,
  frameType: number,
  channels: number,
  samples: Int32Array,
): Uint8Array {
  const n = samples.length / channels;
  let maxAbs = 0;
  for (let s = 1; s < n; s++) {
    for (let c = 0; c < channels; c++) {
      maxAbs = Math.max(maxAbs, Math.abs(samples[s * channels + c]! - samples[(s - 1) * channels + c]!));
    }
  }
  // Width w holds −2^(w−1) … 2^(w−1)−1.
  let width = 1;
  while (maxAbs > 2 ** (width - 1) - 1 && width < 32) width++;
  if (width < 2) width = 2;
  const deltaCount = n - 1;
  const packedBits = deltaCount * channels * width;
  const payload = channels * 2 + (deltaCount > 0 ? 2 + Math.ceil(packedBits / 8) : 0);
  const { buf, dv } = pmdHeader(measurement, lastSampleNs2000, 0x80 | frameType, payload);
  for (let c = 0; c < channels; c++) dv.setInt16(10 + 2 * c, samples[c]!, true);
  if (deltaCount > 0) {
    let o = 10 + channels * 2;
    buf[o++] = width;
    buf[o++] = deltaCount;
    let bit = 0;
    for (let s = 1; s < n; s++) {
      for (let c = 0; c < channels; c++) {
        let d = samples[s * channels + c]! - samples[(s - 1) * channels + c]!;
        if (d < 0) d += 2 ** width;
        for (let b = 0; b < width; b++, bit++) {
          if (Math.floor(d / 2 ** b) % 2 === 1) buf[o + (bit >> 3)]! |= 1 << (bit & 7);
        }
      }
    }
  }
  return buf;
}

export const WIT = {
  service: '0000ffe500001000800000805f9a34fb',
  notify: '0000ffe400001000800000805f9a34fb',
  write: '0000ffe900001000800000805f9a34fb',
  /** Return-rate register codes (register 0x03) → Hz. */
  rates: new Map<number, number>([
    [0x01, 0.2],
    [0x02, 0.5],
    [0x03, 1],
    [0x04, 2],
    [0x05, 5],
    [0x06, 10],
    [0x07, 20],
    [0x08, 50],
    [0x09, 100],
    [0x0b, 200],
  ]),
} as const;

/** One WT901BLE data packet: 0x55 0x61, acc (±16 g), gyro (±2000 °/s), angle (±180°), int16 LE. */
export function encodeWitPacket(
  accMs2: readonly number[],
  gyroRads: readonly number[],
  angleDeg: readonly number[] = [0, 0, 0],
): Uint8Array {
  const buf = new Uint8Array(20);
  const dv = new DataView(buf.buffer);
  buf[0] = 0x55;
  buf[1] = 0x61;
  const q = (v: number, full: number): number =>
    Math.max(-32768, Math.min(32767, Math.round((v / full) * 32768)));
  for (let i = 0; i < 3; i++) {
    dv.setInt16(2 + 2 * i, q(accMs2[i]! / G, 16), true);
    dv.setInt16(8 + 2 * i, q(gyroRads[i]! * RAD_TO_DEG, 2000), true);
    dv.setInt16(14 + 2 * i, q(angleDeg[i]!, 180), true);
  }
  return buf;
}

/** Parses `FF AA <register> <lo> <hi>`; null for anything else. */
export function parseWitCommand(data: Uint8Array): { register: number; value: number } | null {
  if (data.length !== 5 || data[0] !== 0xff || data[1] !== 0xaa) return null;
  return { register: data[2]!, value: data[3]! | (data[4]! << 8) };
}

export const THINGY = {
  motionService: 'ef6804009b3549339b1052ffa9740042',
  config: 'ef6804019b3549339b1052ffa9740042',
  raw: 'ef6804069b3549339b1052ffa9740042',
} as const;

/** Thingy:52 raw motion data: acc Q6.10 g, gyro Q11.5 °/s, compass Q12.4 µT, int16 LE. */
export function encodeThingyRaw(
  accMs2: readonly number[],
  gyroRads: readonly number[],
  magUt: readonly number[] = [0, 0, 0],
): Uint8Array {
  const buf = new Uint8Array(18);
  const dv = new DataView(buf.buffer);
  const q = (v: number, fracBits: number): number =>
    Math.max(-32768, Math.min(32767, Math.round(v * 2 ** fracBits)));
  for (let i = 0; i < 3; i++) {
    dv.setInt16(2 * i, q(accMs2[i]! / G, 10), true);
    dv.setInt16(6 + 2 * i, q(gyroRads[i]! * RAD_TO_DEG, 5), true);
    dv.setInt16(12 + 2 * i, q(magUt[i]!, 4), true);
  }
  return buf;
}

/** Thingy:52 motion config: step interval, temp comp interval, magnet comp interval, motion freq (u16 LE each), wake on motion (u8). */
export function parseThingyConfig(data: Uint8Array): { motionHz: number } | null {
  if (data.length < 8) return null;
  return { motionHz: data[6]! | (data[7]! << 8) };
}
