import type { Timers } from '../../clock/timers.ts';
import { mkdir } from 'node:fs/promises';
import type { HealthRegistry } from '../../observability/health.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Registry } from '../../observability/metrics.ts';
import type { Service } from '../../service.ts';
import { SequenceFile } from '../../spool/sequence-file.ts';
import { SOFTWARE_VERSION } from '../../version.ts';
import { mqttSinkOptionsFromConfig } from './from-config.ts';
import { MqttSink } from './sink.ts';

type MqttConfig = Parameters<typeof mqttSinkOptionsFromConfig>[0];

export interface MqttServiceDeps {
  readonly gatewayId: string;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly health: HealthRegistry;
  readonly httpToken?: string | undefined;
  /** The broker to connect to, known once the broker service has started. */
  readonly broker: () => { readonly url: string; readonly protocolVersion: 4 | 5 };
  /** Registers the command table on the sink before it connects. */
  readonly registerCommands: (sink: MqttSink) => void;
  /** Connected: e.g. Home Assistant discovery. */
  readonly onStarted: () => void;
  /** Timers for the sink's retries, drains and command timeouts (tests: virtual). */
  readonly timers?: Timers;
}

/**
 * The MQTT sink (events, states, reps, commands) and the activity `seq` file kept next to
 * its spool, so `seq` never repeats across restarts (docs/mqtt.md). Stopping drains the
 * queue and publishes `offline`.
 */
export class MqttService implements Service {
  readonly name = 'mqtt';
  private sinkValue: MqttSink | undefined;
  private eventSeq: SequenceFile | undefined;
  private localSeq = 0;

  constructor(
    private readonly config: MqttConfig,
    private readonly deps: MqttServiceDeps,
  ) {}

  /** The sink once started (undefined before). */
  get sink(): MqttSink | undefined {
    return this.sinkValue;
  }

  /** The next `seq` of activity and reps events (one sequence): persistent once started, else counted in memory. */
  nextEventSeq(): number {
    return this.eventSeq ? this.eventSeq.next() : this.nextLocalSeq();
  }

  /** In-memory `seq` (events before the file is open). */
  nextLocalSeq(): number {
    return ++this.localSeq;
  }

  async start(): Promise<void> {
    const { config, deps } = this;
    const { url, protocolVersion } = deps.broker();
    await mkdir(config.queue.spoolDir, { recursive: true });
    this.eventSeq = new SequenceFile({
      path: `${config.queue.spoolDir}/event-seq.json`,
      logger: deps.logger,
    });
    this.eventSeq.open();
    this.sinkValue = new MqttSink(
      mqttSinkOptionsFromConfig(config, {
        gatewayId: deps.gatewayId,
        url,
        protocolVersion,
        logger: deps.logger,
        registry: deps.registry,
        health: deps.health,
        softwareVersion: SOFTWARE_VERSION,
        ...(deps.httpToken !== undefined ? { httpToken: deps.httpToken } : {}),
        ...(deps.timers ? { timers: deps.timers } : {}),
      }),
    );
    deps.registerCommands(this.sinkValue);
    await this.sinkValue.start();
    deps.onStarted();
  }

  async stop(): Promise<void> {
    await this.sinkValue?.stop();
    this.eventSeq?.close();
  }
}
