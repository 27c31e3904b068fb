/*
 * Test-side encoders: build notifications from the documented formats
 * (docs/ble-protocols.md), independently of the decoders, so round-trip
 * properties check the decoders against the documents rather than against themselves.
 * Also used by bench/ble-decode to produce realistic streams.
 */

export const G = 9.80665;
export const D2R = Math.PI / 180;

export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/[^0-9a-fA-F]/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function concatBytes(...parts: (Uint8Array | number[])[]): Uint8Array {
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function le(value: number, bytes: number): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(bytes * 8, BigInt(Math.trunc(value)));
  for (let i = 0; i < bytes; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

// --- Polar PMD ---------------------------------------------------------------------------

/** PMD header: type, u64 LE ns since 2000-01-01 (as bigint), frame-type byte. */
export function pmdHeader(type: number, tsPmdNs: bigint, frameType: number, compressed: boolean): number[] {
  const ts: number[] = [];
  let v = tsPmdNs;
  for (let i = 0; i < 8; i++) {
    ts.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return [type, ...ts, (compressed ? 0x80 : 0) | frameType];
}

/** Uncompressed frame of integer samples (each [x,y,z]) with `size`-byte LE ints. */
export function pmdRawFrame(
  type: number,
  tsPmdNs: bigint,
  frameType: number,
  size: number,
  samples: number[][],
): Uint8Array {
  return Uint8Array.from([
    ...pmdHeader(type, tsPmdNs, frameType, false),
    ...samples.flatMap((s) => s.flatMap((v) => le(v, size))),
  ]);
}

/** LSB-first bit writer. */
class BitWriter {
  readonly bytes: number[] = [];
  private bit = 0;
  write(value: number, width: number): void {
    let v = BigInt.asUintN(width, BigInt(value));
    for (let i = 0; i < width; i++) {
      const byteIndex = this.bit >> 3;
      if (byteIndex >= this.bytes.length) this.bytes.push(0);
      if (v & 1n) this.bytes[byteIndex]! |= 1 << (this.bit & 7);
      v >>= 1n;
      this.bit++;
    }
  }
}

/**
 * Delta-compressed content: reference sample (`refBytes` per channel), then one block per
 * entry of `blocks` ({width, count}); the deltas come from consecutive `samples`.
 * samples.length must be 1 + Σcount, and each delta must fit its width.
 */
export function pmdDeltaContent(
  samples: number[][],
  refBytes: number,
  blocks: { width: number; count: number }[],
): number[] {
  const out: number[] = samples[0]!.flatMap((v) => le(v, refBytes));
  let s = 1;
  for (const b of blocks) {
    out.push(b.width, b.count);
    const w = new BitWriter();
    for (let k = 0; k < b.count; k++, s++) {
      for (let c = 0; c < samples[s]!.length; c++) w.write(samples[s]![c]! - samples[s - 1]![c]!, b.width);
    }
    out.push(...w.bytes.slice(0, Math.ceil((b.count * samples[0]!.length * b.width) / 8)));
  }
  return out;
}

/** Smallest two's-complement width (≥ 1) holding every delta of `samples[from..to)`. */
export function deltaWidth(samples: number[][], from: number, to: number): number {
  let w = 1;
  for (let s = from; s < to; s++) {
    for (let c = 0; c < samples[s]!.length; c++) {
      const d = samples[s]![c]! - samples[s - 1]![c]!;
      while (d < -(2 ** (w - 1)) || d > 2 ** (w - 1) - 1) w++;
    }
  }
  return w;
}

export function pmdCompressedFrame(
  type: number,
  tsPmdNs: bigint,
  frameType: number,
  refBytes: number,
  samples: number[][],
  blocks: { width: number; count: number }[],
): Uint8Array {
  return Uint8Array.from([
    ...pmdHeader(type, tsPmdNs, frameType, true),
    ...pmdDeltaContent(samples, refBytes, blocks),
  ]);
}

/** Control-point response F0 op type status more [params]. */
export function pmdResponse(
  op: number,
  type: number,
  status: number,
  params: number[] = [],
  more = 0,
): Uint8Array {
  return Uint8Array.from([0xf0, op, type, status, more, ...params]);
}

export function pmdFactorParam(factor: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, factor, true);
  return [5, 1, ...b];
}

export function float32Bits(v: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, v, true);
  return b.getInt32(0, true);
}

// --- Movesense GSP -----------------------------------------------------------------------

/** Whole DATA payload (after [type][ref]): u32 ms, then each array of n × xyz float32. */
export function gspPayload(tsMs: number, arrays: number[][][]): Uint8Array {
  const n = arrays[0]?.length ?? 0;
  const out = new Uint8Array(4 + arrays.length * n * 12);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, tsMs >>> 0, true);
  let off = 4;
  for (const a of arrays) {
    for (const s of a) {
      for (const v of s) {
        dv.setFloat32(off, v, true);
        off += 4;
      }
    }
  }
  return out;
}

/** Split a payload into DATA + DATA_PART2 notifications of at most `maxNotification` bytes. */
export function gspNotifications(ref: number, payload: Uint8Array, maxNotification = 158): Uint8Array[] {
  const chunk = maxNotification - 2;
  const out: Uint8Array[] = [];
  for (let i = 0; i < payload.length; i += chunk)
    out.push(concatBytes([i === 0 ? 2 : 3, ref], payload.subarray(i, i + chunk)));
  return out;
}

// --- MetaWear ------------------------------------------------------------------------------

export function metawearSamples(module: number, reg: number, samples: number[][]): Uint8Array {
  return Uint8Array.from([module, reg, ...samples.flatMap((s) => s.flatMap((v) => le(v, 2)))]);
}

// --- WitMotion -----------------------------------------------------------------------------

/** 55 61 + acc(3) gyro(3) angle(3) int16 LE raw values. */
export function witPacket(acc: number[], gyro: number[], angle: number[] = [0, 0, 0]): Uint8Array {
  return Uint8Array.from([0x55, 0x61, ...[...acc, ...gyro, ...angle].flatMap((v) => le(v, 2))]);
}

export function witRegisterReply(reg: number, values: number[]): Uint8Array {
  const regs = [...values, 0, 0, 0, 0, 0, 0, 0, 0].slice(0, 8);
  return Uint8Array.from([0x55, 0x71, reg & 0xff, reg >> 8, ...regs.flatMap((v) => le(v, 2))]);
}

// --- Thingy:52 -----------------------------------------------------------------------------

export function thingyRaw(acc: number[], gyro: number[], mag: number[]): Uint8Array {
  return Uint8Array.from([...acc, ...gyro, ...mag].flatMap((v) => le(v, 2)));
}
