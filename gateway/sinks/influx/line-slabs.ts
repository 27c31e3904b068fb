import type { ImuChunk } from '../../domain/samples.ts';
import { IMU_CHANNELS } from '../../domain/samples.ts';
import { imuPrefix, imuValue } from './line-protocol.ts';

/*
 * Raw IMU line protocol written straight into large byte slabs, for the sink's memory queue
 * and request bodies. At 1,000 devices × 50 Hz the `imu` lines are almost everything the
 * sink writes; built as strings, each value, field, line and chunk was a string of its own
 * (a cons-string tree the GC traced and flattened: GC was 40 % of a sink-only benchmark).
 * Here a value's digits go into the slab as bytes, with no string in between: the bytes are
 * those of `imuSampleLines` (same layout, same 9-digit values — the unit tests compare the
 * two), the queue holds a slab range per chunk, and consecutive chunks are one contiguous
 * range, which is the request body without a copy.
 */

/** Where a chunk's lines are: `slab[start, end)`, each line ending in `\n`. */
export interface SlabRange {
  readonly slab: Buffer;
  readonly start: number;
  readonly end: number;
  /** Lines written. */
  readonly count: number;
  /** Samples with no finite value (they have no line). */
  readonly skipped: number;
}

/** Field keys `ax=` … `gz=` as the two letters' codes (the `=` is written with them). */
const FIELD_KEY_CODES = ['ax', 'ay', 'az', 'gx', 'gy', 'gz'].map(
  (k) => [k.charCodeAt(0), k.charCodeAt(1)] as const,
);
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
/** Digits of a timestamp, a value and the separators at most, beyond the line's tag prefix. */
const MAX_LINE_BYTES_AFTER_PREFIX = 6 * (4 + 24) + 1 + 21 + 1;
/** Tag prefixes kept (device × subject); the cache starts over beyond this. */
const MAX_PREFIXES = 20_000;

/** Writes the non-negative integer `n` (< 2^53) in decimal at `o`; returns the end. */
function writeUint(buf: Buffer, o: number, n: number): number {
  let len = 1;
  while (len < 16 && n >= POW10[len]!) len++;
  writeDigits(buf, o + len, n, len);
  return o + len;
}

/** `n` (< 10^width) with leading zeros to `width` digits. */
function writePadded(buf: Buffer, o: number, n: number, width: number): number {
  writeDigits(buf, o + width, n, width);
  return o + width;
}

/** The last `width` digits of `n`, ending just before `end`; small integers in int32 arithmetic. */
function writeDigits(buf: Buffer, end: number, n: number, width: number): void {
  let i = end - 1;
  const stop = end - width;
  for (; i >= stop && n > 0x7fffffff; i--) {
    const q = Math.floor(n / 10);
    buf[i] = 48 + (n - q * 10);
    n = q;
  }
  let m = n | 0;
  for (; i >= stop; i--) {
    const q = (m / 10) | 0;
    buf[i] = 48 + (m - q * 10);
    m = q;
  }
}

/**
 * A nanosecond timestamp as the exact integer of the rounded double (what
 * `BigInt(Math.round(t)).toString()` makes), without a BigInt: seconds and nanoseconds apart.
 * Exact for times up to 4.6e18 ns (year 2115): seconds × 1e9 stays an exact double there.
 */
export function writeTimestamp(buf: Buffer, o: number, tNs: number): number {
  const t = Math.round(tNs);
  if (t >= 0 && t <= Number.MAX_SAFE_INTEGER) return writeUint(buf, o, t);
  if (!(t > 0 && t < 4.6e18)) return o + buf.write(BigInt(t).toString(), o, 'latin1');
  let s = Math.floor(t / 1e9);
  let ns = t - s * 1e9;
  if (ns < 0) {
    s--;
    ns += 1e9;
  } else if (ns >= 1e9) {
    s++;
    ns -= 1e9;
  }
  return writePadded(buf, writeUint(buf, o, s), ns, 9);
}

