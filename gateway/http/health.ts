import type { ComponentStatus, HealthRegistry } from '../observability/health.ts';
import type { HealthReport } from './types.ts';

export function healthReport(registry: HealthRegistry): HealthReport {
  return { status: registry.overall(), components: registry.snapshot() };
}

/**
 * `degraded` still serves (events spool, a device is missing), so load balancers and
 * container health checks keep it; `down` and a gateway still `starting` do not serve yet.
 */
export function healthHttpStatus(status: ComponentStatus): 200 | 503 {
  return status === 'up' || status === 'degraded' || status === 'stopped' ? 200 : 503;
}
