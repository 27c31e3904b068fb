import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Subject } from 'rxjs';
import type { ImuChunk, SampleChunk } from '../../../gateway/domain/samples.ts';
import type { SensorWindow } from '../../../gateway/domain/windows.ts';
import type { GridChunk } from '../../../gateway/pipeline/grid.ts';
import { resampleToGrid } from '../../../gateway/pipeline/stages/resample.ts';
import { slidingWindows, type WindowSpec } from '../../../gateway/pipeline/stages/window.ts';

/*
 * Resample reuses one scratch buffer for every run it emits, and windowing one ring per
 * source; producers (MQTT ingest, BLE) may reuse their chunk arrays once a chunk is handed
 * on. What each stage emits must therefore be its own: nothing seen later may show up in a
 * grid chunk or a window already emitted.
 */

const START_NS = 1_767_225_600_000_000_000;
const IMU: WindowSpec = {
  name: 'imu',
  modality: 'imu',
  sampleRateHz: 50,
  windowSamples: 100,
  hopSamples: 25,
};

describe('stage outputs own their values', () => {
  it('grid chunks and windows keep their values while later chunks pass through reused arrays', () => {
    const grid: { chunk: GridChunk; copy: number[] }[] = [];
    const windows: { window: SensorWindow; copy: number[] }[] = [];
    const input = new Subject<SampleChunk>();
    const resampled = input.pipe(resampleToGrid({ rateHz: 50 }));
    resampled.subscribe((g) => grid.push({ chunk: g, copy: [...g.values] }));
    resampled
      .pipe(slidingWindows(IMU, { clock: { nowNs: () => 0 } }))
      .subscribe((w) => windows.push({ window: w, copy: [...w.input] }));
    // One producer buffer, refilled for every chunk (as a decoder with a pool would).
    const tNs = new Float64Array(10);
    const values = new Float32Array(60);
    for (let c = 0; c < 60; c++) {
      for (let i = 0; i < 10; i++) {
        const k = c * 10 + i;
        tNs[i] = START_NS + k * 20e6 + 3e5; // off the grid: interpolated
        for (let ch = 0; ch < 6; ch++) values[i * 6 + ch] = ch * 1000 + k;
      }
      const chunk: ImuChunk = { modality: 'imu', sourceId: 'band', subjectId: 's1', tNs, values };
      input.next(chunk);
    }
    input.complete();
    assert.ok(windows.length >= 20, `${windows.length} windows`);
    assert.ok(grid.length >= 50, `${grid.length} grid chunks`);
    for (const { chunk, copy } of grid)
      assert.deepEqual([...chunk.values], copy, `grid chunk at ${chunk.firstIndex}`);
    for (const { window, copy } of windows)
      assert.deepEqual([...window.input], copy, `window ending ${window.endNs}`);
    // Distinct windows hold distinct arrays (no pooled buffer shared between two of them).
    assert.equal(new Set(windows.map((w) => w.window.input)).size, windows.length);
    // And the values are the signal's: channel 0 of the first window runs up by one per sample.
    const first = windows[0]!.window.input;
    for (let s = 1; s < IMU.windowSamples; s++) assert.ok(Math.abs(first[s]! - first[s - 1]! - 1) < 1e-3);
  });
});
