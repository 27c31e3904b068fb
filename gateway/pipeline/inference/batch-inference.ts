import {
  Observable,
  asyncScheduler,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import type { EncoderRunner } from '../../domain/model.ts';
import type { Clock } from '../../domain/time.ts';
import type { SensorWindow, WindowEmbedding } from '../../domain/windows.ts';
import type { Logger } from '../../observability/logger.ts';
import { errorCode, errorMessage } from '../../observability/errors.ts';
import { RingQueue } from '../backpressure.ts';
import { countDrop, type PipelineMetrics } from '../metrics.ts';

export const BATCHING_MODES = ['adaptive', 'fixed'] as const;
export type BatchingMode = (typeof BATCHING_MODES)[number];

export interface BatchOptions {
  /**
   * adaptive (default): an idle encoder runs what is waiting at once; while it runs, windows
   * accumulate and the next batch takes them all. fixed: a batch waits up to `maxWaitMs`
   * for `maxBatch` windows.
   */
  readonly mode?: BatchingMode;
  /** Largest batch handed to one `run` call. */
  readonly maxBatch?: number;
  /** Mode fixed: longest a window waits for its batch to fill, ms of scheduler time. */
  readonly maxWaitMs?: number;
  /** Batches of one encoder running at once. */
  readonly maxInFlight?: number;
  /** Windows waiting per encoder; beyond this the oldest is dropped (policy drop-oldest). */
  readonly queueCapacity?: number;
}

export interface BatchDeps {
  readonly clock: Clock;
  readonly scheduler?: SchedulerLike;
  readonly metrics?: PipelineMetrics;
  readonly logger?: Logger;
}

export const INFERENCE_EDGE = 'inference_queue';

export function inferenceQueueEdge(encoder: string): string {
  return `${INFERENCE_EDGE}:${encoder}`;
}

/**
 * A batch whose oldest window has waited this close to maxWaitMs is due. Epoch times in ns
 * are float64 with a resolution of 256 ns: without slack, a timer that fires on time can
 * read a wait a few hundred ns short and re-arm itself for "0 ms" — on a virtual clock, for
 * ever.
 */
const DUE_SLACK_NS = 10_000;

interface Lane {
  readonly runner: EncoderRunner;
  readonly edge: string;
  readonly queue: RingQueue<SensorWindow>;
  readonly freeBuffers: Float32Array[];
  inFlight: number;
  timer: Subscription | null;
}

/**
 * Micro-batches windows of all subjects per encoder, at most `maxInFlight` batches per
 * encoder at once.
 *
 * Mode adaptive ("dynamic batching", as Triton's dynamic batcher with no queue delay): when
 * the encoder has no batch running, whatever waits (up to `maxBatch`) runs at once, so a
 * window at low load waits for nobody; while a batch runs, windows accumulate and the next
 * batch, launched when it resolves, takes them all. A second batch runs alongside only when
 * `maxBatch` windows wait. Batches grow with the load by themselves, latency stays one run.
 *
 * Mode fixed: a batch runs when `maxBatch` windows wait, or when the oldest waiting window
 * has waited `maxWaitMs`, whichever comes first.
 *
 * Windows queue in a bounded
 * ring per encoder; a model slower than the input loses the oldest windows (counted as
 * drops with policy `drop-oldest`) instead of growing memory or latency.
 * On completion of the input every queued window is run (no waiting) and the output
 * completes once the last batch has resolved. A failing batch is logged and counted; its
 * windows are dropped, the stream goes on.
 */
export function batchInference(
  encoders: readonly EncoderRunner[],
  options: BatchOptions,
  deps: BatchDeps,
): OperatorFunction<SensorWindow, WindowEmbedding> {
  const adaptive = (options.mode ?? 'adaptive') === 'adaptive';
  const maxBatch = options.maxBatch ?? 32;
  const maxWaitNs = (options.maxWaitMs ?? 10) * 1e6;
  const maxInFlight = options.maxInFlight ?? 2;
  const capacity = options.queueCapacity ?? Math.max(4 * maxBatch * maxInFlight, 256);
  const scheduler = deps.scheduler ?? asyncScheduler;
  const { clock, metrics, logger } = deps;

  return (source) =>
    new Observable<WindowEmbedding>((subscriber) => {
      const lanes = new Map<string, Lane>();
      for (const runner of encoders) {
        lanes.set(runner.name, {
          runner,
          edge: inferenceQueueEdge(runner.name),
          queue: new RingQueue<SensorWindow>(capacity),
          freeBuffers: [],
          inFlight: 0,
          timer: null,
        });
      }
      let inputDone = false;
      let closed = false;

      const depth = (lane: Lane): void => {
        metrics?.queueDepth.set({ edge: lane.edge }, lane.queue.size);
      };

      const maybeComplete = (): void => {
        if (!inputDone || closed) return;
        for (const lane of lanes.values()) if (lane.inFlight > 0 || lane.queue.size > 0) return;
        closed = true;
        subscriber.complete();
      };

      const pump = (lane: Lane): void => (adaptive ? pumpAdaptive(lane) : pumpFixed(lane));

      const pumpAdaptive = (lane: Lane): void => {
        while (!closed && lane.inFlight < maxInFlight && lane.queue.size > 0) {
          // Busy: let windows gather for the batch launched when the running one resolves.
          if (lane.inFlight > 0 && lane.queue.size < maxBatch && !inputDone) return;
          launch(lane);
        }
      };

      const pumpFixed = (lane: Lane): void => {
        while (!closed && lane.inFlight < maxInFlight && lane.queue.size > 0) {
          const oldest = lane.queue.peek() as SensorWindow;
          const waitedNs = clock.nowNs() - oldest.closedAtNs;
          if (lane.queue.size < maxBatch && !inputDone && waitedNs < maxWaitNs - DUE_SLACK_NS) {
            if (lane.timer === null) {
              lane.timer = scheduler.schedule(
                () => {
                  lane.timer = null;
                  pump(lane);
                },
                Math.max(0, (maxWaitNs - waitedNs) / 1e6),
              );
            }
            return;
          }
          launch(lane);
        }
      };

      const launch = (lane: Lane): void => {
        const { runner } = lane;
        const windows = lane.queue.take(maxBatch);
        depth(lane);
        const n = windows.length;
        const buffer = lane.freeBuffers.pop() ?? new Float32Array(maxBatch * runner.inputSize);
        for (let i = 0; i < n; i++) buffer.set((windows[i] as SensorWindow).input, i * runner.inputSize);
        lane.inFlight++;
        const started = performance.now();
        let pending: Promise<Float32Array>;
        try {
          pending = runner.run(buffer.subarray(0, n * runner.inputSize), n);
        } catch (err) {
          pending = Promise.reject(err);
        }
        pending
          .then((out) => {
            const inferenceUs = Math.round((performance.now() - started) * 1e3);
            const dim = runner.embeddingDim;
            if (out.length !== n * dim) {
              throw new RangeError(
                `encoder ${runner.name} returned ${out.length} values for a batch of ${n} × ${dim}`,
              );
            }
            metrics?.inferenceSeconds.observe({ encoder: runner.name }, inferenceUs / 1e6);
            metrics?.batchSize.observe({ encoder: runner.name }, n);
            if (closed) return;
            for (let i = 0; i < n; i++) {
              subscriber.next({
                window: windows[i] as SensorWindow,
                vector: out.subarray(i * dim, (i + 1) * dim),
                batchSize: n,
                inferenceUs,
              });
            }
          })
          .catch((err: unknown) => {
            metrics?.inferenceErrors.inc({ encoder: runner.name, code: errorCode(err) });
            countDrop(metrics, lane.edge, 'reject-invalid', 'inference-error', n);
            logger?.error(
              { err, code: errorCode(err), encoder: runner.name, batch: n },
              `encoder batch failed: ${errorMessage(err)}`,
            );
          })
          .finally(() => {
            lane.inFlight--;
            if (lane.freeBuffers.length < maxInFlight) lane.freeBuffers.push(buffer);
            pump(lane);
            maybeComplete();
          });
      };

      const subscription = source.subscribe({
        next(window) {
          const lane = lanes.get(window.encoder);
          if (!lane) {
            countDrop(metrics, INFERENCE_EDGE, 'reject-invalid', 'unknown-encoder');
            return;
          }
          if (lane.queue.push(window) !== undefined)
            countDrop(metrics, lane.edge, 'drop-oldest', 'queue-full');
          depth(lane);
          pump(lane);
        },
        error: (err) => subscriber.error(err),
        complete() {
          inputDone = true;
          for (const lane of lanes.values()) {
            lane.timer?.unsubscribe();
            lane.timer = null;
            pump(lane);
          }
          maybeComplete();
        },
      });

      return () => {
        closed = true;
        subscription.unsubscribe();
        for (const lane of lanes.values()) lane.timer?.unsubscribe();
      };
    });
}
