import { GatewayError } from '../../observability/errors.ts';

/*
 * Letterboxing a camera frame into a model's square input, and mapping model coordinates
 * back. Pure: no I/O, no model.
 *
 * The whole frame is scaled to fit the square with its aspect ratio kept and centred; the
 * bands left over (top/bottom for landscape frames) are black. Nothing of the frame is cut
 * away, so a person at the edge is still seen, and a keypoint the model puts at (x, y) in
 * the square maps back to the frame by undoing the offset and the scale:
 *
 *   xFrame = (x·size − padX) / contentWidth,   yFrame = (y·size − padY) / contentHeight
 *
 * in normalised frame coordinates (0..1, x right, y down), both measured on pixel edges
 * (0 = left edge of the first pixel, 1 = right edge of the last), as MoveNet's outputs are.
 * Resampling is bilinear with half-pixel centres, like tf.image.resize_with_pad that
 * MoveNet's reference pipeline uses; the frame is expected pre-scaled by the reader (ffmpeg
 * `scale=`), so no anti-aliasing pass is spent here.
 */

export interface Letterbox {
  readonly srcWidth: number;
  readonly srcHeight: number;
  /** Side of the model's square input, in pixels. */
  readonly size: number;
  /** The frame's extent inside the square, in whole pixels. */
  readonly contentWidth: number;
  readonly contentHeight: number;
  /** Black band to the left of / above the frame, in pixels. */
  readonly padX: number;
  readonly padY: number;
  /** Per output column: left source column, its weight's partner column and the blend (x1's share). */
  readonly cols: AxisTable;
  readonly rows: AxisTable;
}

interface AxisTable {
  readonly lo: Int32Array;
  readonly hi: Int32Array;
  readonly t: Float32Array;
}

function axisTable(src: number, content: number, pad: number, size: number): AxisTable {
  const lo = new Int32Array(size).fill(-1);
  const hi = new Int32Array(size).fill(-1);
  const t = new Float32Array(size);
  const scale = src / content;
  for (let o = pad; o < pad + content; o++) {
    // Half-pixel centres: output pixel o's centre lands at this continuous source position.
    const s = Math.min(Math.max((o - pad + 0.5) * scale - 0.5, 0), src - 1);
    const a = Math.floor(s);
    lo[o] = a;
    hi[o] = Math.min(a + 1, src - 1);
    t[o] = s - a;
  }
  return { lo, hi, t };
}

export function letterbox(srcWidth: number, srcHeight: number, size: number): Letterbox {
  for (const [name, v] of [
    ['srcWidth', srcWidth],
    ['srcHeight', srcHeight],
    ['size', size],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0) {
      throw new GatewayError(
        'CAMERA_FRAME_INVALID',
        `letterbox: ${name} must be a positive integer, got ${v}`,
        {
          details: { srcWidth, srcHeight, size },
        },
      );
    }
  }
  const scale = Math.min(size / srcWidth, size / srcHeight);
  const contentWidth = Math.min(size, Math.max(1, Math.round(srcWidth * scale)));
  const contentHeight = Math.min(size, Math.max(1, Math.round(srcHeight * scale)));
  const padX = Math.floor((size - contentWidth) / 2);
  const padY = Math.floor((size - contentHeight) / 2);
  return {
    srcWidth,
    srcHeight,
    size,
    contentWidth,
    contentHeight,
    padX,
    padY,
    cols: axisTable(srcWidth, contentWidth, padX, size),
    rows: axisTable(srcHeight, contentHeight, padY, size),
  };
}

/** Throws unless `frame` holds exactly width·height packed RGB24 pixels. */
export function checkRgbFrame(frame: Uint8Array, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new GatewayError(
      'CAMERA_FRAME_INVALID',
      `frame size must be positive integers, got ${width}×${height}`,
      {
        details: { width, height },
      },
    );
  }
  if (frame.length !== width * height * 3) {
    throw new GatewayError(
      'CAMERA_FRAME_INVALID',
      `frame of ${width}×${height} RGB24 needs ${width * height * 3} bytes, got ${frame.length}`,
      { details: { width, height, bytes: frame.length } },
    );
  }
}

/**
 * Resamples a packed RGB24 frame into the square as float32 NHWC RGB in 0..255 (the range
 * MoveNet takes), black outside the frame. `out` is reused when given (size·size·3 floats).
 */
export function resizeLetterbox(frame: Uint8Array, lb: Letterbox, out?: Float32Array): Float32Array {
  checkRgbFrame(frame, lb.srcWidth, lb.srcHeight);
  const n = lb.size * lb.size * 3;
  const dst = out ?? new Float32Array(n);
  if (dst.length !== n) {
    throw new GatewayError('CAMERA_FRAME_INVALID', `letterbox output needs ${n} floats, got ${dst.length}`);
  }
  dst.fill(0);
  const stride = lb.srcWidth * 3;
  const { cols, rows } = lb;
  for (let oy = lb.padY; oy < lb.padY + lb.contentHeight; oy++) {
    const r0 = rows.lo[oy]! * stride;
    const r1 = rows.hi[oy]! * stride;
    const ty = rows.t[oy]!;
    let o = (oy * lb.size + lb.padX) * 3;
    for (let ox = lb.padX; ox < lb.padX + lb.contentWidth; ox++) {
      const c0 = cols.lo[ox]! * 3;
      const c1 = cols.hi[ox]! * 3;
      const tx = cols.t[ox]!;
      for (let ch = 0; ch < 3; ch++) {
        const top = frame[r0 + c0 + ch]! + (frame[r0 + c1 + ch]! - frame[r0 + c0 + ch]!) * tx;
        const bottom = frame[r1 + c0 + ch]! + (frame[r1 + c1 + ch]! - frame[r1 + c0 + ch]!) * tx;
        dst[o++] = top + (bottom - top) * ty;
      }
    }
  }
  return dst;
}

/** Model-square coordinates (0..1 of the square) → normalised frame coordinates (0..1). */
export function squareToFrame(lb: Letterbox, xSquare: number, ySquare: number): [number, number] {
  return [(xSquare * lb.size - lb.padX) / lb.contentWidth, (ySquare * lb.size - lb.padY) / lb.contentHeight];
}

/** Normalised frame coordinates → model-square coordinates; the inverse of `squareToFrame`. */
export function frameToSquare(lb: Letterbox, xFrame: number, yFrame: number): [number, number] {
  return [(xFrame * lb.contentWidth + lb.padX) / lb.size, (yFrame * lb.contentHeight + lb.padY) / lb.size];
}
