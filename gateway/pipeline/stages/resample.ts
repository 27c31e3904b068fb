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
          const emitRun = (): void => {
            if (runCount === 0) return;
            subscriber.next({
              modality: chunk.modality,
              sourceId: chunk.sourceId,
              subjectId: chunk.subjectId,
              rateHz,
              firstIndex: runStartK,
              count: runCount,
              values: scratch.slice(0, runCount * vps),
              restart: (st as SourceState).restart,
            });
            (st as SourceState).restart = false;
            runCount = 0;
          };
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
                st.last.set(values.subarray(base, base + vps));
                continue;
              }
              // Gap: close the current run, start afresh at this sample.
              emitRun();
              st.restart = true;
            }
            st.lastT = t;
            st.last.set(values.subarray(base, base + vps));
            st.nextK = gridIndexAtOrAfter(t, rateHz);
            runStartK = st.nextK;
            if (gridTimeNs(st.nextK, rateHz) === t) {
              scratch.set(st.last, 0);
              runCount = 1;
              st.nextK++;
            }
          }
          emitRun();
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
