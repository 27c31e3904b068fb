// Long file: one scanner for one message format (keys, rows, numbers exact to the bit, every schema rule), kept together so the fallback's boundary is in one place.
import ingestSchema from '../../../config/schemas/mqtt-ingest-imu.schema.json' with { type: 'json' };
import type { Placement } from '../../domain/samples.ts';

/*
 * The fast path of the JSON ingest decoder: one pass over the payload bytes that writes the
 * numbers straight into typed arrays, for the messages phones actually send
 * (config/schemas/mqtt-ingest-imu.schema.json: flat object, known keys in any order, number
 * arrays, plain ASCII enum strings). It ACCEPTS ONLY what it fully understands and has checked
 * against every rule of the schema; for anything else (unknown or duplicate key, escapes,
 * non-ASCII, unexpected nesting, numbers out of range or non-finite, invalid JSON, lengths that
 * disagree, more samples than allowed) it returns undefined and the caller decodes the message
 * with JSON.parse + Ajv as before, so every rejection keeps its code and message.
 *
 * Why hand-written: at 1,000 devices × 5 msg/s, JSON.parse (a string of the whole payload,
 * an array per sample row, a heap number per value) + Ajv cost ~900–1,600 ns and 530 bytes
 * allocated per sample (bench/pipeline-stages, decode-json, `--before` the scan); with the
 * scan, 606 ns (529–1,020 on a loaded shared machine, before 913) and 48 bytes per sample —
 * the output typed arrays alone. No JavaScript JSON library parses into typed arrays without
 * building the object tree first; those that do (simdjson bindings) are native addons, and
 * the project must install without a compiler.
 *
 * Numbers equal JSON.parse's to the bit: a token of at most 15 significant digits with a
 * decimal exponent within ±22 is converted as m·10^e or m/10^e, where m (< 10^15 < 2^53) and
 * 10^|e| (≤ 10^22) are exact doubles, so the one IEEE multiplication or division rounds the
 * exact decimal value once, to nearest — the correctly rounded double JSON.parse returns
 * (Clinger's fast path). Integers of up to 19 digits (< 2^64) are built as two exact 32-bit
 * halves and added once. Sample values of 16–19 digits (what JSON.stringify writes for a
 * float32 widened to double) are approximated within 2^-51 and kept only when both ends of a
 * 2^-48 bracket round to the same float32 (see float32Of); everything else, and such values
 * near a float32 rounding edge, go through Number() on the exact token text.
 */

export interface ScannedImuJson {
  /** Interleaved ax, ay, az, gx, gy, gz, units applied, float32. */
  values: Float32Array;
  /** Offsets from the message's base, ns (what finish() turns into times). */
  tNs: Float64Array;
  t0Ns: number | undefined;
  placement: Placement | undefined;
  seq: number | undefined;
}

const STANDARD_GRAVITY = 9.80665;
const DEG_TO_RAD = Math.PI / 180;

const POW10 = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
  1e20, 1e21, 1e22,
];

// The schema's own list, so the scan accepts exactly the placements the fallback's Ajv does.
const PLACEMENTS = ingestSchema.properties.placement.enum as readonly Placement[];

// Key bits, also the "seen" mask (a duplicate key falls back: JSON.parse keeps the last).
const K_V = 1;
const K_T0 = 2;
const K_TMS = 4;
const K_TNS = 8;
const K_RATE = 16;
const K_ACC = 32;
const K_GYRO = 64;
const K_ACCUNIT = 128;
const K_GYROUNIT = 256;
const K_PLACEMENT = 512;
const K_SEQ = 1024;

// Scan state: module-level, one message at a time (the decoder is synchronous).
let buf: Buffer = Buffer.alloc(0);
let pos = 0;
let end = 0;
/** Growable scratch, reused across messages: rows of 3 (acc, gyro) and the time offsets. */
let accScratch = new Float64Array(96);
let gyroScratch = new Float64Array(96);
let timeScratch = new Float64Array(32);
/** Per acc/gyro number: start and end of its text when scanNumber was inexact, else -1. */
let accTokens = new Int32Array(192);
let gyroTokens = new Int32Array(192);

