import {
  IMU_CHANNELS,
  POSE_VALUES_PER_FRAME,
  type Modality,
  type SampleChunk,
} from '../../domain/samples.ts';

/**
 * The samples of one modality: a ring whose chunks are each contiguous (a chunk that would
 * wrap starts at 0 instead), and a queue of those chunks — both in typed arrays, so holding a
 * chunk for seconds allocates nothing.
 */
class ModalityRing {
  times: Float64Array;
  values: Float32Array;
  /** Where the next chunk's samples go. */
  tail = 0;
  // The chunk queue, circular: arrival number, first sample, samples, last sample's time.
  private seqs: Float64Array;
  private starts: Int32Array;
  private counts: Int32Array;
  private lasts: Float64Array;
  private head = 0;
  size = 0;

  /** Empty until the first chunk: a subject without pose never allocates a pose ring. */
  constructor(
    readonly width: number,
    private readonly firstSamples: number,
  ) {
    this.times = new Float64Array(0);
    this.values = new Float32Array(0);
    this.seqs = new Float64Array(0);
    this.starts = new Int32Array(0);
    this.counts = new Int32Array(0);
    this.lasts = new Float64Array(0);
  }

  /** Queue slot of the k-th oldest chunk. */
  private slot(k: number): number {
    return (this.head + k) % this.seqs.length;
  }

  seqAt(k: number): number {
    return this.seqs[this.slot(k)] as number;
  }

  startAt(k: number): number {
    return this.starts[this.slot(k)] as number;
  }

  countAt(k: number): number {
    return this.counts[this.slot(k)] as number;
  }

  lastAt(k: number): number {
    return this.lasts[this.slot(k)] as number;
  }

  dropOldest(): void {
    this.head = (this.head + 1) % this.seqs.length;
    if (--this.size === 0) {
      this.head = 0;
      this.tail = 0;
    }
  }

  add(seq: number, chunk: SampleChunk): void {
    const n = chunk.tNs.length;
    let at = this.placeFor(n);
    if (at < 0) {
      this.growSamples(n);
      at = this.tail;
    }
    if (this.size === this.seqs.length) this.growChunks();
    this.times.set(chunk.tNs, at);
    for (let i = 0, o = at * this.width; i < n * this.width; i++)
      this.values[o + i] = chunk.values[i] as number;
    const k = this.slot(this.size++);
    this.seqs[k] = seq;
    this.starts[k] = at;
    this.counts[k] = n;
    this.lasts[k] = chunk.tNs[n - 1] as number;
    this.tail = at + n;
  }

  /** Where `n` samples fit contiguously without overwriting a held chunk; -1: nowhere. */
  private placeFor(n: number): number {
    const cap = this.times.length;
    if (this.size === 0) return n <= cap ? 0 : -1;
    const head = this.startAt(0);
    if (this.tail > head) {
      // Held: [head, tail). Free: [tail, cap), then [0, head).
      if (this.tail + n <= cap) return this.tail;
      return n <= head ? 0 : -1;
    }
    // Wrapped (or full): free is [tail, head).
    return this.tail + n <= head ? this.tail : -1;
  }

  /** Twice the samples (at least `n` more), held chunks copied to the front in order. */
  private growSamples(n: number): void {
    let held = 0;
    for (let k = 0; k < this.size; k++) held += this.countAt(k);
    const cap = Math.max(this.times.length * 2, held + n, this.firstSamples);
    const times = new Float64Array(cap);
    const values = new Float32Array(cap * this.width);
    let at = 0;
    for (let k = 0; k < this.size; k++) {
      const start = this.startAt(k);
      const count = this.countAt(k);
      times.set(this.times.subarray(start, start + count), at);
      values.set(this.values.subarray(start * this.width, (start + count) * this.width), at * this.width);
      this.starts[this.slot(k)] = at;
      at += count;
    }
    this.times = times;
    this.values = values;
    this.tail = at;
  }

  /** Twice the chunk slots, oldest first. */
  private growChunks(): void {
    const cap = Math.max(this.seqs.length * 2, 16);
    const seqs = new Float64Array(cap);
    const starts = new Int32Array(cap);
    const counts = new Int32Array(cap);
    const lasts = new Float64Array(cap);
    for (let k = 0; k < this.size; k++) {
      seqs[k] = this.seqAt(k);
      starts[k] = this.startAt(k);
      counts[k] = this.countAt(k);
      lasts[k] = this.lastAt(k);
    }
    this.seqs = seqs;
    this.starts = starts;
    this.counts = counts;
    this.lasts = lasts;
    this.head = 0;
  }
}

/** What a replay hands over: samples `from` (inclusive) to `to` (exclusive) of the arrays. */
export type HistoryVisitor = (
  modality: Modality,
  tNs: Float64Array,
  values: Float32Array,
  from: number,
  to: number,
) => void;

/**
 * The last `spanNs` of one subject's samples (IMU and pose), as chunks in arrival order —
 * copied into typed-array rings instead of holding the chunk objects. Held chunks lived for
 * seconds, so every one of them (object, two typed arrays, their backing stores) was promoted
 * to the old generation and freed only by a full GC; a ring is allocated at its modality's first
 * chunk and grows only if the span holds more samples than it does (IMU at 50 Hz: 13 kB).
 *
 * Eviction is per chunk, as a list of chunks would do it: a chunk goes once its last sample is
 * more than `spanNs` older than the newest.
 */
export class SampleHistory {
  private readonly rings: Record<Modality, ModalityRing>;
  private seq = 0;

  constructor(private readonly spanNs: number) {
    // Room for 8 s of 50 Hz IMU and of 20 fps pose before a second growth.
    this.rings = {
      imu: new ModalityRing(IMU_CHANNELS, 400),
      pose: new ModalityRing(POSE_VALUES_PER_FRAME, 160),
    };
  }

  /** Samples held (both modalities). */
  get samples(): number {
    let n = 0;
    for (const ring of [this.rings.imu, this.rings.pose])
      for (let k = 0; k < ring.size; k++) n += ring.countAt(k);
    return n;
  }

  /** Adds a chunk (none if empty), then forgets the chunks that fell out of the span. */
  push(chunk: SampleChunk): void {
    if (chunk.tNs.length === 0) return;
    this.rings[chunk.modality].add(this.seq++, chunk);
    const newestNs = chunk.tNs[chunk.tNs.length - 1] as number;
    for (;;) {
      const ring = this.oldestRing();
      if (!ring || !(newestNs - ring.lastAt(0) > this.spanNs)) break;
      ring.dropOldest();
    }
  }

  /** Every held chunk in arrival order. */
  replay(visit: HistoryVisitor): void {
    const { imu, pose } = this.rings;
    let i = 0;
    let p = 0;
    while (i < imu.size || p < pose.size) {
      if (i < imu.size && (p >= pose.size || imu.seqAt(i) < pose.seqAt(p))) {
        const start = imu.startAt(i++);
        visit('imu', imu.times, imu.values, start, start + imu.countAt(i - 1));
      } else {
        const start = pose.startAt(p++);
        visit('pose', pose.times, pose.values, start, start + pose.countAt(p - 1));
      }
    }
  }

  /** The ring whose oldest chunk came first; undefined when both are empty. */
  private oldestRing(): ModalityRing | undefined {
    const { imu, pose } = this.rings;
    if (imu.size === 0) return pose.size === 0 ? undefined : pose;
    if (pose.size === 0) return imu;
    return imu.seqAt(0) < pose.seqAt(0) ? imu : pose;
  }
}
