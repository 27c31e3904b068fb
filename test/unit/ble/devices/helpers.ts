import assert from 'node:assert/strict';
import type { DecodeResult, ImuSamples } from '../../../../gateway/sources/ble/driver.ts';

/** Narrow to a successful result with samples, failing with the decoder's reason otherwise. */
export function samples(r: DecodeResult): ImuSamples {
  assert.ok(r.ok, r.ok ? '' : `expected ok, got ${r.reason}: ${r.message}`);
  assert.ok(r.imu, 'expected samples');
  return r.imu;
}

export function rejected(r: DecodeResult, reason: string): void {
  assert.equal(r.ok, false, `expected ${reason}, got ok`);
  if (!r.ok) assert.equal(r.reason, reason, r.message);
}

/** Compare a Float32Array (xyz interleaved) with expected rows, to a tolerance. */
export function close(actual: Float32Array | undefined, expected: number[][], tol = 1e-4): void {
  assert.ok(actual, 'missing channel');
  assert.equal(actual.length, expected.length * 3, `length ${actual.length} vs ${expected.length * 3}`);
  expected.forEach((row, s) =>
    row.forEach((v, c) => {
      const a = actual[s * 3 + c]!;
      assert.ok(Math.abs(a - v) <= tol * Math.max(1, Math.abs(v)), `sample ${s} axis ${c}: ${a} vs ${v}`);
    }),
  );
}

export const bytesOf = (data: Uint8Array) => Array.from(data);
