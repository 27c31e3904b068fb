import { decisionRuleOf, type PipelineSectionOptions } from './options.ts';
import { Subject, Subscription, type Observable } from 'rxjs';
import type { SubjectScores } from '../domain/events.ts';
import type { SampleChunk } from '../domain/samples.ts';
import type { Clock } from '../domain/time.ts';
import type { WindowEmbedding } from '../domain/windows.ts';
import type { ModelManager, OrtLoadedModel } from '../model/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import type { Service } from '../service.ts';
import type { SubjectRegistry } from '../subjects/registry.ts';
import { createPipeline, type Pipeline } from './pipeline.ts';
import type { BatchingMode } from './inference/batch-inference.ts';
import type { RepsService } from './reps/reps-service.ts';
import type { HopDecision } from './stages/decisions.ts';

export interface PipelineServiceOptions {
  readonly gateway: string;
  readonly maxBatch: number;
  readonly maxBatchWaitMs: number;
  readonly batching: BatchingMode;
  readonly queueCapacity: number;
  readonly staleAfterHops: number;
  readonly staggerHops: boolean;
  readonly smoothing: PipelineSectionOptions['smoothing'];
  readonly stateIntervalS: number;
  readonly idleEndS: number;
}

export interface PipelineServiceDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly models: ModelManager;
  readonly nextSeq: () => number;
  /** Subjects another gateway has taken over (fleet handover): their activity ends now. */
  readonly release$?: Observable<string>;
  readonly subjects: SubjectRegistry;
  readonly reps: RepsService;
  /** Every source's chunks; each also goes to `observe` (device states) before the pipeline. */
  readonly input$: Observable<SampleChunk>;
  readonly observe: (chunk: SampleChunk) => void;
  /** A pipeline now serves `model`; `swapped` when it replaced another (reload, enrollment). */
  readonly onModel: (model: OrtLoadedModel, swapped: boolean) => void;
}

/**
 * The inference pipeline on the model serving now: rebuilt on every model swap (the previous
 * one drains in the background). Stopping drains it: queued windows run, open slots are
 * decided, activities end with final states, all before the sinks stop.
 */
export class PipelineService implements Service {
  readonly name = 'pipeline';
  private pipeline: Pipeline | undefined;
  private pipelineSubs = new Subscription();
  private readonly subscription = new Subscription();
  private readonly decisionSubject = new Subject<HopDecision>();
  private readonly scoreSubject = new Subject<SubjectScores>();
  private readonly embeddingSubject = new Subject<WindowEmbedding>();

  readonly decisions$: Observable<HopDecision> = this.decisionSubject.asObservable();
  readonly scores$: Observable<SubjectScores> = this.scoreSubject.asObservable();
  readonly embeddings$: Observable<WindowEmbedding> = this.embeddingSubject.asObservable();

  constructor(
    private readonly options: PipelineServiceOptions,
    private readonly deps: PipelineServiceDeps,
  ) {}

  start(): void {
    const { deps } = this;
    const unsubscribeSwaps = deps.models.onSwap((next) => this.swap(next));
    this.subscription.add(() => unsubscribeSwaps());
    this.swap(deps.models.requireCurrent());
    this.subscription.add(
      deps.input$.subscribe((chunk) => {
        deps.observe(chunk);
        this.pipeline?.push(chunk);
      }),
    );
  }

  async stop(): Promise<void> {
    this.subscription.unsubscribe();
    await this.pipeline?.stop();
    this.pipelineSubs.unsubscribe();
  }

  /** Completes the streams (the app does it last, with its other streams). */
  complete(): void {
    this.decisionSubject.complete();
    this.scoreSubject.complete();
    this.embeddingSubject.complete();
  }

  /** Builds a pipeline on `model` and retires the previous one (drained in the background). */
  private swap(model: OrtLoadedModel): void {
    const { options, deps } = this;
    const previous = this.pipeline;
    const previousSubs = this.pipelineSubs;
    const pipeline = createPipeline(
      model,
      {
        batching: {
          mode: options.batching,
          maxBatch: options.maxBatch,
          maxWaitMs: options.maxBatchWaitMs,
          queueCapacity: options.queueCapacity,
        },
        fusion: { staleAfterHops: options.staleAfterHops },
        staggerHops: options.staggerHops,
        smoothing: {
          gateway: options.gateway,
          emaAlpha: options.smoothing.alpha,
          enterThreshold: options.smoothing.enterThreshold,
          exitThreshold: options.smoothing.exitThreshold,
          minDwellS:
            options.smoothing.minDwellHops *
            Math.max(...model.encoders.map((e) => e.hopSamples / e.sampleRateHz)),
          stateIntervalS: options.stateIntervalS,
          idleEndS: options.idleEndS,
          decision: decisionRuleOf(options.smoothing),
        },
      },
      {
        clock: deps.clock,
        logger: deps.logger,
        metrics: deps.metrics,
        nextSeq: deps.nextSeq,
        ...(deps.release$ ? { release$: deps.release$ } : {}),
      },
    );
    const subs = new Subscription();
    subs.add(pipeline.events$.subscribe((event) => deps.subjects.onActivity(event)));
    subs.add(pipeline.states$.subscribe((state) => deps.subjects.onState(state)));
    subs.add(pipeline.decisions$.subscribe((d) => this.decisionSubject.next(d)));
    subs.add(pipeline.scores$.subscribe((s) => this.scoreSubject.next(s)));
    subs.add(
      pipeline.embeddings$.subscribe((e) => {
        deps.subjects.noteWindowEnd(e.window.subjectId, e.window.endNs);
        this.embeddingSubject.next(e);
      }),
    );
    // The pipeline's chunks: device clocks (BLE, MQTT ingest) already mapped to the gateway's.
    subs.add(pipeline.samples$.subscribe((chunk) => deps.reps.current?.push(chunk)));
    this.pipelineSubs = subs;
    this.pipeline = pipeline;
    deps.reps.setManifest(model.manifest.classes);
    deps.onModel(model, previous !== undefined);
    if (previous) void previous.stop().finally(() => previousSubs.unsubscribe());
  }
}
