import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Subject } from 'rxjs';
import { Registry } from 'prom-client';
import type { SampleChunk } from '../../../gateway/domain/samples.ts';
import { gridTimeNs, type GridChunk } from '../../../gateway/pipeline/grid.ts';
import { pipelineMetrics } from '../../../gateway/pipeline/metrics.ts';
import { resampleToGrid } from '../../../gateway/pipeline/stages/resample.ts';
import { imuChunk, prng } from './helpers/fakes.ts';

const EPOCH_NS = 1_767_225_600_000_000_000 + 123_456_789; // deliberately off-grid
const linear = (tNs: number): number[] => {
  const s = (tNs - EPOCH_NS) / 1e9;
  return [1 + 2 * s, -3 * s, 0.5, 10 - s, 4 * s, s * 0.25];
};

function run(
  chunks: SampleChunk[],
  rateHz: number,
  opts: { maxGapNs?: number } = {},
  registry?: Registry,
): GridChunk[] {
  const out: GridChunk[] = [];
  const input = new Subject<SampleChunk>();
  const metrics = registry ? pipelineMetrics(registry) : undefined;
  input.pipe(resampleToGrid({ rateHz, ...opts }, metrics ? { metrics } : {})).subscribe((g) => out.push(g));
  for (const c of chunks) input.next(c);
  input.complete();
  return out;
}

/** Jittered ~52 Hz timestamps: the device neither runs at the grid rate nor evenly. */
function jitteredTimes(n: number, seed = 7): number[] {
  const rnd = prng(seed);
  const ts: number[] = [];
  let t = EPOCH_NS;
  for (let i = 0; i < n; i++) {
    ts.push(t);
    t += 19.2e6 + (rnd() - 0.5) * 8e6;
  }
  return ts;
}

function split<T>(xs: T[], sizes: number[]): T[][] {
  const parts: T[][] = [];
  let i = 0,
    s = 0;
  while (i < xs.length) {
    const n = sizes[s++ % sizes.length] as number;
    parts.push(xs.slice(i, i + n));
    i += n;
  }
  return parts;
}

describe('resampleToGrid', () => {
  it('reproduces a linear signal exactly on the epoch-anchored 50 Hz grid from jittered input', () => {
    const ts = jitteredTimes(500);
    const out = run(
      split(ts, [7, 13, 1, 25]).map((p) => imuChunk('w1', 's1', p, linear)),
      50,
    );
    assert.ok(out.length > 1);
    let expectedK = out[0]!.firstIndex;
    assert.ok(
      gridTimeNs(expectedK, 50) >= ts[0]! && gridTimeNs(expectedK - 1, 50) < ts[0]!,
      'starts at the first grid point after the first sample',
    );
    let total = 0;
    for (const g of out) {
      assert.equal(g.firstIndex, expectedK, 'grid runs are contiguous across chunk boundaries');
      for (let i = 0; i < g.count; i++) {
        const t = gridTimeNs(g.firstIndex + i, 50);
        assert.equal(t % 2e7, 0, 'grid times are whole multiples of the period since the epoch');
        const want = linear(t);
        for (let c = 0; c < 6; c++)
          assert.ok(
            Math.abs(g.values[i * 6 + c]! - want[c]!) < 1e-4,
            `sample ${i} ch ${c}: ${g.values[i * 6 + c]} vs ${want[c]}`,
          );
      }
      expectedK += g.count;
      total += g.count;
    }
    assert.ok(
      gridTimeNs(expectedK - 1, 50) <= ts.at(-1)! && gridTimeNs(expectedK, 50) > ts.at(-1)!,
      'ends at the last grid point before the last sample',
    );
    assert.equal(out.filter((g) => g.restart).length, 1, 'only the first run is a restart');
    assert.ok(total > 400);
  });

  it('gives the same samples however the input is chunked', () => {
    const ts = jitteredTimes(200, 11);
    const flat = (gs: GridChunk[]): number[] => gs.flatMap((g) => Array.from(g.values));
    const a = flat(run([imuChunk('w1', 's1', ts, linear)], 20));
    const b = flat(
      run(
        split(ts, [1, 2, 3]).map((p) => imuChunk('w1', 's1', p, linear)),
        20,
      ),
    );
    assert.deepEqual(a, b);
  });

  it('restarts instead of interpolating across a gap longer than the limit', () => {
    const before = Array.from({ length: 50 }, (_, i) => EPOCH_NS + i * 20e6);
    const gapStart = before.at(-1)!;
    const after = Array.from({ length: 50 }, (_, i) => gapStart + 400e6 + i * 20e6);
    const out = run([imuChunk('w1', 's1', [...before, ...after], linear)], 50, { maxGapNs: 250e6 });
    assert.equal(out.length, 2);
    const [a, b] = out as [GridChunk, GridChunk];
    assert.equal(b.restart, true);
    assert.ok(gridTimeNs(a.firstIndex + a.count - 1, 50) <= gapStart, 'nothing produced inside the gap');
    assert.ok(
      gridTimeNs(b.firstIndex, 50) >= after[0]!,
      'the new run starts at the first sample after the gap',
    );
    // A shorter silence is bridged.
    const short = Array.from({ length: 50 }, (_, i) => gapStart + 200e6 + i * 20e6);
    const bridged = run([imuChunk('w1', 's1', [...before, ...short], linear)], 50, { maxGapNs: 250e6 });
    assert.equal(bridged.length, 1);
  });

  it('keeps sources apart and drops (and counts) samples that go back in time', async () => {
    const registry = new Registry();
    const ts = Array.from({ length: 20 }, (_, i) => EPOCH_NS + i * 20e6);
    const out = run(
      [
        imuChunk('w1', 's1', ts.slice(0, 10), linear),
        imuChunk('w2', 's2', ts, () => [7, 7, 7, 7, 7, 7]),
        imuChunk('w1', 's1', [ts[5]!, ts[9]!, ...ts.slice(10)], linear),
      ],
      50,
      {},
      registry,
    );
    const w1 = out.filter((g) => g.sourceId === 'w1');
    const w2 = out.filter((g) => g.sourceId === 'w2');
    assert.ok(w2.every((g) => g.values.every((v) => v === 7)));
    assert.equal(
      w1.reduce((n, g) => n + g.count, 0),
      19,
    );
    const dropped = await registry.getSingleMetric('mujo_pipeline_dropped_total')!.get();
    const row = dropped.values.find((v) => v.labels['reason'] === 'non-monotonic-time');
    assert.equal(row?.value, 2);
  });
});
