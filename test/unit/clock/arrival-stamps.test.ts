import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArrivalStamps } from '../../../gateway/clock/arrival-stamps.ts';

const MS = 1e6;
/** A chunk of `n` samples 20 ms apart (50 Hz) whose last sample is stamped at `arrivalMs`. */
const arrived = (arrivalMs: number, n = 10): Float64Array =>
  Float64Array.from({ length: n }, (_, i) => (arrivalMs - (n - 1 - i) * 20) * MS);
const strictlyAscending = (t: readonly number[]) => t.every((v, i) => i === 0 || v > (t[i - 1] as number));

test('chunks that arrive on time keep their arrival stamps', () => {
  const stamps = new ArrivalStamps();
  for (let k = 0; k < 5; k++) {
    const t = arrived(1000 + 200 * k);
    assert.equal(stamps.place('phone', t), t);
  }
});

test('a burst in one millisecond becomes consecutive samples: none share a millisecond', () => {
  const stamps = new ArrivalStamps();
  const all: number[] = [];
  for (let k = 0; k < 12; k++) all.push(...stamps.place('phone', arrived(5000)));
  assert.equal(all.length, 120);
  assert.ok(strictlyAscending(all));
  assert.equal(new Set(all.map((t) => Math.floor(t / MS))).size, 120, 'every sample in its own millisecond');
  // Spacing stays close to the device's own (19 ms while catching up, never less).
  for (let i = 1; i < all.length; i++) assert.ok((all[i] as number) - (all[i - 1] as number) >= 19 * MS - 1);
});

test('a chunk arriving early (jitter) is placed at the device spacing after the previous one', () => {
  const stamps = new ArrivalStamps();
  stamps.place('phone', arrived(1000));
  // Its first sample would fall 0.4 ms after the previous chunk's last: the same millisecond.
  const early = stamps.place('phone', arrived(1000 + 180.4));
  const within1ns = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1, `${a} vs ${b}`);
  within1ns((early[0] as number) - 1000 * MS, 19 * MS);
  for (let i = 1; i < early.length; i++) within1ns((early[i] as number) - (early[i - 1] as number), 19 * MS);
  // The next chunk, on time, keeps its arrival stamps.
  const onTime = arrived(1400);
  assert.equal(stamps.place('phone', onTime), onTime);
});

test('the lead a burst builds melts away once chunks arrive on time again', () => {
  const stamps = new ArrivalStamps();
  for (let k = 0; k < 10; k++) stamps.place('phone', arrived(10_000)); // 1.8 s ahead
  let k = 1;
  for (; k < 400; k++) {
    const placed = stamps.place('phone', arrived(10_000 + 200 * k));
    if ((placed.at(-1) as number) === (arrived(10_000 + 200 * k).at(-1) as number)) break;
  }
  assert.ok(k < 400, 'back on arrival time');
  assert.ok(k * 0.2 < 60, `took ${k * 0.2} s`);
});

test('a device more than 10 s ahead starts again from arrival; sources are independent', () => {
  const stamps = new ArrivalStamps();
  let t: Float64Array = new Float64Array(0);
  for (let k = 0; k < 80; k++) t = stamps.place('fast', arrived(1000));
  assert.ok((t.at(-1) as number) - 1000 * MS <= 10e9 + 200 * MS);
  const other = arrived(1000);
  assert.equal(stamps.place('other', other), other);
});

test('past maxSources the least recently seen source is forgotten, the others kept', () => {
  const stamps = new ArrivalStamps(2);
  stamps.place('a', arrived(1000));
  stamps.place('b', arrived(1000));
  stamps.place('a', arrived(1200));
  stamps.place('c', arrived(1200)); // b was seen least recently
  // A chunk arriving in the same millisecond as the previous one: a remembers and moves it on…
  const a = arrived(1200);
  assert.notEqual(stamps.place('a', a), a);
  // …b starts afresh and keeps its stamps.
  const b = arrived(1000);
  assert.equal(stamps.place('b', b), b);
});
