import type { Logger } from '../observability/logger.ts';
import type { Service } from '../service.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded.ts';
import { brokerAnswers } from './probe.ts';

export interface BrokerServiceOptions {
  /** A configured broker; absent: run the embedded one. */
  readonly url?: string | undefined;
  readonly embeddedHost: string;
  readonly embeddedPort: number;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

/**
 * Where the gateway's MQTT client connects: the configured broker, else an embedded one
 * (so the demo needs nothing installed), else a broker already listening on the embedded port.
 */
export class BrokerService implements Service {
  readonly name = 'broker';
  private embedded: EmbeddedBroker | undefined;
  private resolvedUrl = '';
  private resolvedProtocol: 4 | 5 = 5;

  constructor(
    private readonly options: BrokerServiceOptions,
    private readonly logger: Logger,
  ) {}

  /** The URL our client uses ('' before start). */
  get url(): string {
    return this.resolvedUrl;
  }

  get protocolVersion(): 4 | 5 {
    return this.resolvedProtocol;
  }

  /** Is the broker the in-process one (MQTT 3.1.1 only)? */
  get isEmbedded(): boolean {
    return this.embedded !== undefined;
  }

  async start(): Promise<void> {
    const { options } = this;
    if (options.url !== undefined) {
      this.resolvedUrl = options.url;
      return;
    }
    // aedes speaks MQTT 3.1.1 only, hence protocol 4 for our own client.
    try {
      this.embedded = await startEmbeddedBroker({
        host: options.embeddedHost,
        port: options.embeddedPort,
        logger: this.logger,
        ...(options.username !== undefined ? { username: options.username } : {}),
        ...(options.password !== undefined ? { password: options.password } : {}),
      });
      this.resolvedUrl = this.embedded.url;
      this.resolvedProtocol = this.embedded.protocolVersion;
    } catch (err) {
      // Port taken: if a broker already answers there (a local mosquitto), use it rather
      // than refusing to start; otherwise the listen error stands.
      const local = `mqtt://${options.embeddedHost === '0.0.0.0' ? '127.0.0.1' : options.embeddedHost}:${options.embeddedPort}`;
      if (!(await brokerAnswers(local))) throw err;
      this.logger.warn(
        { url: local, code: 'MQTT_EMBEDDED_PORT_TAKEN' },
        'embedded broker port is taken by a running MQTT broker: using that broker',
      );
      this.resolvedUrl = local;
      this.resolvedProtocol = 4;
    }
  }

  async stop(): Promise<void> {
    await this.embedded?.close();
  }
}
