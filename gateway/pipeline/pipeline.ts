import {
  Observable,
  Subject,
  asyncScheduler,
  filter,
  map,
  merge,
  share,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import type { ActivityEvent, SubjectScores, SubjectState } from '../domain/events.ts';
import type { EncoderRunner, LoadedModel } from '../domain/model.ts';
import type { SampleChunk } from '../domain/samples.ts';
import type { Clock } from '../domain/time.ts';
import type { SensorWindow, WindowEmbedding } from '../domain/windows.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import { fuseSubjects, type FusionOptions } from './fusion/fuse-subjects.ts';
import { ALIGNED_HOPS, staggeredHops } from './hop-phase.ts';
import { batchInference, type BatchOptions } from './inference/batch-inference.ts';
import { countDrop, pipelineMetrics, type PipelineMetrics } from './metrics.ts';
import { mapDeviceClock, type ClockMappingOptions } from './stages/clock-mapping.ts';
import { hopDecisions, type HopDecision } from './stages/decisions.ts';
import { resampleToGrid, type ResampleOptions } from './stages/resample.ts';
import { smoothActivity, type SmoothingOptions } from './stages/smooth.ts';
import { slidingWindows } from './stages/window.ts';

export interface PipelineOptions {
  readonly clockMapping?: ClockMappingOptions;
  readonly resample?: Omit<ResampleOptions, 'rateHz'>;
  readonly batching?: BatchOptions;
  readonly fusion?: FusionOptions;
  /**
   * Spread subjects' window ends over the hop (hop-phase.ts) instead of ending them all at
   * the same instant (default false here; the gateway's config turns it on).
   */
  readonly staggerHops?: boolean;
  /** `gateway` (the id written into payloads) is required. */
  readonly smoothing: SmoothingOptions;
}

export interface PipelineDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Registry;
  /** Timers (batch wait, fusion deadline, state ticks); must agree with `clock`. Default asyncScheduler. */
  readonly scheduler?: SchedulerLike;
  /** Per-gateway event sequence; pass one that outlives the pipeline to keep `seq` monotonic across model reloads. */
  readonly nextSeq?: () => number;
  /** Subjects another gateway has taken over: smoothing ends their activity and forgets them now. */
  readonly release$?: Observable<string>;
}

export interface Pipeline {
  /** Feeds one chunk; resampling and windowing run synchronously inside this call. */
  push(chunk: SampleChunk): void;
  /** Feeds every chunk of `chunks$` until it completes or the pipeline stops (its completion does not stop the pipeline). */
  connect(chunks$: Observable<SampleChunk>): Subscription;
  /** Accepted chunks (with a subject, of a modality the model encodes) on the gateway clock: device clocks mapped. */
  readonly samples$: Observable<SampleChunk>;
  readonly windows$: Observable<SensorWindow>;
  readonly embeddings$: Observable<WindowEmbedding>;
  readonly scores$: Observable<SubjectScores>;
  readonly decisions$: Observable<HopDecision>;
  readonly events$: Observable<ActivityEvent>;
  readonly states$: Observable<SubjectState>;
  readonly metrics: PipelineMetrics;
  /**
   * Stops taking input, runs every queued window, decides every open slot, ends every
   * activity and emits final states, then completes all outputs.
   */
  stop(): Promise<void>;
}

export const INGRESS_EDGE = 'ingress';
/** One label object per modality, not a literal per chunk (the counter runs for every chunk). */
const MODALITY_LABELS = { imu: { modality: 'imu' }, pose: { modality: 'pose' } } as const;

/** The encoder a stream feeds: the first manifest encoder of its modality. */
export function encoderFor(
  model: Pick<LoadedModel, 'encoders'>,
  chunk: SampleChunk,
): EncoderRunner | undefined {
  return model.encoders.find((e) => e.modality === chunk.modality);
}

/**
 * Wires the pipeline: ingress checks → device-clock mapping → per encoder (resample to its
 * rate → sliding windows) → micro-batched inference → fusion → smoothing. Everything runs
 * hot from creation; subscribe to the outputs before feeding input.
 */
