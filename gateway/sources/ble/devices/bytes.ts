import type { DecodeRejectReason, DecodeResult, ImuSamples, StepCheck } from '../driver.ts';

/*
 * Little helpers every decoder shares. Decoders read through a DataView built once per
 * notification: it bounds-checks for us (a RangeError would be a decoder bug, which the
 * `guard` wrapper turns into a coded reject instead of a crash).
 */

export function view(data: Uint8Array): DataView {
  return new DataView(data.buffer, data.byteOffset, data.byteLength);
}

export function reject(reason: DecodeRejectReason, message: string, imu?: ImuSamples): DecodeResult {
  return imu === undefined ? { ok: false, reason, message } : { ok: false, reason, message, imu };
}

export const OK_EMPTY: DecodeResult = { ok: true };

export const STEP_OK: StepCheck = { ok: true };

export function stepFail(code: string, message: string): StepCheck {
  return { ok: false, code, message };
}

/** Signed little-endian integer of 1–4 bytes. */
export function readIntLE(dv: DataView, offset: number, bytes: number): number {
  switch (bytes) {
    case 1:
      return dv.getInt8(offset);
    case 2:
      return dv.getInt16(offset, true);
    case 3: {
      const u = dv.getUint16(offset, true) | (dv.getUint8(offset + 2) << 16);
      return (u << 8) >> 8;
    }
    case 4:
      return dv.getInt32(offset, true);
    default:
      throw new RangeError(`readIntLE: ${bytes} bytes`);
  }
}

export function hex(data: Uint8Array, max = 24): string {
  const parts: string[] = [];
  for (let i = 0; i < Math.min(data.length, max); i++) parts.push(data[i]!.toString(16).padStart(2, '0'));
  return parts.join(' ') + (data.length > max ? ' …' : '');
}

/** Decoders promise never to throw; this keeps the promise even if one has a bug. */
export function guard(decode: () => DecodeResult): DecodeResult {
  try {
    return decode();
  } catch (err) {
    return {
      ok: false,
      reason: 'INTERNAL',
      message: `decoder error: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

export function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

export function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}
