import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Subject } from 'rxjs';
import type { SampleChunk } from '../../../gateway/domain/samples.ts';
import type { SensorWindow } from '../../../gateway/domain/windows.ts';
import { gridTimeNs } from '../../../gateway/pipeline/grid.ts';
import { resampleToGrid } from '../../../gateway/pipeline/stages/resample.ts';
import { slidingWindows, type WindowSpec } from '../../../gateway/pipeline/stages/window.ts';
import { imuChunk, poseChunk, times } from './helpers/fakes.ts';
import { VirtualTime } from './helpers/virtual-time.ts';

const START_NS = 1_767_225_600_000_000_000 + 123_456_789;
const IMU: WindowSpec = {
  name: 'imu',
  modality: 'imu',
  sampleRateHz: 50,
  windowSamples: 100,
  hopSamples: 25,
};
const POSE: WindowSpec = {
  name: 'pose',
  modality: 'pose',
  sampleRateHz: 20,
  windowSamples: 40,
  hopSamples: 10,
};

/** Channel c of the IMU at time t encodes both, so layout mistakes show. */
const imuValue = (tNs: number, c: number): number => c * 1000 + (tNs - START_NS) / 1e7;
const imuSignal = (t: number): number[] => [0, 1, 2, 3, 4, 5].map((c) => imuValue(t, c));
const poseValue = (tNs: number, v: number): number => v + (tNs - START_NS) / 1e9;
const poseSignal = (t: number): number[] => Array.from({ length: 51 }, (_, v) => poseValue(t, v));

function windows(spec: WindowSpec, chunks: SampleChunk[]): SensorWindow[] {
  const vt = new VirtualTime();
  const out: SensorWindow[] = [];
  const input = new Subject<SampleChunk>();
  input
    .pipe(resampleToGrid({ rateHz: spec.sampleRateHz }), slidingWindows(spec, { clock: vt.clock }))
    .subscribe((w) => out.push(w));
  for (const c of chunks) input.next(c);
  input.complete();
  return out;
}

describe('slidingWindows', () => {
  it('ends IMU 50 Hz and pose 20 Hz windows at the same instants, on the absolute hop grid', () => {
    // Different raw rates and start offsets: IMU at 50 Hz, camera at an uneven ~20 Hz.
    const imu = windows(IMU, [imuChunk('w1', 's1', times(START_NS, 20e6, 1000), imuSignal)]);
    const pose = windows(POSE, [poseChunk('cam/1', 's1', times(START_NS + 17e6, 49.7e6, 400), poseSignal)]);
    assert.ok(imu.length >= 35 && pose.length >= 35);
    for (const w of [...imu, ...pose])
      assert.equal(w.endNs % 5e8, 0, `end ${w.endNs} is a multiple of the 0.5 s hop`);
    const imuEnds = new Set(imu.map((w) => w.endNs));
    const shared = pose.filter((w) => imuEnds.has(w.endNs));
    assert.ok(
      shared.length >= pose.length - 2,
      `${shared.length} of ${pose.length} pose windows end where an IMU window ends`,
    );
    // Consecutive windows are one hop apart; windows are 2 s long.
    for (const ws of [imu, pose]) {
      for (let i = 1; i < ws.length; i++) assert.equal(ws[i]!.endNs - ws[i - 1]!.endNs, 5e8);
      for (const w of ws) assert.equal(w.endNs - w.startNs, 2e9);
    }
  });

  it('lays IMU windows out channel-major [6, T] and pose windows [T, 17, 3]', () => {
    const [w] = windows(IMU, [imuChunk('w1', 's1', times(START_NS, 20e6, 200), imuSignal)]);
    assert.ok(w);
    assert.equal(w.input.length, 600);
    for (let c = 0; c < 6; c++) {
      for (let s = 0; s < 100; s++) {
        const t = gridTimeNs(Math.round(w.startNs / 2e7) + s, 50);
        assert.ok(Math.abs(w.input[c * 100 + s]! - imuValue(t, c)) < 1e-2, `ch ${c} sample ${s}`);
      }
    }
    const [p] = windows(POSE, [poseChunk('cam/1', 's1', times(START_NS, 50e6, 80), poseSignal)]);
    assert.ok(p);
    assert.equal(p.input.length, 40 * 51);
    for (let s = 0; s < 40; s++) {
      const t = p.startNs + s * 50e6;
      for (let v = 0; v < 51; v++)
        assert.ok(Math.abs(p.input[s * 51 + v]! - poseValue(t, v)) < 1e-4, `frame ${s} value ${v}`);
    }
  });

  it('needs a full window of new samples after a gap', () => {
    const first = times(START_NS, 20e6, 300);
    const resume = first.at(-1)! + 1e9; // 1 s of silence
    const second = times(resume, 20e6, 300);
    const ws = windows(IMU, [
      imuChunk('w1', 's1', first, imuSignal),
      imuChunk('w1', 's1', second, imuSignal),
    ]);
    const gapEnd = ws.findIndex((w) => w.startNs > first.at(-1)!);
    assert.ok(gapEnd > 0);
    for (const w of ws)
      assert.ok(w.endNs <= first.at(-1)! + 2e7 || w.startNs >= resume, 'no window spans the gap');
    assert.ok(
      ws[gapEnd]!.startNs - resume < 5e8 + 2e7,
      'first window after the gap starts within a hop of the resumption',
    );
    assert.ok(ws.every((w) => w.subjectId === 's1' && w.sourceId === 'w1' && w.encoder === 'imu'));
  });
});
