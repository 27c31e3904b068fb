import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  checkRgbFrame,
  frameToSquare,
  letterbox,
  resizeLetterbox,
  squareToFrame,
} from '../../../gateway/sources/camera/image.ts';
import {
  decodeMultiPose,
  decodeSinglePose,
  KEYPOINTS,
} from '../../../gateway/sources/camera/pose-estimator.ts';
import { GatewayError } from '../../../gateway/observability/errors.ts';

function solid(width: number, height: number, rgb: [number, number, number]): Buffer {
  const b = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) b.set(rgb, i * 3);
  return b;
}

describe('letterbox geometry', () => {
  it('fits a landscape frame across the full width, centred, with bands above and below', () => {
    const lb = letterbox(640, 480, 192);
    assert.deepEqual([lb.contentWidth, lb.contentHeight, lb.padX, lb.padY], [192, 144, 0, 24]);
  });

  it('fits a portrait frame across the full height with bands left and right', () => {
    const lb = letterbox(88, 158, 256);
    assert.equal(lb.contentHeight, 256);
    assert.equal(lb.contentWidth, Math.round(88 * (256 / 158)));
    assert.equal(lb.padX, Math.floor((256 - lb.contentWidth) / 2));
    assert.equal(lb.padY, 0);
  });

  it('maps the frame corners to the content corners of the square and back', () => {
    const lb = letterbox(640, 480, 192);
    assert.deepEqual(frameToSquare(lb, 0, 0), [0, 24 / 192]);
    assert.deepEqual(frameToSquare(lb, 1, 1), [1, 168 / 192]);
    assert.deepEqual(squareToFrame(lb, 0.5, 0.5), [0.5, 0.5]);
  });

  it('squareToFrame inverts frameToSquare for any frame size and point', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4000 }),
        fc.integer({ min: 1, max: 4000 }),
        fc.constantFrom(192, 256),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (w, h, size, x, y) => {
          const lb = letterbox(w, h, size);
          const [sx, sy] = frameToSquare(lb, x, y);
          assert.ok(sx >= 0 && sx <= 1 && sy >= 0 && sy <= 1, 'the whole frame lies inside the square');
          const [bx, by] = squareToFrame(lb, sx, sy);
          assert.ok(Math.abs(bx - x) < 1e-9 && Math.abs(by - y) < 1e-9);
        },
      ),
    );
  });

  it('refuses a zero or fractional size with a coded error', () => {
    assert.throws(
      () => letterbox(0, 480, 192),
      (e: unknown) => e instanceof GatewayError && e.code === 'CAMERA_FRAME_INVALID',
    );
    assert.throws(() => letterbox(640, 480.5, 192), /srcHeight/);
  });
});

describe('resizeLetterbox', () => {
  it('copies a uniform frame into the content area and leaves the bands black', () => {
    const lb = letterbox(64, 48, 32);
    const out = resizeLetterbox(solid(64, 48, [200, 100, 50]), lb);
    assert.equal(out.length, 32 * 32 * 3);
    for (let y = 0; y < 32; y++) {
      const inside = y >= lb.padY && y < lb.padY + lb.contentHeight;
      const px = Array.from(out.subarray((y * 32 + 16) * 3, (y * 32 + 16) * 3 + 3));
      assert.deepEqual(px, inside ? [200, 100, 50] : [0, 0, 0], `row ${y}`);
    }
  });

  it('puts a feature of the frame where frameToSquare says it is', () => {
    // A white vertical bar covering frame x ∈ [0.40, 0.45): its centre in the square must be
    // where the geometry maps x = 0.425.
    const w = 400;
    const h = 100;
    const frame = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 160; x < 180; x++) frame.fill(255, (y * w + x) * 3, (y * w + x) * 3 + 3);
    const lb = letterbox(w, h, 200);
    const out = resizeLetterbox(frame, lb);
    const row = lb.padY + Math.floor(lb.contentHeight / 2);
    let sum = 0;
    let weighted = 0;
    for (let x = 0; x < 200; x++) {
      const v = out[(row * 200 + x) * 3]!;
      sum += v;
      weighted += v * (x + 0.5);
    }
    const [expected] = frameToSquare(lb, 0.425, 0.5);
    assert.ok(
      Math.abs(weighted / sum / 200 - expected) < 0.5 / 200,
      `bar centre ${weighted / sum / 200} vs ${expected}`,
    );
  });

  it('refuses a buffer that does not hold width·height RGB24 pixels', () => {
    assert.throws(() => checkRgbFrame(Buffer.alloc(10), 2, 2), /needs 12 bytes, got 10/);
    assert.throws(
      () => resizeLetterbox(Buffer.alloc(11), letterbox(2, 2, 4)),
      (e: unknown) => e instanceof GatewayError && e.code === 'CAMERA_FRAME_INVALID',
    );
  });
});

describe('decoding MoveNet outputs to frame coordinates', () => {
  it('single pose: maps (y, x) in the square to (x, y) in the frame, clamps the bands, averages the score', () => {
    const lb = letterbox(640, 480, 192); // bands of 24 px above and below
    const raw = new Float32Array(KEYPOINTS * 3);
    raw.set([0.5, 0.25, 0.9], 0); // nose at the square's middle row, a quarter across
    raw.set([0.05, 0.5, 0.3], 3); // left eye up in the top band
    const [person] = decodeSinglePose(raw, lb);
    assert.ok(person);
    assert.deepEqual(Array.from(person.keypoints.subarray(0, 3)), [0.25, 0.5, Math.fround(0.9)]);
    assert.equal(person.keypoints[3], 0.5);
    assert.equal(person.keypoints[4], 0, 'a point in the top band is clamped to the frame top');
    assert.ok(Math.abs(person.score - (0.9 + 0.3) / KEYPOINTS) < 1e-6);
    assert.equal(person.box, undefined);
    assert.throws(() => decodeSinglePose(new Float32Array(50), lb), /50 values/);
  });

  it('multi pose: keeps people at or above the score, best first, with boxes in frame coordinates', () => {
    const lb = letterbox(100, 200, 256); // portrait: bands left and right
    const raw = new Float32Array(6 * 56);
    const person = (slot: number, score: number, box: [number, number, number, number]) => {
      raw.set([...box, score], slot * 56 + 51);
      for (let k = 0; k < 17; k++) raw.set([0.5, 0.5, score], slot * 56 + k * 3);
    };
    person(0, 0.3, [0.1, 0.3, 0.9, 0.6]);
    person(3, 0.8, [0.2, 0.4, 0.7, 0.5]);
    person(4, 0.05, [0, 0, 1, 1]);
    const people = decodeMultiPose(raw, lb, 0.1);
    assert.deepEqual(
      people.map((p) => p.score),
      [Math.fround(0.8), Math.fround(0.3)],
    );
    const [x0, y0, x1, y1] = people[1]!.box!;
    const [ex0] = squareToFrame(lb, 0.3, 0.1);
    const [ex1] = squareToFrame(lb, 0.6, 0.9);
    assert.ok(Math.abs(x0 - ex0) < 1e-6 && Math.abs(x1 - ex1) < 1e-6);
    assert.ok(Math.abs(y0 - 0.1) < 1e-6 && Math.abs(y1 - 0.9) < 1e-6, 'no vertical band: y is unchanged');
    assert.deepEqual(Array.from(people[0]!.keypoints.subarray(0, 2)), [0.5, 0.5]);
    assert.throws(() => decodeMultiPose(new Float32Array(55), lb, 0.1), /multiple of 56/);
  });
});
