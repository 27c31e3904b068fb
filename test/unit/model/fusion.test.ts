import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, fuseMeanLogits, logitsFor, softmax, topK } from '../../../gateway/model/fusion.ts';

// Three classes in a 2-D joint space, temperature 0.5. Rows are unit vectors.
const P = Float32Array.from([1, 0, 0, 1, 0.6, 0.8]);
const DIM = 2;
const T = 0.5;

function assertClose(actual: ArrayLike<number>, expected: readonly number[], eps = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= eps, `[${i}] ${actual[i]} vs ${expected[i]}`);
  }
}

test('logitsFor: cosine with each prototype divided by the temperature', () => {
  // e = (0.6, 0.8): dots 0.6, 0.8, 0.36 + 0.64 = 1.0; / 0.5
  assertClose(logitsFor(P, DIM, T, [0.6, 0.8]), [1.2, 1.6, 2.0]);
  // Float32 prototype 0.6/0.8 are not exact; the tolerance covers it.
  assertClose(logitsFor(P, DIM, 1, [1, 0]), [1, 0, 0.6]);
});

test('softmax: hand-computed values, sums to one, stable for large logits', () => {
  // softmax(1.2, 1.6, 2.0) = (e^-0.8, e^-0.4, 1) / (e^-0.8 + e^-0.4 + 1)
  assertClose(softmax([1.2, 1.6, 2.0]), [0.2119827, 0.3162411, 0.4717762]);
  assertClose(softmax([1000, 1000]), [0.5, 0.5]);
  const p = softmax([-1000, 0, 3]);
  assert.ok(p.every((x) => Number.isFinite(x)));
  assertClose([p.reduce((a, b) => a + b, 0)], [1], 1e-12);
  assert.ok(p[0]! < 1e-300);
});

test('fuseMeanLogits: mean of per-window logits; every window counts, two IMUs count twice', () => {
  const imu = [1, 0]; // logits (2, 0, 1.2)
  const pose = [0, 1]; // logits (0, 2, 1.6)
  assertClose(fuseMeanLogits(P, DIM, T, [imu, pose]), [1, 1, 1.4]);
  assertClose(fuseMeanLogits(P, DIM, T, [imu, imu, pose]), [4 / 3, 2 / 3, 4 / 3]);
  assertClose(fuseMeanLogits(P, DIM, T, [imu]), [2, 0, 1.2]);
  // softmax(1, 1, 1.4) = (1, 1, e^0.4) / (2 + e^0.4)
  assertClose(
    classify({ prototypes: P, embeddingDim: DIM, temperature: T }, [imu, pose]),
    [0.2863832, 0.2863832, 0.4272336],
  );
});

test('fusion refuses mismatched or absent embeddings', () => {
  assert.throws(() => logitsFor(P, DIM, T, [1, 0, 0]), /3 values, expected 2/);
  assert.throws(() => fuseMeanLogits(P, DIM, T, []), /at least one embedding/);
  assert.throws(() => logitsFor(Float32Array.from([1, 0, 0]), DIM, T, [1, 0]), /not a multiple/);
});

test('topK: most probable first, ties in class order, k clamps', () => {
  assert.deepEqual(topK([0.1, 0.4, 0.4, 0.1], 3), [
    { index: 1, probability: 0.4 },
    { index: 2, probability: 0.4 },
    { index: 0, probability: 0.1 },
  ]);
  assert.equal(topK([0.2, 0.8], 5).length, 2);
  assert.deepEqual(topK([0.2, 0.8], 0), []);
});
