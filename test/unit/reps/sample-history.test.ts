import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  IMU_CHANNELS,
  POSE_VALUES_PER_FRAME,
  type Modality,
  type SampleChunk,
} from '../../../gateway/domain/samples.ts';
import { SampleHistory } from '../../../gateway/pipeline/reps/sample-history.ts';
import { prng } from '../../helpers/prng.ts';

const SPAN_NS = 6e9;

function chunk(modality: Modality, t0: number, n: number, periodNs: number, seed: number): SampleChunk {
  const width = modality === 'imu' ? IMU_CHANNELS : POSE_VALUES_PER_FRAME;
  return {
    modality,
    sourceId: modality === 'imu' ? 'band' : 'cam/1',
    subjectId: 's1',
    tNs: Float64Array.from({ length: n }, (_, i) => t0 + i * periodNs),
    values: Float32Array.from({ length: n * width }, (_, i) => seed + i / 1000),
  };
}

/** What the service kept before: the chunks themselves, dropped once their last sample is older than the span. */
function referenceHistory(chunks: SampleChunk[]): SampleChunk[] {
  const held: SampleChunk[] = [];
  for (const c of chunks) {
    held.push(c);
    const newest = c.tNs[c.tNs.length - 1]!;
    while (held.length > 0 && newest - held[0]!.tNs[held[0]!.tNs.length - 1]! > SPAN_NS) held.shift();
  }
  return held;
}

function replayed(history: SampleHistory): { modality: Modality; tNs: number[]; values: number[] }[] {
  const out: { modality: Modality; tNs: number[]; values: number[] }[] = [];
  history.replay((modality, tNs, values, from, to) => {
    const width = modality === 'imu' ? IMU_CHANNELS : POSE_VALUES_PER_FRAME;
    out.push({
      modality,
      tNs: [...tNs.subarray(from, to)],
      values: [...values.subarray(from * width, to * width)],
    });
  });
  return out;
}

const asPlain = (chunks: SampleChunk[]) =>
  chunks.map((c) => ({ modality: c.modality, tNs: [...c.tNs], values: [...c.values] }));

describe('SampleHistory', () => {
  it('holds what a list of chunks would, in arrival order, through wrap-around and growth', () => {
    const rnd = prng(22);
    const history = new SampleHistory(SPAN_NS);
    const pushed: SampleChunk[] = [];
    let imuT = 1e12;
    let poseT = 1e12;
    for (let k = 0; k < 600; k++) {
      // Mostly 10-sample IMU chunks and 3-frame pose chunks; now and then a long burst (a
      // reconnect flushing its buffer) that forces the ring to grow, and a pause.
      const imu = rnd() < 0.7;
      const n = rnd() < 0.03 ? 150 + Math.floor(rnd() * 300) : imu ? 10 : 3;
      const c = imu ? chunk('imu', imuT, n, 20e6, k) : chunk('pose', poseT, n, 66e6, k);
      if (imu) imuT += n * 20e6 + (rnd() < 0.02 ? 3e9 : 0);
      else poseT += n * 66e6;
      history.push(c);
      pushed.push(c);
      if (k % 7 === 0 || k > 590)
        assert.deepEqual(replayed(history), asPlain(referenceHistory(pushed)), `after chunk ${k}`);
    }
    assert.equal(
      history.samples,
      referenceHistory(pushed).reduce((n, c) => n + c.tNs.length, 0),
    );
  });

  it('copies the samples: a pushed chunk reused by its producer does not change the history', () => {
    const history = new SampleHistory(SPAN_NS);
    const c = chunk('imu', 1e12, 10, 20e6, 1);
    const before = asPlain([c]);
    history.push(c);
    (c.tNs as Float64Array).fill(0);
    (c.values as Float32Array).fill(-1);
    assert.deepEqual(replayed(history), before);
  });

  it('ignores empty chunks and forgets everything once the newest sample is far ahead', () => {
    const history = new SampleHistory(SPAN_NS);
    history.push(chunk('imu', 1e12, 0, 20e6, 0));
    assert.equal(history.samples, 0);
    history.push(chunk('imu', 1e12, 10, 20e6, 0));
    history.push(chunk('pose', 1e12, 3, 66e6, 0));
    history.push(chunk('imu', 1e12 + 60e9, 10, 20e6, 0));
    assert.deepEqual(
      replayed(history).map((r) => r.tNs[0]),
      [1e12 + 60e9],
    );
  });
});
