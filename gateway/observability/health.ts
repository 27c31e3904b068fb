/**
 * Components report their state here; /health and the MQTT status response read it.
 * `degraded` means the component works but something is wrong (broker away and events
 * are spooling, a device stalled); `down` means it does not work at all.
 */
export type ComponentStatus = 'starting' | 'up' | 'degraded' | 'down' | 'stopped';

export interface ComponentHealth {
  readonly status: ComponentStatus;
  /** Last error code, if any, and its message. */
  readonly error?: { readonly code: string; readonly message: string; readonly at: string };
  /** Free-form, JSON-serialisable facts (provider, model version, queue depth…). */
  readonly details?: Record<string, unknown>;
}

export class HealthRegistry {
  private readonly components = new Map<string, ComponentHealth>();
  /** Components asked at read time (services with their own `health()`). */
  private readonly providers = new Map<string, () => ComponentHealth>();

  set(component: string, health: ComponentHealth): void {
    this.components.set(component, health);
  }

  /** Reports `component` by calling `report` whenever health is read. */
  provide(component: string, report: () => ComponentHealth): void {
    this.providers.set(component, report);
  }

  get(component: string): ComponentHealth | undefined {
    return this.providers.get(component)?.() ?? this.components.get(component);
  }

  /** Overall status: the worst of all components. */
  overall(): ComponentStatus {
    const order: ComponentStatus[] = ['down', 'degraded', 'starting', 'up', 'stopped'];
    let worst: ComponentStatus = 'up';
    for (const h of Object.values(this.snapshot())) {
      if (h.status === 'stopped') continue;
      if (order.indexOf(h.status) < order.indexOf(worst)) worst = h.status;
    }
    return worst;
  }

  snapshot(): Record<string, ComponentHealth> {
    const live = [...this.providers].map(([name, report]) => [name, report()] as const);
    return { ...Object.fromEntries(this.components), ...Object.fromEntries(live) };
  }
}
