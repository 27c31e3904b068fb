import { Registry, collectDefaultMetrics } from 'prom-client';

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