/**
 * A sample value as `imuValue` writes it (9 significant digits, trailing zeros dropped):
 * the 9 digits as one integer, rounded once, written digit by digit. Values outside
 * [1e-6, 1e8) (where toPrecision would switch to an exponent, or round an integer part) are rare and go through `imuValue`.
 */
export function writeImuValue(buf: Buffer, o: number, value: number): number {
  let v = value;
  if (v < 0) {
    buf[o++] = 45; // '-'
    v = -v;
  }
  if (Number.isInteger(v) && v <= Number.MAX_SAFE_INTEGER) return writeUint(buf, o, v);
  if (!(v >= 1e-6 && v < 1e8)) return o + buf.write(imuValue(v), o, 'latin1');
  let decimals = 8 - Math.floor(Math.log10(v));
  let m = Math.round(v * POW10[decimals]!);
  if (m >= 1e9) m = Math.round(v * POW10[--decimals]!);
  else if (m < 1e8) m = Math.round(v * POW10[++decimals]!);
  while (decimals > 0 && m % 10 === 0) {
    m /= 10;
    decimals--;
  }
  const scale = POW10[decimals]!;
  const whole = Math.floor(m / scale);
  o = writeUint(buf, o, whole);
  if (decimals === 0) return o;
  buf[o++] = 46; // '.'
  return writePadded(buf, o, m - whole * scale, decimals);
}

export class LineSlabs {
  private slab: Buffer;
  private at = 0;
  private readonly prefixes = new Map<string, Buffer>();

  constructor(
    private readonly gateway: string,
    private readonly slabBytes = 1024 * 1024,
  ) {
    this.slab = Buffer.allocUnsafe(slabBytes);
  }

  /** The lines of `chunk`'s samples (each at its own time), as `imuSampleLines` makes them. */
  imuChunk(chunk: ImuChunk): SlabRange {
    const prefix = this.prefix(chunk.sourceId, chunk.subjectId);
    const samples = chunk.tNs.length;
    this.reserve(samples * (prefix.length + MAX_LINE_BYTES_AFTER_PREFIX));
    const buf = this.slab;
    const start = this.at;
    let o = start;
    let count = 0;
    let skipped = 0;
    const values = chunk.values;
    for (let i = 0; i < samples; i++) {
      const lineStart = o;
      // Byte by byte: a tag prefix is a few dozen bytes, below what Buffer#copy pays per call.
      for (let k = 0; k < prefix.length; k++) buf[o++] = prefix[k]!;
      let fields = 0;
      for (let c = 0; c < IMU_CHANNELS; c++) {
        const v = values[i * IMU_CHANNELS + c];
        if (v === undefined || !Number.isFinite(v)) continue;
        if (fields++ > 0) buf[o++] = 44; // ','
        const key = FIELD_KEY_CODES[c]!;
        buf[o++] = key[0];
        buf[o++] = key[1];
        buf[o++] = 61; // '='
        o = writeImuValue(buf, o, v);
      }
      if (fields === 0) {
        o = lineStart;
        skipped++;
        continue;
      }
      buf[o++] = 32; // ' '
      o = writeTimestamp(buf, o, chunk.tNs[i] as number);
      buf[o++] = 10; // '\n'
      count++;
    }
    this.at = o;
    return { slab: buf, start, end: o, count, skipped };
  }

  private prefix(device: string, subject: string | undefined): Buffer {
    const key = subject === undefined ? device : `${device}\u0000${subject}`;
    let p = this.prefixes.get(key);
    if (!p) {
      if (this.prefixes.size >= MAX_PREFIXES) this.prefixes.clear();
      p = Buffer.from(imuPrefix(this.gateway, device, subject), 'utf8');
      this.prefixes.set(key, p);
    }
    return p;
  }

  /** Room for `bytes` more; a full slab is left to the ranges that still point into it. */
  private reserve(bytes: number): void {
    if (this.at + bytes <= this.slab.length) return;
    this.slab = Buffer.allocUnsafe(Math.max(this.slabBytes, bytes));
    this.at = 0;
  }
}
