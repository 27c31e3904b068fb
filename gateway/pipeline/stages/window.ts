import { Observable, type OperatorFunction } from 'rxjs';
import type { EncoderRunner } from '../../domain/model.ts';
import { IMU_CHANNELS, valuesPerSample } from '../../domain/samples.ts';
import type { Clock } from '../../domain/time.ts';
import type { SensorWindow } from '../../domain/windows.ts';
import { gridTimeNs, samplesToNs, type GridChunk } from '../grid.ts';
import { ALIGNED_HOPS, type HopPhase } from '../hop-phase.ts';
import { IdleSweep } from '../idle-sweep.ts';
import type { PipelineMetrics } from '../metrics.ts';

/** What windowing needs to know of an encoder. */
export type WindowSpec = Pick<
  EncoderRunner,
  'name' | 'modality' | 'sampleRateHz' | 'windowSamples' | 'hopSamples'
>;

export interface WindowDeps {
  readonly clock: Clock;
  readonly metrics?: PipelineMetrics;
  /** Where each subject's hops fall (default: every subject's windows end at multiples of the hop). */
  readonly hopPhase?: HopPhase;
}

interface SourceRing {
  readonly ring: Float32Array;
  /** Slot the next sample goes to. */
  pos: number;
  /** Contiguous samples seen since the last restart (saturates at the window length). */
  filled: number;
  /** Grid index the next sample must have to continue the run. */
  expectedK: number;
  lastDataNs: number;
  /** The subject the hop phase below was computed for (a source can be reassigned). */
  phaseSubject: string | undefined;
  phaseNs: number;
  /** The phase as a whole number of this grid's samples. */
  phaseK: number;
}

/**
 * Cuts each source's grid samples into windows of `windowSamples`, one every `hopSamples`.
 * A window ends (exclusive) at grid index kEnd with kEnd ≡ phase (mod hopSamples), phase
 * being the subject's hop phase in samples (0 unless hops are staggered, see hop-phase.ts):
 * on the epoch-anchored grid that is end = m · hop duration + phase since the epoch, so
 * windows of different encoders with the same hop duration (IMU 25 @ 50 Hz, pose 10 @ 20 Hz)
 * of one subject end at the same instants. Only contiguous runs make windows: a restart needs a full window of new
 * samples. `input` is laid out as the encoder expects (IMU [6, T] channel-major, pose [T, 17, 3]).
 */
export function slidingWindows(
  encoder: WindowSpec,
  deps: WindowDeps,
): OperatorFunction<GridChunk, SensorWindow> {
  const T = encoder.windowSamples;
  const hop = encoder.hopSamples;
  const vps = valuesPerSample(encoder.modality);
  const channelMajor = encoder.modality === 'imu';
  const hopNs = samplesToNs(hop, encoder.sampleRateHz);
  const periodNs = 1e9 / encoder.sampleRateHz;
  const hopPhase = deps.hopPhase ?? ALIGNED_HOPS;
  const windowLabels = { encoder: encoder.name };

  return (source) =>
    new Observable<SensorWindow>((subscriber) => {
      const rings = new Map<string, SourceRing>();
      const sweep = new IdleSweep(rings);
      return source.subscribe({
        next(chunk) {
          if (chunk.subjectId === undefined) return; // the pipeline's ingress refuses (and counts) these
          let r = rings.get(chunk.sourceId);
          if (!r) {
            r = {
              ring: new Float32Array(T * vps),
              pos: 0,
              filled: 0,
              expectedK: chunk.firstIndex,
              lastDataNs: 0,
              phaseSubject: undefined,
              phaseNs: 0,
              phaseK: 0,
            };
            rings.set(chunk.sourceId, r);
          }
          if (chunk.restart || chunk.firstIndex !== r.expectedK) r.filled = 0;
          if (r.phaseSubject !== chunk.subjectId) {
            r.phaseSubject = chunk.subjectId;
            r.phaseNs = hopPhase(chunk.subjectId);
            // A whole number of this grid's samples (hop-phase.ts picks multiples of every period).
            r.phaseK = Math.round(r.phaseNs / periodNs);
          }
          const { ring, phaseNs, phaseK } = r;
          const values = chunk.values;
          let closed = 0;
          for (let i = 0; i < chunk.count; i++) {
            // Copied value by value: a subarray view per sample was most of this stage's garbage.
            const from = i * vps;
            const to = r.pos * vps;
            for (let c = 0; c < vps; c++) ring[to + c] = values[from + c] as number;
            r.pos = r.pos + 1 === T ? 0 : r.pos + 1;
            if (r.filled < T) r.filled++;
            const kEnd = chunk.firstIndex + i + 1;
            if (r.filled === T && (kEnd - phaseK) % hop === 0) {
              // A fresh array per window: it travels with the window and its embedding (batching,
              // fusion, enrollment keep it), so it is never reused.
              const input = new Float32Array(T * vps);
              // r.pos is now the oldest sample of the window.
              if (channelMajor) {
                for (let s = 0, slot = r.pos; s < T; s++, slot = slot + 1 === T ? 0 : slot + 1) {
                  const at = slot * IMU_CHANNELS;
                  for (let c = 0; c < IMU_CHANNELS; c++) input[c * T + s] = ring[at + c] as number;
                }
              } else {
                const head = (T - r.pos) * vps;
                input.set(ring.subarray(r.pos * vps), 0);
                input.set(ring.subarray(0, r.pos * vps), head);
              }
              // m · hopNs (+ phase): computed the same way on every grid, so ends of one instant are bit-identical.
              const endNs = ((kEnd - phaseK) / hop) * hopNs + phaseNs;
              closed++;
              subscriber.next({
                subjectId: chunk.subjectId,
                sourceId: chunk.sourceId,
                modality: encoder.modality,
                encoder: encoder.name,
                startNs: gridTimeNs(kEnd - T, encoder.sampleRateHz),
                endNs,
                closedAtNs: deps.clock.nowNs(),
                input,
              });
            }
          }
          // One counter update per chunk: prom-client hashes the labels on every call.
          if (closed > 0) deps.metrics?.windows.inc(windowLabels, closed);
          r.expectedK = chunk.firstIndex + chunk.count;
          r.lastDataNs = gridTimeNs(r.expectedK, encoder.sampleRateHz);
          sweep.touch(r.lastDataNs);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