function skipWs(): void {
  while (pos < end) {
    const c = buf[pos]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
    pos++;
  }
}

/**
 * Set by scanNumber: the value returned is within 2^-51 (relative) of the double JSON.parse
 * gives, not necessarily equal (16–19 significant digits); tokenStart is where its text begins.
 */
let inexact = false;
let tokenStart = 0;
const TWO32 = 4294967296;

/**
 * Reads a JSON number at pos (strict grammar) into NUMBER[0]; false when the bytes are not
 * one or its value is not finite (both make the caller fall back). Exact (see the header)
 * unless it sets `inexact`; scanExactNumber() and the rows' check at the end settle those.
 * The value goes through a typed array, not a return value: a double returned from a call
 * V8 does not inline is boxed, one heap number (16 bytes) per number of every message.
 */
const NUMBER = new Float64Array(1);

function scanNumber(): boolean {
  // Locals, not the module's state, in the per-byte loops: kept in registers.
  const b = buf;
  const stop = end;
  let p = pos;
  const start = p;
  tokenStart = start;
  inexact = false;
  let neg = false;
  if (b[p] === 0x2d) {
    neg = true;
    p++;
  }
  let m = 0; // first 15 significant digits, exact
  let tail = 0; // the next up to 4, exact
  let tailLen = 0;
  let significant = 0;
  let exp10 = 0;
  let integer = true;
  const intStart = p;
  let c = b[p];
  if (c === 0x30) {
    p++;
  } else if (c !== undefined && c >= 0x31 && c <= 0x39) {
    while (p < stop && (c = b[p]!) >= 0x30 && c <= 0x39) {
      if (significant < 15) m = m * 10 + (c - 0x30);
      else if (significant < 19) {
        tail = tail * 10 + (c - 0x30);
        tailLen++;
      } else exp10++;
      significant++;
      p++;
    }
  } else return false;
  const intEnd = p;
  if (b[p] === 0x2e) {
    integer = false;
    p++;
    const fracStart = p;
    while (p < stop && (c = b[p]!) >= 0x30 && c <= 0x39) {
      if (significant === 0 && c === 0x30)
        exp10--; // leading zeros are not significant
      else {
        if (significant < 15) {
          m = m * 10 + (c - 0x30);
          exp10--;
        } else if (significant < 19) {
          tail = tail * 10 + (c - 0x30);
          tailLen++;
          exp10--;
        }
        significant++;
      }
      p++;
    }
    if (p === fracStart) return false;
  }
  c = b[p];
  if (c === 0x65 || c === 0x45) {
    integer = false;
    p++;
    let expNeg = false;
    c = b[p];
    if (c === 0x2b || c === 0x2d) {
      expNeg = c === 0x2d;
      p++;
    }
    const expStart = p;
    let e = 0;
    while (p < stop && (c = b[p]!) >= 0x30 && c <= 0x39) {
      if (e < 100000) e = e * 10 + (c - 0x30);
      p++;
    }
    if (p === expStart) return false;
    exp10 += expNeg ? -e : e;
  }
  let x: number;
  if (significant === 0) x = 0;
  else if (significant <= 15 && exp10 >= -22 && exp10 <= 22)
    x = exp10 >= 0 ? m * POW10[exp10]! : m / POW10[-exp10]!;
  else if (integer && significant <= 19) {
    // An integer below 10^19 < 2^64 as two exact 32-bit halves; hi·2^32 is exact, so the one
    // addition rounds once, to nearest: the correctly rounded double.
    let hi = 0;
    let lo = 0;
    for (let i = intStart; i < intEnd; i++) {
      lo = lo * 10 + (b[i]! - 0x30);
      const carry = Math.floor(lo / TWO32);
      lo -= carry * TWO32;
      hi = hi * 10 + carry;
    }
    x = hi * TWO32 + lo;
  } else if (significant <= 19 && exp10 >= -22 && exp10 <= 22) {
    // Three roundings (m·10^t, + tail, ·or/ 10^e): within 2^-51 of the exact value.
    const mantissa = m * POW10[tailLen]! + tail;
    x = exp10 >= 0 ? mantissa * POW10[exp10]! : mantissa / POW10[-exp10]!;
    inexact = true;
  } else {
    // Beyond: the token text itself.
    x = Number(b.toString('latin1', start, p));
    pos = p;
    NUMBER[0] = x;
    return Number.isFinite(x);
  }
  pos = p;
  NUMBER[0] = neg ? -x : x;
  return true;
}

