import type { ComponentHealth, HealthRegistry } from './observability/health.ts';

/**
 * One lifecycle for every subsystem: the composition root lists services, starts them in
 * order and stops them in reverse. `stop()` must be safe after a `start()` that failed
 * part-way (it releases whatever was acquired) and must release every subscription and
 * timer the service owns.
 */
export interface Service {
  readonly name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
  health?(): ComponentHealth;
}

/** Starts services in order; stops the ones it started (including a failed one) in reverse. */
export class ServiceList {
  private started: Service[] = [];

  constructor(private readonly services: readonly Service[]) {}

  /** Every service with its own `health()` is reported under its name. */
  reportTo(registry: HealthRegistry): void {
    for (const service of this.services) {
      const report = service.health?.bind(service);
      if (report) registry.provide(service.name, report);
    }
  }

  /** `onStarted` hears each service as it comes up, so a slow start shows where it is. */
  async start(onStarted?: (service: string, ms: number) => void): Promise<void> {
    for (const service of this.services) {
      // Counted before it runs: a start that throws half-way still gets its stop().
      this.started.push(service);
      const began = performance.now();
      await service.start();
      onStarted?.(service.name, Math.round(performance.now() - began));
    }
  }

  /** Every started service is stopped even if one fails; the first failure is rethrown. */
  async stop(): Promise<void> {
    const started = this.started.reverse();
    this.started = [];
    let failure: unknown;
    for (const service of started) {
      try {
        await service.stop();
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  }
}