export function createPipeline(model: LoadedModel, options: PipelineOptions, deps: PipelineDeps): Pipeline {
  const metrics = pipelineMetrics(deps.metrics);
  const scheduler = deps.scheduler ?? asyncScheduler;
  const logger = deps.logger.child({ component: 'pipeline' });
  const { clock } = deps;
  const ingress = new Subject<SampleChunk>();
  const inputs = new Set<Subscription>();
  let stopped = false;

  const accepted$ = ingress.pipe(
    filter((chunk) => {
      if (chunk.subjectId === undefined) {
        countDrop(metrics, INGRESS_EDGE, 'reject-invalid', 'unassigned-subject', chunk.tNs.length);
        return false;
      }
      if (!encoderFor(model, chunk)) {
        countDrop(metrics, INGRESS_EDGE, 'reject-invalid', 'no-encoder-for-modality', chunk.tNs.length);
        return false;
      }
      metrics.samples.inc(MODALITY_LABELS[chunk.modality], chunk.tNs.length);
      return true;
    }),
    mapDeviceClock(options.clockMapping ?? {}, { clock, metrics }),
    share(),
  );

  const hopPhase = options.staggerHops ? staggeredHops(model.encoders) : ALIGNED_HOPS;
  const windows$ = merge(
    ...model.encoders
      .filter((e, i, all) => all.findIndex((o) => o.modality === e.modality) === i)
      .map((encoder) =>
        accepted$.pipe(
          filter((chunk) => chunk.modality === encoder.modality),
          resampleToGrid({ ...options.resample, rateHz: encoder.sampleRateHz }, { metrics }),
          slidingWindows(encoder, { clock, metrics, hopPhase }),
        ),
      ),
  ).pipe(share());

  const embeddings$ = windows$.pipe(
    batchInference(model.encoders, options.batching ?? {}, { clock, scheduler, metrics, logger }),
    share(),
  );
  const scores$ = embeddings$.pipe(
    fuseSubjects(model, { ...options.fusion, hopPhase }, { clock, scheduler, metrics }),
    share(),
  );
  const decisions$ = scores$.pipe(hopDecisions(model.classes), share());
  const activity$ = scores$.pipe(
    smoothActivity(model, options.smoothing, {
      clock,
      scheduler,
      metrics,
      ...(deps.nextSeq ? { nextSeq: deps.nextSeq } : {}),
      ...(deps.release$ ? { release$: deps.release$ } : {}),
    }),
    share(),
  );
  const events$ = activity$.pipe(
    filter((o) => o.kind === 'event'),
    map((o) => o.event),
    share(),
  );
  const states$ = activity$.pipe(
    filter((o) => o.kind === 'state'),
    map((o) => o.state),
    share(),
  );

  // One permanent subscriber per output keeps the chain hot and lets late subscribers join.
  const done = new Promise<void>((resolve, reject) => {
    let open = 2;
    const finish = (): void => {
      if (--open === 0) resolve();
    };
    const onError = (err: unknown): void => {
      logger.error({ err }, 'pipeline failed');
      reject(err);
    };
    decisions$.subscribe({ complete: finish, error: onError });
    merge(events$, states$).subscribe({ complete: finish, error: onError });
  });
  done.catch(() => undefined);

  return {
    samples$: accepted$,
    push(chunk) {
      if (!stopped) ingress.next(chunk);
    },
    connect(chunks$) {
      let finished = false;
      const sub = chunks$.subscribe({
        next: (chunk) => {
          if (!stopped) ingress.next(chunk);
        },
        error: (err: unknown) => {
          finished = true;
          logger.error({ err }, 'pipeline input failed');
        },
        complete: () => {
          finished = true;
        },
      });
      if (!finished) {
        inputs.add(sub);
        sub.add(() => inputs.delete(sub));
      }
      return sub;
    },
    windows$,
    embeddings$,
    scores$,
    decisions$,
    events$,
    states$,
    metrics,
    async stop() {
      if (!stopped) {
        stopped = true;
        for (const sub of inputs) sub.unsubscribe();
        inputs.clear();
        ingress.complete();
      }
      await done;
    },
  };
}
