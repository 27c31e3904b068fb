import type { Registry } from 'prom-client';
import type { TimeNs } from '../../domain/time.ts';
import type { PipelineStats } from './line-protocol.ts';

/**
 * Turns the pipeline's Prometheus metrics into `pipeline` points for InfluxDB, so the
 * Grafana gateway dashboard shows the same numbers as /metrics: per encoder the windows
 * (cumulative), the mean batch size and inference time over the last period (from histogram
 * sum/count deltas), per edge the queue depth and drops (cumulative), per sink its connection.
 */
export class PipelineStatsSampler {
  private previous = new Map<string, { sum: number; count: number }>();

  constructor(private readonly registry: Registry) {}

  async sample(timeNs: TimeNs, sinks: Record<string, boolean>): Promise<PipelineStats[]> {
    const metrics = await this.registry.getMetricsAsJSON();
    const byName = new Map(metrics.map((m) => [m.name, m.values as MetricValue[]]));
    const stats = new Map<string, Mutable<PipelineStats>>();
    const stage = (name: string): Mutable<PipelineStats> => {
      let s = stats.get(name);
      if (!s) stats.set(name, (s = { stage: name, timeNs }));
      return s;
    };

    for (const v of byName.get('mujo_pipeline_windows_total') ?? []) {
      stage(`inference:${v.labels['encoder']}`).windows = v.value;
    }
    // The histogram is in seconds (Prometheus base unit); the InfluxDB field stays inference_us.
    for (const [metric, field, scale] of [
      ['mujo_pipeline_inference_seconds', 'inferenceUs', 1e6],
      ['mujo_pipeline_batch_size', 'batchSize', 1],
    ] as const) {
      for (const [encoder, mean] of this.periodMeans(metric, byName.get(metric) ?? [])) {
        stage(`inference:${encoder}`)[field] = mean * scale;
      }
    }
    for (const v of byName.get('mujo_pipeline_queue_depth') ?? []) {
      stage(String(v.labels['edge'])).queueDepth = v.value;
    }
    for (const v of byName.get('mujo_pipeline_dropped_total') ?? []) {
      const s = stage(String(v.labels['edge']));
      s.dropped = (s.dropped ?? 0) + v.value;
    }
    for (const [sink, connected] of Object.entries(sinks)) stage(`sink:${sink}`).connected = connected;
    return [...stats.values()];
  }

  /** Mean per encoder of a histogram's observations since the previous sample. */
  private periodMeans(metric: string, values: readonly MetricValue[]): Map<string, number> {
    const totals = new Map<string, { sum: number; count: number }>();
    for (const v of values) {
      const encoder = String(v.labels['encoder']);
      const t = totals.get(encoder) ?? { sum: 0, count: 0 };
      if (v.metricName === `${metric}_sum`) t.sum = v.value;
      else if (v.metricName === `${metric}_count`) t.count = v.value;
      else continue;
      totals.set(encoder, t);
    }
    const means = new Map<string, number>();
    for (const [encoder, t] of totals) {
      const key = `${metric}:${encoder}`;
      const prev = this.previous.get(key) ?? { sum: 0, count: 0 };
      this.previous.set(key, t);
      const count = t.count - prev.count;
      if (count > 0) means.set(encoder, (t.sum - prev.sum) / count);
    }
    return means;
  }
}

interface MetricValue {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName?: string;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
