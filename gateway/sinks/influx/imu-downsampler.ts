import type { ImuChunk } from '../../domain/samples.ts';
import { IMU_CHANNELS } from '../../domain/samples.ts';
import { NS_PER_S } from '../../domain/time.ts';
import type { ImuPoint } from './line-protocol.ts';

interface Bucket {
  index: number;
  n: number;
  readonly sums: Float64Array;
  subject: string | undefined;
}

/**
 * Averages each device's IMU samples over fixed time buckets of 1/rate s aligned to the
 * epoch, so the same samples always give the same point timestamps (a replay overwrites
 * instead of adding). A bucket is emitted once a sample of a later bucket arrives; `flush`
 * emits the open ones (on stop).
 */
export class ImuDownsampler {
  private readonly periodNs: number;
  private readonly buckets = new Map<string, Bucket>();

  constructor(rateHz: number) {
    if (!(rateHz > 0)) throw new RangeError(`IMU downsample rate must be > 0 Hz, got ${rateHz}`);
    this.periodNs = NS_PER_S / rateHz;
  }

  push(chunk: ImuChunk): ImuPoint[] {
    const out: ImuPoint[] = [];
    let b = this.buckets.get(chunk.sourceId);
    for (let i = 0; i < chunk.tNs.length; i++) {
      const index = Math.floor((chunk.tNs[i] as number) / this.periodNs);
      if (b && index !== b.index) {
        if (index < b.index) continue; // out of order: the bucket it belongs to is already written
        out.push(this.emit(chunk.sourceId, b));
        b = undefined;
      }
      if (!b) {
        b = { index, n: 0, sums: new Float64Array(IMU_CHANNELS), subject: chunk.subjectId };
        this.buckets.set(chunk.sourceId, b);
      }
      for (let c = 0; c < IMU_CHANNELS; c++)
        (b.sums[c] as number) += chunk.values[i * IMU_CHANNELS + c] as number;
      b.n++;
      b.subject = chunk.subjectId ?? b.subject;
    }
    return out;
  }

  flush(): ImuPoint[] {
    const out = [...this.buckets.entries()]
      .filter(([, b]) => b.n > 0)
      .map(([device, b]) => this.emit(device, b));
    this.buckets.clear();
    return out;
  }

  private emit(device: string, b: Bucket): ImuPoint {
    const values = Array.from(b.sums, (s) => s / b.n);
    b.n = 0;
    return { device, subject: b.subject, timeNs: Math.round(b.index * this.periodNs), values };
  }
}
