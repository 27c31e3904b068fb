import assert from 'node:assert/strict';
import { test } from 'node:test';
import { score } from '../../helpers/scoring.ts';

test('macro F1 averages per-class F1 over the union of true and predicted classes (as sklearn)', () => {
  // truth a a b b c, predicted a b b b a:
  // a: tp1 fp1 fn1 → 0.5; b: tp2 fp1 fn0 → 0.8; c: tp0 fn1 → 0
  const pairs = [
    { truth: 'a', predicted: 'a' },
    { truth: 'a', predicted: 'b' },
    { truth: 'b', predicted: 'b' },
    { truth: 'b', predicted: 'b' },
    { truth: 'c', predicted: 'a' },
  ];
  const s = score(pairs);
  assert.equal(s.n, 5);
  assert.equal(s.accuracy, 3 / 5);
  assert.ok(Math.abs(s.macroF1 - (0.5 + 0.8 + 0) / 3) < 1e-12);
});

test('a class only ever predicted counts with F1 0', () => {
  const s = score([
    { truth: 'a', predicted: 'a' },
    { truth: 'a', predicted: 'z' },
  ]);
  // a: tp1 fn1 → 2/3; z: fp1 → 0
  assert.ok(Math.abs(s.macroF1 - (2 / 3 + 0) / 2) < 1e-12);
});
