/**
 * The fleet view: one page for a whole site. It subscribes to the central broker (the one every
 * room is bridged to, docs/fleet.md), folds the gateways' retained topics into a FleetState and
 * serves the page, a JSON snapshot and a server-sent event stream of snapshots. It needs no
 * database and no gateway: it reads only what the gateways already publish.
 */
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { SseHub, formatSse, sseMetrics } from '../../http/sse.ts';
import type { Logger } from '../../observability/logger.ts';
import { redactUrl } from '../../observability/redact.ts';
import { createMetricsRegistry, type Registry } from '../../observability/metrics.ts';
import { FLEET_TOPICS, FleetState, type FleetSnapshot } from './fleet-state.ts';
import { FLEET_PAGE } from './page.ts';

export interface FleetViewOptions {
  readonly broker: {
    readonly url: string;
    readonly username?: string;
    readonly password?: string;
    /** PEM file of the CA that signed the central broker's certificate (mqtts://). */
    readonly ca?: string;
  };
  readonly baseTopic: string;
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  /** Snapshots are pushed at most this often, however busy the site is. */
  readonly pushIntervalMs?: number;
}

export interface FleetViewPayload extends FleetSnapshot {
  readonly broker: { readonly url: string; readonly connected: boolean };
}

export class FleetView {
  private readonly state: FleetState;
  private readonly registry: Registry = createMetricsRegistry({ defaultMetrics: false });
  private readonly fastify: FastifyInstance;
  private readonly hub: SseHub;
  private client: MqttClient | undefined;
  private pushTimer: NodeJS.Timeout | undefined;
  private urlValue: string | undefined;

  constructor(private readonly options: FleetViewOptions) {
    this.state = new FleetState(options.baseTopic);
    this.hub = new SseHub({
      heartbeatMs: 15_000,
      maxBufferedBytes: 1024 * 1024,
      logger: options.logger,
      metrics: sseMetrics(this.registry),
    });
    this.fastify = Fastify({
      loggerInstance: options.logger as FastifyBaseLogger,
      disableRequestLogging: true,
    });
    this.fastify.get('/', (_req, reply) =>
      reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(FLEET_PAGE),
    );
    this.fastify.get('/api/fleet', () => this.payload());
    this.fastify.get('/health', (_req, reply) => {
      const connected = this.client?.connected ?? false;
      return reply.code(connected ? 200 : 503).send({
        status: connected ? 'up' : 'down',
        broker: this.payload().broker,
        ...(connected ? {} : { code: 'FLEET_BROKER_UNREACHABLE' }),
      });
    });
    this.fastify.get('/api/fleet/events', (request, reply) => {
      reply.hijack();
      this.hub.attach(request.raw, reply.raw, [formatSse('fleet', this.payload())]);
    });
  }

  get url(): string | undefined {
    return this.urlValue;
  }

  payload(): FleetViewPayload {
    return {
      ...this.state.snapshot(),
      broker: { url: redactUrl(this.options.broker.url), connected: this.client?.connected ?? false },
    };
  }

  /** Listens and connects to the central broker (reconnecting on its own while it is away). */
  async start(): Promise<string> {
    const { broker, baseTopic, logger } = this.options;
    const clientOptions: IClientOptions = {
      protocolVersion: 5,
      reconnectPeriod: 2000,
      clientId: `mujo-fleet-view-${process.pid}`,
      ...(broker.username !== undefined ? { username: broker.username } : {}),
      ...(broker.password !== undefined ? { password: broker.password } : {}),
      ...(broker.ca !== undefined ? { ca: readFileSync(broker.ca) } : {}),
    };
    const client = connect(broker.url, clientOptions);
    this.client = client;
    client.on('connect', () => {
      logger.info({ broker: redactUrl(broker.url) }, 'fleet view connected to the central broker');
      // Subscribing again on every connect gets every retained state anew.
      client.subscribe(
        FLEET_TOPICS.map((t) => `${baseTopic}/${t}`),
        { qos: 1 },
        (err) => {
          if (err)
            logger.error(
              { code: 'FLEET_SUBSCRIBE_FAILED', err: err.message },
              'fleet view could not subscribe',
            );
        },
      );
      this.schedulePush();
    });
    client.on('close', () => this.schedulePush());
    client.on('error', (err) =>
      logger.warn({ code: 'FLEET_BROKER_ERROR', err: err.message }, 'central broker connection error'),
    );
    client.on('message', (topic, payload) => {
      this.state.apply(topic, payload);
      this.schedulePush();
    });
    this.urlValue = await this.fastify.listen({ host: this.options.host, port: this.options.port });
    return this.urlValue;
  }

  async stop(): Promise<void> {
    if (this.pushTimer) clearTimeout(this.pushTimer);
    this.hub.closeAll();
    await this.client?.endAsync(true);
    await this.fastify.close();
  }

  /** Coalesces bursts (every retained topic arrives at once on connect) into one push. */
  private schedulePush(): void {
    if (this.pushTimer) return;
    this.pushTimer = setTimeout(() => {
      this.pushTimer = undefined;
      this.hub.broadcast('fleet', this.payload());
    }, this.options.pushIntervalMs ?? 250);
  }
}