/** scanNumber, always exactly JSON.parse's double (the token text when it was inexact). */
function scanExactTo(): boolean {
  if (!scanNumber()) return false;
  if (!inexact) return true;
  inexact = false;
  const x = Number(buf.toString('latin1', tokenStart, pos));
  NUMBER[0] = x;
  return Number.isFinite(x);
}

/** scanExactTo's value, NaN when there is none (for the once-per-message keys). */
function scanExactNumber(): number {
  return scanExactTo() ? NUMBER[0]! : NaN;
}

/**
 * The float32 of (JSON.parse's double)·scale, from an inexact x (within 2^-51 of that double):
 * fround(d·scale) is monotonic in d, so when both ends of x ± 2^-48·|x| give the same float32,
 * so does the double in between. Otherwise (near a float32 rounding edge) the token text.
 */
function float32Of(x: number, scale: number, start: number, stop: number): number {
  const margin = Math.abs(x) * 3.552713678800501e-15; // 2^-48
  const low = Math.fround((x - margin) * scale);
  if (low === Math.fround((x + margin) * scale)) return low;
  return Math.fround(Number(buf.toString('latin1', start, stop)) * scale);
}

/** Bytes of a string at pos (after its opening quote) if plain printable ASCII; else -1. */
function scanPlainString(): number {
  const start = pos;
  while (pos < end) {
    const c = buf[pos]!;
    if (c === 0x22) {
      pos++;
      return pos - 1 - start;
    }
    if (c === 0x5c || c < 0x20 || c >= 0x80) return -1;
    pos++;
  }
  return -1;
}

