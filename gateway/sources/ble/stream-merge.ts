import { IMU_CHANNELS } from '../../domain/samples.ts';

/*
 * Joins a device's accelerometer and gyroscope into 6-channel samples on the accelerometer's
 * time base. Some families send both in one notification (WitMotion, Thingy, Movesense IMU6);
 * Polar sends them as separate streams with their own frames and stamps, so the gyroscope is
 * interpolated at the accelerometer's times. An accelerometer sample waits for the gyroscope
 * to pass its time for at most `maxWaitNs`, then goes out with the last gyroscope value held,
 * so a dead gyroscope stream delays nothing for long. Devices without a gyroscope (Polar H10)
 * get zeros there: the models take six channels, and zero rotation is the neutral value.
 */

export interface MergedRun {
  readonly tNs: Float64Array;
  /** Interleaved ax, ay, az, gx, gy, gz. */
  readonly values: Float32Array;
}

export interface StreamMergeOptions {
  readonly hasGyro: boolean;
  /** Longest an accelerometer sample waits for gyroscope data, ns. Default 500 ms. */
  readonly maxWaitNs?: number;
}

const EMPTY: MergedRun = { tNs: new Float64Array(0), values: new Float32Array(0) };

export class StreamMerger {
  private readonly hasGyro: boolean;
  private readonly maxWaitNs: number;
  private accT: number[] = [];
  private accV: number[] = [];
  /** Gyro samples kept for interpolation: the newest ones only. */
  private gyroT: number[] = [];
  private gyroV: number[] = [];

  constructor(options: StreamMergeOptions) {
    this.hasGyro = options.hasGyro;
    this.maxWaitNs = options.maxWaitNs ?? 500e6;
  }

  /** Both sensors in one run (same instants). */
  combined(tNs: Float64Array, acc: Float32Array, gyro: Float32Array | undefined): MergedRun {
    const n = tNs.length;
    const values = new Float32Array(n * IMU_CHANNELS);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        values[i * 6 + c] = acc[i * 3 + c] as number;
        values[i * 6 + 3 + c] = gyro ? (gyro[i * 3 + c] as number) : 0;
      }
    }
    return { tNs, values };
  }

  addAcc(tNs: Float64Array, acc: Float32Array): MergedRun {
    if (!this.hasGyro) return this.combined(tNs, acc, undefined);
    for (let i = 0; i < tNs.length; i++) {
      this.accT.push(tNs[i] as number);
      this.accV.push(acc[i * 3] as number, acc[i * 3 + 1] as number, acc[i * 3 + 2] as number);
    }
    return this.flush();
  }

  addGyro(tNs: Float64Array, gyro: Float32Array): MergedRun {
    if (!this.hasGyro) return EMPTY;
    for (let i = 0; i < tNs.length; i++) {
      this.gyroT.push(tNs[i] as number);
      this.gyroV.push(gyro[i * 3] as number, gyro[i * 3 + 1] as number, gyro[i * 3 + 2] as number);
    }
    return this.flush();
  }

  /** A new link: nothing pending belongs to the next one. */
  reset(): void {
    this.accT = [];
    this.accV = [];
    this.gyroT = [];
    this.gyroV = [];
  }

  private flush(): MergedRun {
    const newestAcc = this.accT.length > 0 ? (this.accT[this.accT.length - 1] as number) : -Infinity;
    const gyroEnd = this.gyroT.length > 0 ? (this.gyroT[this.gyroT.length - 1] as number) : -Infinity;
    let count = 0;
    while (count < this.accT.length) {
      const t = this.accT[count] as number;
      if (t > gyroEnd && newestAcc - t < this.maxWaitNs) break;
      count++;
    }
    if (count === 0) return EMPTY;
    const tNs = new Float64Array(count);
    const values = new Float32Array(count * IMU_CHANNELS);
    let g = 0;
    for (let i = 0; i < count; i++) {
      const t = this.accT[i] as number;
      tNs[i] = t;
      for (let c = 0; c < 3; c++) values[i * 6 + c] = this.accV[i * 3 + c] as number;
      while (g + 1 < this.gyroT.length && (this.gyroT[g + 1] as number) <= t) g++;
      this.gyroAt(t, g, values, i * 6 + 3);
    }
    this.accT.splice(0, count);
    this.accV.splice(0, count * 3);
    // Keep one gyro sample before the next pending acc time for interpolation.
    const keepFrom = Math.max(0, g);
    if (keepFrom > 0) {
      this.gyroT.splice(0, keepFrom);
      this.gyroV.splice(0, keepFrom * 3);
    }
    return { tNs, values };
  }

  private gyroAt(t: number, g: number, out: Float32Array, o: number): void {
    const n = this.gyroT.length;
    if (n === 0) {
      out[o] = out[o + 1] = out[o + 2] = 0;
      return;
    }
    const t0 = this.gyroT[g] as number;
    const t1 = g + 1 < n ? (this.gyroT[g + 1] as number) : undefined;
    let w = 0;
    if (t1 !== undefined && t >= t0 && t1 > t0) w = Math.min(1, (t - t0) / (t1 - t0));
    const i1 = t1 !== undefined && t >= t0 ? g + 1 : g;
    for (let c = 0; c < 3; c++) {
      const a = this.gyroV[g * 3 + c] as number;
      const b = this.gyroV[i1 * 3 + c] as number;
      out[o + c] = a + (b - a) * w;
    }
  }
}
