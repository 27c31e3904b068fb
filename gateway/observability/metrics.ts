import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The Prometheus registry every component registers its metrics on. One per app instance
 * (not prom-client's global), so tests can run several gateways in one process.
 * Metric names are `mujo_<area>_<what>_<unit>`; every drop anywhere is a counter here.
 */
export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'mujo_process_' });
  return registry;
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