function bytesEqual(start: number, len: number, text: string): boolean {
  if (len !== text.length) return false;
  for (let i = 0; i < len; i++) if (buf[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

function keyBit(start: number, len: number): number {
  switch (len) {
    case 1:
      return buf[start] === 0x76 ? K_V : 0;
    case 3:
      if (bytesEqual(start, 3, 'tMs')) return K_TMS;
      if (bytesEqual(start, 3, 'tNs')) return K_TNS;
      if (bytesEqual(start, 3, 'acc')) return K_ACC;
      if (bytesEqual(start, 3, 'seq')) return K_SEQ;
      return 0;
    case 4:
      if (bytesEqual(start, 4, 't0Ns')) return K_T0;
      if (bytesEqual(start, 4, 'gyro')) return K_GYRO;
      return 0;
    case 6:
      return bytesEqual(start, 6, 'rateHz') ? K_RATE : 0;
    case 7:
      return bytesEqual(start, 7, 'accUnit') ? K_ACCUNIT : 0;
    case 8:
      return bytesEqual(start, 8, 'gyroUnit') ? K_GYROUNIT : 0;
    case 9:
      return bytesEqual(start, 9, 'placement') ? K_PLACEMENT : 0;
    default:
      return 0;
  }
}

/** `[[x,y,z],…]` into scratch (3 per row); the row count, or -1 to fall back. */
function scanRows(gyro: boolean, maxRows: number): number {
  if (buf[pos] !== 0x5b) return -1;
  pos++;
  skipWs();
  let rows = 0;
  if (buf[pos] === 0x5d) return -1; // minItems 1
  for (;;) {
    if (buf[pos] !== 0x5b || rows >= maxRows) return -1;
    pos++;
    let scratch = gyro ? gyroScratch : accScratch;
    let tokens = gyro ? gyroTokens : accTokens;
    if (scratch.length < (rows + 1) * 3) {
      const grown = new Float64Array(scratch.length * 2);
      grown.set(scratch);
      const grownTokens = new Int32Array(tokens.length * 2);
      grownTokens.set(tokens);
      if (gyro) {
        gyroScratch = grown;
        gyroTokens = grownTokens;
      } else {
        accScratch = grown;
        accTokens = grownTokens;
      }
      scratch = grown;
      tokens = grownTokens;
    }
    for (let k = 0; k < 3; k++) {
      skipWs();
      if (!scanNumber()) return -1;
      const j = rows * 3 + k;
      scratch[j] = NUMBER[0]!;
      tokens[2 * j] = inexact ? tokenStart : -1;
      tokens[2 * j + 1] = pos;
      skipWs();
      if (buf[pos] !== (k < 2 ? 0x2c : 0x5d)) return -1; // exactly 3 items
      pos++;
    }
    rows++;
    skipWs();
    const c = buf[pos];
    pos++;
    if (c === 0x5d) return rows;
    if (c !== 0x2c) return -1;
    skipWs();
  }
}

/** `[t,…]` into timeScratch; the count (0 allowed, as the schema allows), or -1. */
function scanTimes(integers: boolean, maxItems: number): number {
  if (buf[pos] !== 0x5b) return -1;
  pos++;
  skipWs();
  if (buf[pos] === 0x5d) {
    pos++;
    return 0;
  }
  let count = 0;
  for (;;) {
    if (count >= maxItems) return -1;
    if (!scanExactTo()) return -1;
    const x = NUMBER[0]!;
    if (x < 0 || (integers && !Number.isInteger(x))) return -1;
    if (timeScratch.length <= count) {
      const grown = new Float64Array(timeScratch.length * 2);
      grown.set(timeScratch);
      timeScratch = grown;
    }
    timeScratch[count++] = x;
    skipWs();
    const c = buf[pos];
    pos++;
    if (c === 0x5d) return count;
    if (c !== 0x2c) return -1;
    skipWs();
  }
}

/**
 * The message, when it is a schema-valid IMU message of the shape the scan knows and its
 * lengths agree and fit maxSamples; undefined otherwise (decode it the general way).
 */
export function scanImuJson(payload: Buffer, maxSamples: number): ScannedImuJson | undefined {
  buf = payload;
  pos = 0;
  end = payload.length;
  try {
    return scanObject(maxSamples);
  } finally {
    buf = EMPTY; // do not keep the last payload alive
  }
}
const EMPTY = Buffer.alloc(0);

function scanObject(maxSamples: number): ScannedImuJson | undefined {
  skipWs();
  if (buf[pos] !== 0x7b) return undefined;
  pos++;
  let seen = 0;
  let t0Ns: number | undefined;
  let rateHz = 0;
  let accRows = -1;
  let gyroRows = -1;
  let times = -1;
  let accScale = 1;
  let gyroScale = 1;
  let placement: Placement | undefined;
  let seq: number | undefined;
  // More rows than allowed: the general path reports too_many_samples (or what comes first).
  const limit = maxSamples;
  for (;;) {
    skipWs();
    if (buf[pos] !== 0x22) return undefined;
    pos++;
    const keyStart = pos;
    const keyLen = scanPlainString();
    if (keyLen < 0) return undefined;
    const bit = keyBit(keyStart, keyLen);
    if (bit === 0 || (seen & bit) !== 0) return undefined;
    seen |= bit;
    skipWs();
    if (buf[pos] !== 0x3a) return undefined;
    pos++;
    skipWs();
    switch (bit) {
      case K_V:
        if (scanExactNumber() !== 1) return undefined;
        break;
      case K_T0:
        if (buf[pos] === 0x22) {
          // "^[0-9]{1,19}$": digits only, then Number() of them as the general path does.
          pos++;
          const start = pos;
          while (pos < end && buf[pos]! >= 0x30 && buf[pos]! <= 0x39) pos++;
          const len = pos - start;
          if (buf[pos] !== 0x22 || len < 1 || len > 19) return undefined;
          pos = start;
          t0Ns = scanExactNumber(); // a digit string is a JSON integer token of the same value
          if (pos !== start + len) return undefined; // e.g. "0123": not one token
          pos++;
        } else {
          t0Ns = scanExactNumber();
          if (t0Ns !== t0Ns || t0Ns < 0 || !Number.isInteger(t0Ns)) return undefined;
        }
        break;
      case K_TMS:
      case K_TNS:
        times = scanTimes(bit === K_TNS, limit);
        if (times < 0) return undefined;
        break;
      case K_RATE:
        rateHz = scanExactNumber();
        if (!(rateHz > 0 && rateHz <= 10000)) return undefined;
        break;
      case K_ACC:
        accRows = scanRows(false, limit);
        if (accRows < 0) return undefined;
        break;
      case K_GYRO:
        gyroRows = scanRows(true, limit);
        if (gyroRows < 0) return undefined;
        break;
      case K_ACCUNIT: {
        if (buf[pos] !== 0x22) return undefined;
        pos++;
        const start = pos;
        const len = scanPlainString();
        if (bytesEqual(start, len, 'g')) accScale = STANDARD_GRAVITY;
        else if (!bytesEqual(start, len, 'm/s2')) return undefined;
        break;
      }
      case K_GYROUNIT: {
        if (buf[pos] !== 0x22) return undefined;
        pos++;
        const start = pos;
        const len = scanPlainString();
        if (bytesEqual(start, len, 'deg/s')) gyroScale = DEG_TO_RAD;
        else if (!bytesEqual(start, len, 'rad/s')) return undefined;
        break;
      }
      case K_PLACEMENT: {
        if (buf[pos] !== 0x22) return undefined;
        pos++;
        const start = pos;
        const len = scanPlainString();
        placement = PLACEMENTS.find((p) => bytesEqual(start, len, p));
        if (placement === undefined) return undefined;
        break;
      }
      case K_SEQ:
        seq = scanExactNumber();
        if (seq !== seq || seq < 0 || !Number.isInteger(seq)) return undefined;
        break;
    }
    skipWs();
    const c = buf[pos];
    pos++;
    if (c === 0x7d) break;
    if (c !== 0x2c) return undefined;
  }
  skipWs();
  if (pos !== end) return undefined; // trailing bytes: JSON.parse refuses them
  // The schema's required keys and its oneOf of timings: tMs, or tNs, or rateHz alone.
  if ((seen & (K_V | K_ACC | K_GYRO)) !== (K_V | K_ACC | K_GYRO)) return undefined;
  const hasTMs = (seen & K_TMS) !== 0;
  const hasTNs = (seen & K_TNS) !== 0;
  if (hasTMs ? hasTNs : !hasTNs && (seen & K_RATE) === 0) return undefined;
  // Past the schema, the general path's own checks: leave their messages to it.
  const n = accRows;
  if (n > maxSamples || gyroRows !== n || (times >= 0 && times !== n)) return undefined;
  const values = new Float32Array(n * 6);
  for (let i = 0, o = 0, r = 0; i < n; i++, o += 6, r += 3) {
    for (let k = 0; k < 3; k++) {
      const start = accTokens[2 * (r + k)]!;
      values[o + k] =
        start < 0
          ? accScratch[r + k]! * accScale
          : float32Of(accScratch[r + k]!, accScale, start, accTokens[2 * (r + k) + 1]!);
      const gStart = gyroTokens[2 * (r + k)]!;
      values[o + 3 + k] =
        gStart < 0
          ? gyroScratch[r + k]! * gyroScale
          : float32Of(gyroScratch[r + k]!, gyroScale, gStart, gyroTokens[2 * (r + k) + 1]!);
    }
  }
  const tNs = new Float64Array(n);
  if (hasTMs) for (let i = 0; i < n; i++) tNs[i] = timeScratch[i]! * 1e6;
  else if (hasTNs) for (let i = 0; i < n; i++) tNs[i] = timeScratch[i]!;
  else for (let i = 0; i < n; i++) tNs[i] = (i * 1e9) / rateHz;
  result.values = values;
  result.tNs = tNs;
  result.t0Ns = t0Ns;
  result.placement = placement;
  result.seq = seq;
  return result;
}

/** Reused: read at once by the decoder, which keeps only the typed arrays. */
const result: ScannedImuJson = {
  values: new Float32Array(0),
  tNs: new Float64Array(0),
  t0Ns: undefined,
  placement: undefined,
  seq: undefined,
};
