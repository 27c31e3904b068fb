import { Observable, type OperatorFunction } from 'rxjs';
import { valuesPerSample, type SampleChunk } from '../../domain/samples.ts';
import { gridIndexAtOrAfter, gridTimeNs, type GridChunk } from '../grid.ts';
import { IdleSweep } from '../idle-sweep.ts';
import { countDrop, type PipelineMetrics } from '../metrics.ts';

export interface ResampleOptions {
  /** Target rate per chunk (the rate of the encoder that will consume the source). */
  readonly rateHz: number | ((chunk: SampleChunk) => number);
  /** A silence longer than this (ns) restarts the stream instead of interpolating across it. */
  readonly maxGapNs?: number;
  /** …unless the source's own period is so long that this many periods exceed `maxGapNs`. */
  readonly maxGapPeriods?: number;
}

export interface ResampleDeps {
  readonly metrics?: PipelineMetrics;
}

interface SourceState {
  rateHz: number;
  vps: number;
  lastT: number;
  last: Float32Array;
  /** Next grid index to produce. */
  nextK: number;
  /** Smoothed spacing of the source's own samples, ns. */
  periodNs: number;
  /** The next run emitted does not continue the previous one. */
  restart: boolean;
  /** For IdleSweep: time of the newest sample. */
  lastDataNs: number;
}

export const RESAMPLE_EDGE = 'resample';

/**
 * Linear interpolation of each source onto the absolute grid k / rateHz (see grid.ts).
 * A grid point is produced once both neighbouring source samples are known, so output lags
 * input by at most one source period. Across a silence longer than the gap limit nothing
 * is invented: the run ends and a new one (`restart: true`) begins at the next sample.
 * Samples not later than their predecessor are dropped and counted.
 */
export function resampleToGrid(
  options: ResampleOptions,
  deps: ResampleDeps = {},
): OperatorFunction<SampleChunk, GridChunk> {
  const maxGapNs = options.maxGapNs ?? 250e6;
  const maxGapPeriods = options.maxGapPeriods ?? 3;
  const rateOf = typeof options.rateHz === 'function' ? options.rateHz : () => options.rateHz as number;

  return (source) =>
    new Observable<GridChunk>((subscriber) => {
      const states = new Map<string, SourceState>();
      const sweep = new IdleSweep(states);
      let scratch = new Float32Array(1024);
      // One function for the subscription, not a closure per chunk.
      const emitRun = (chunk: SampleChunk, st: SourceState, firstIndex: number, count: number): void => {
        if (count === 0) return;
        subscriber.next({
          modality: chunk.modality,
          sourceId: chunk.sourceId,
          subjectId: chunk.subjectId,
          rateHz: st.rateHz,
          firstIndex,
          count,
          // A copy: consumers may keep grid chunks; the scratch is reused for the next run.
          values: scratch.slice(0, count * st.vps),
          restart: st.restart,
        });
        st.restart = false;
      };

      return source.subscribe({
        next(chunk) {
          const rateHz = rateOf(chunk);
          const vps = valuesPerSample(chunk.modality);
          let st = states.get(chunk.sourceId);
          if (!st || st.rateHz !== rateHz || st.vps !== vps) {
            st = {
              rateHz,
              vps,
              lastT: NaN,
              last: new Float32Array(vps),
              nextK: 0,
              periodNs: 1e9 / rateHz,
              restart: true,
              lastDataNs: 0,
            };
            states.set(chunk.sourceId, st);
          }
          const n = chunk.tNs.length;
          let runStartK = st.nextK;
          let runCount = 0;
          const values = chunk.values;
          let nonMonotonic = 0;

          for (let i = 0; i < n; i++) {
            const t = chunk.tNs[i] as number;
            const base = i * vps;
            if (!Number.isNaN(st.lastT)) {
              const dt = t - st.lastT;
              if (!(dt > 0)) {
                nonMonotonic++;
                continue;
              }
              if (dt <= Math.max(maxGapNs, maxGapPeriods * st.periodNs)) {
                st.periodNs += 0.1 * (dt - st.periodNs);
                let gt = gridTimeNs(st.nextK, rateHz);
                while (gt <= t) {
                  const frac = (gt - st.lastT) / dt;
                  const o = runCount * vps;
                  if (o + vps > scratch.length) {
                    const grown = new Float32Array(scratch.length * 2);
                    grown.set(scratch);
                    scratch = grown;
                  }
                  for (let c = 0; c < vps; c++) {
                    const a = st.last[c] as number;
                    scratch[o + c] = a + frac * ((values[base + c] as number) - a);
                  }
                  runCount++;
                  st.nextK++;
                  gt = gridTimeNs(st.nextK, rateHz);
                }
                st.lastT = t;
                // Value by value: a subarray view per sample was this stage's main garbage.
                for (let c = 0; c < vps; c++) st.last[c] = values[base + c] as number;
                continue;
              }
              // Gap: close the current run, start afresh at this sample.
              emitRun(chunk, st, runStartK, runCount);
              runCount = 0;
              st.restart = true;
            }
            st.lastT = t;
            for (let c = 0; c < vps; c++) st.last[c] = values[base + c] as number;
            st.nextK = gridIndexAtOrAfter(t, rateHz);
            runStartK = st.nextK;
            if (gridTimeNs(st.nextK, rateHz) === t) {
              scratch.set(st.last, 0);
              runCount = 1;
              st.nextK++;
            }
          }
          emitRun(chunk, st, runStartK, runCount);
          if (!Number.isNaN(st.lastT)) {
            st.lastDataNs = st.lastT;
            sweep.touch(st.lastT);
          }
          if (nonMonotonic > 0)
            countDrop(deps.metrics, RESAMPLE_EDGE, 'reject-invalid', 'non-monotonic-time', nonMonotonic);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
