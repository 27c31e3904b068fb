import { Subscription, type Observable } from 'rxjs';
import type { DeviceState } from '../../domain/events.ts';
import type { SampleChunk } from '../../domain/samples.ts';
import type { Clock } from '../../domain/time.ts';
import type { HealthRegistry } from '../../observability/health.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Registry } from '../../observability/metrics.ts';
import type { Service } from '../../service.ts';
import { influxSinkOptionsFromConfig } from './from-config.ts';
import { PipelineStatsSampler } from './pipeline-stats.ts';
import { InfluxSink } from './sink.ts';

/** Period of the `pipeline` points written to InfluxDB (the Grafana gateway dashboard). */
export const PIPELINE_STATS_MS = 10_000;

type InfluxConfig = Parameters<typeof influxSinkOptionsFromConfig>[0] & { readonly enabled: boolean };

export interface InfluxServiceDeps {
  readonly gatewayId: string;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly health: HealthRegistry;
  readonly clock: Clock;
  /** Every source's chunks, on the gateway clock (IMU is written, downsampled as configured). */
  readonly input$: Observable<SampleChunk>;
  readonly deviceStates$: Observable<DeviceState>;
  readonly mqttConnected: () => boolean;
}

/**
 * InfluxDB: activity, reps, subject and device state, optional downsampled IMU, and every
 * PIPELINE_STATS_MS a `pipeline` snapshot of the metrics. Starts before the sources so
 * nothing produced is missed; its own queue and spool keep points while the database is
 * away. The stats timer is wall-clock (unref'd): there is no injected timer abstraction yet.
 */
export class InfluxService implements Service {
  readonly name = 'influx';
  private sinkValue: InfluxSink | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly subscription = new Subscription();

  constructor(
    private readonly config: InfluxConfig,
    private readonly deps: InfluxServiceDeps,
  ) {}

  get sink(): InfluxSink | undefined {
    return this.sinkValue;
  }

  async start(): Promise<void> {
    const { config, deps } = this;
    if (!config.enabled) return;
    const influx = new InfluxSink(
      influxSinkOptionsFromConfig(config, {
        gatewayId: deps.gatewayId,
        logger: deps.logger,
        registry: deps.registry,
        health: deps.health,
        clock: deps.clock,
      }),
    );
    this.sinkValue = influx;
    await influx.start();
    this.subscription.add(
      deps.input$.subscribe((chunk) => {
        if (chunk.modality === 'imu') influx.writeImu(chunk);
      }),
    );
    this.subscription.add(deps.deviceStates$.subscribe((state) => influx.writeDevice(state)));
    const sampler = new PipelineStatsSampler(deps.registry);
    this.timer = setInterval(() => {
      void sampler
        .sample(deps.clock.nowNs(), { mqtt: deps.mqttConnected(), influx: influx.connected })
        .then((stats) => influx.writePipeline(stats));
    }, PIPELINE_STATS_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.sinkValue?.stop();
    this.subscription.unsubscribe();
  }
}
