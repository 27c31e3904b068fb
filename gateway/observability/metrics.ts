import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SOFTWARE_VERSION } from '../version.ts';

/**
 * The Prometheus registry every component registers its metrics on. One per app instance
 * (not prom-client's global), so tests can run several gateways in one process.
 * Metric names are `mujo_<area>_<what>_<unit>`; every drop anywhere is a counter here.
 */
export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  // prom-client's own names already start with process_ / nodejs_: the prefix is just `mujo_`.
  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
    // prom-client names these gauges `_total` (a counter's suffix); the same counts stay
    // available by type in mujo_nodejs_active_{handles,requests,resources}.
    for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total'])
      registry.removeSingleMetric(`${METRIC_PREFIX}nodejs_${name}`);
  }
  buildInfo(registry);
  return registry;
}

/** Every metric name starts with this, once (test/unit/observability/metric-names.test.ts). */
export const METRIC_PREFIX = 'mujo_';

/**
 * `mujo_build_info{version,node,platform,arch} 1`: the Prometheus `_info` idiom, so a query
 * can join any series with the software that produced it (`* on(instance) group_left(version)`).
 */
function buildInfo(registry: Registry): void {
  const info = gauge(registry, 'mujo_build_info', 'Gateway build: version labels, value always 1.', [
    'version',
    'node',
    'platform',
    'arch',
  ]);
  info.set(
    {
      version: SOFTWARE_VERSION,
      node: process.versions.node,
      platform: process.platform,
      arch: process.arch,
    },
    1,
  );
}

export type { Registry };

/*
 * Get-or-create: prom-client refuses a second metric of one name on a registry, and
 * components can be built twice against one registry (a model reload rebuilds the pipeline,
 * a restarted sink, tests), so each shares the metric the first one registered.
 */

export function registered<M>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

export function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Counter<L> {
  return registered(registry, name, () => new Counter<L>({ name, help, labelNames, registers: [registry] }));
}

export function gauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Gauge<L> {
  return registered(registry, name, () => new Gauge<L>({ name, help, labelNames, registers: [registry] }));
}

export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: readonly number[],
): Histogram<L> {
  return registered(
    registry,
    name,
    () => new Histogram<L>({ name, help, labelNames, buckets: [...buckets], registers: [registry] }),
  );
}
