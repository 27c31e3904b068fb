import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BackpressurePolicy } from './backpressure.ts';
import { registered } from '../observability/metrics.ts';

/** The pipeline's Prometheus instruments; one set per registry (shared by pipelines on it). */
export interface PipelineMetrics {
  readonly samples: Counter<'modality'>;
  readonly windows: Counter<'encoder'>;
  /** Wall time of one `EncoderRunner.run` call, µs. */
  readonly inferenceSeconds: Histogram<'encoder'>;
  readonly batchSize: Histogram<'encoder'>;
  readonly inferenceErrors: Counter<'encoder' | 'code'>;
  readonly queueDepth: Gauge<'edge'>;
  readonly dropped: Counter<'edge' | 'policy' | 'reason'>;
  readonly scores: Counter<'modalities'>;
  readonly events: Counter<'transition'>;
  /** Device-clock drift estimated per source, ppm (device fast = positive). */
  readonly clockDriftRatio: Gauge<'source'>;
}

export function countDrop(
  metrics: PipelineMetrics | undefined,
  edge: string,
  policy: BackpressurePolicy,
  reason: string,
  n = 1,
): void {
  metrics?.dropped.inc({ edge, policy, reason }, n);
}

/**
 * Registers (or, when a previous pipeline on the same registry did, reuses) the pipeline
 * metrics, so a model reload that builds a new pipeline keeps its counters continuous.
 */
export function pipelineMetrics(registry: Registry): PipelineMetrics {
  const get = <M>(name: string, create: () => M): M => registered(registry, name, create);
  const registers = [registry];
  return {
    samples: get(
      'mujo_pipeline_samples_total',
      () =>
        new Counter({
          name: 'mujo_pipeline_samples_total',
          help: 'Samples entering the pipeline, by modality.',
          labelNames: ['modality'] as const,
          registers,
        }),
    ),
    windows: get(
      'mujo_pipeline_windows_total',
      () =>
        new Counter({
          name: 'mujo_pipeline_windows_total',
          help: 'Windows closed and handed to inference, by encoder.',
          labelNames: ['encoder'] as const,
          registers,
        }),
    ),
    inferenceSeconds: get(
      'mujo_pipeline_inference_seconds',
      () =>
        new Histogram({
          name: 'mujo_pipeline_inference_seconds',
          help: 'Wall time of one encoder batch run, seconds.',
          labelNames: ['encoder'] as const,
          registers,
          buckets: [50e-6, 100e-6, 200e-6, 500e-6, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1],
        }),
    ),
    batchSize: get(
      'mujo_pipeline_batch_size',
      () =>
        new Histogram({
          name: 'mujo_pipeline_batch_size',
          help: 'Windows per encoder batch run.',
          labelNames: ['encoder'] as const,
          registers,
          buckets: [1, 2, 4, 8, 16, 32, 64, 128],
        }),
    ),
    inferenceErrors: get(
      'mujo_pipeline_inference_errors_total',
      () =>
        new Counter({
          name: 'mujo_pipeline_inference_errors_total',
          help: 'Failed encoder batch runs, by encoder and error code.',
          labelNames: ['encoder', 'code'] as const,
          registers,
        }),
    ),
    queueDepth: get(
      'mujo_pipeline_queue_depth',
      () =>
        new Gauge({
          name: 'mujo_pipeline_queue_depth',
          help: 'Items waiting on a pipeline edge.',
          labelNames: ['edge'] as const,
          registers,
        }),
    ),
    dropped: get(
      'mujo_pipeline_dropped_total',
      () =>
        new Counter({
          name: 'mujo_pipeline_dropped_total',
          help: 'Items a pipeline edge discarded, by edge, backpressure policy and reason.',
          labelNames: ['edge', 'policy', 'reason'] as const,
          registers,
        }),
    ),
    scores: get(
      'mujo_pipeline_scores_total',
      () =>
        new Counter({
          name: 'mujo_pipeline_scores_total',
          help: 'Fused per-subject decisions, by modality set used.',
          labelNames: ['modalities'] as const,
          registers,
        }),
    ),
    events: get(
      'mujo_pipeline_events_total',
      () =>
        new Counter({
          name: 'mujo_pipeline_events_total',
          help: 'Activity events emitted, by transition.',
          labelNames: ['transition'] as const,
          registers,
        }),
    ),
    clockDriftRatio: get(
      'mujo_pipeline_clock_drift_ratio',
      () =>
        new Gauge({
          name: 'mujo_pipeline_clock_drift_ratio',
          help: 'Estimated device clock drift relative to the gateway clock, as a ratio (1e-6 = 1 ppm).',
          labelNames: ['source'] as const,
          registers,
        }),
    ),
  };
}
