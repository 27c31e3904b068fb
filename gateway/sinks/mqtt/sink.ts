// Long file: one MQTT connection's lifecycle (connect, LWT, in-flight window, queue and spool, durability ticks, commands, drain) around one client's events.
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Registry } from 'prom-client';
import {
  PAYLOAD_VERSION,
  type ActivityEvent,
  type DeviceState,
  type SubjectState,
} from '../../domain/events.ts';
import {
  realTimers,
  repeat,
  settlesWithin,
  type Repeating,
  type TimerHandle,
  type Timers,
} from '../../clock/timers.ts';
import { NS_PER_MS, nsToIso, systemClock, type Clock } from '../../domain/time.ts';
import { GatewayError, errorMessage } from '../../observability/errors.ts';
import type { HealthRegistry } from '../../observability/health.ts';
import type { Logger } from '../../observability/logger.ts';
import { buildClientOptions, redactUrl, type MqttTlsOptions } from './client-options.ts';
import { CommandRouter, type CommandHandler, type CommandOptions, type CommandPolicy } from './commands.ts';
import { MqttMetrics } from './metrics.ts';
import { MQTT_DEFAULTS } from './options.ts';
import { OutboundQueue, type QueueItem } from './outbound-queue.ts';
import type { GatewayStatus, GatewayStatusInfo, RepsEvent } from './payloads.ts';
import { mqttTopics, type MqttTopics } from './topics.ts';

export interface MqttQueueOptions {
  /** Memory-only messages held before everything is spilled to disk (default: MQTT_DEFAULTS). */
  readonly memoryMessages?: number;
  readonly spoolDir: string;
  /** Disk spool limit; beyond it the oldest segments are evicted and counted (default: MQTT_DEFAULTS). */
  readonly maxSpoolBytes?: number;
  /** Segment file size (default 4 MiB, at most a quarter of maxSpoolBytes). */
  readonly segmentBytes?: number;
  /** Disconnected this long, queued and new messages are written to disk as they come (default 5000). */
  readonly spillAfterMs?: number;
  /**
   * Durability bound: a message queued this long and not yet acknowledged is on disk
   * (written and fdatasynced), so a kill -9 loses at most this much (default: MQTT_DEFAULTS; 0 = off).
   */
  readonly syncIntervalMs?: number;
}

export interface MqttSinkOptions {
  readonly url: string;
  /** 5 (default) for real brokers; 4 for the embedded aedes broker. */
  readonly protocolVersion?: 4 | 5;
  readonly gatewayId: string;
  readonly baseTopic?: string;
  /** Default `mujo-<gatewayId>`. */
  readonly clientId?: string;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: MqttTlsOptions;
  /** QoS of events, state and responses (default 1). */
  readonly qos?: 0 | 1 | 2;
  readonly queue: MqttQueueOptions;
  /** Publishes awaiting their PUBACK at once (default 64; lowered to the broker's receive maximum). */
  readonly maxInFlight?: number;
  readonly reconnectPeriodMs?: number;
  readonly connectTimeoutMs?: number;
  readonly keepaliveS?: number;
  /** How long stop() waits for the queue to drain before spooling the rest (default 5000). */
  readonly drainTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
  /** Who may run which command (commands.ts); default open, unlimited: the app always sets it. */
  readonly commandPolicy?: CommandPolicy;
  /** Software version on the status topic. */
  readonly softwareVersion?: string;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly health?: HealthRegistry;
  readonly clock?: Clock;
  /** Spill, durability, drain and command timers. Default: real timers; tests pass virtual ones. */
  readonly timers?: Timers;
}

/** Refusal codes and their `outcome` label in mujo_mqtt_commands_total. */
const REFUSALS: Record<string, string> = {
  MQTT_UNAUTHORIZED: 'unauthorized',
  MQTT_COMMANDS_DISABLED: 'unauthorized',
  MQTT_RATE_LIMITED: 'rate_limited',
};

export type MessageHandler = (topic: string, payload: Buffer, packet: IPublishPacket) => void;

interface Subscription {
  readonly filter: string;
  /** The filter compiled once (dispatch runs for every message received). */
  readonly matches: (topic: string) => boolean;
  readonly qos: 0 | 1 | 2;
  readonly handler: MessageHandler;
}

/** MQTT topic filter matching (+ one level, # the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  return topicFilterMatcher(filter)(topic);
}

/**
 * {@link topicMatches} with the filter split once: the matcher walks the topic's levels in
 * place, without splitting it into an array of strings per message.
 */
export function topicFilterMatcher(filter: string): (topic: string) => boolean {
  const levels = filter.split('/');
  if (!levels.includes('+') && !levels.includes('#')) return (topic) => topic === filter;
  return (topic) => {
    let pos = 0; // start of the topic's current level; past its end: no level left
    for (const level of levels) {
      if (level === '#') return true;
      if (pos > topic.length) return false;
      let end = topic.indexOf('/', pos);
      if (end < 0) end = topic.length;
      if (level !== '+' && (end - pos !== level.length || !topic.startsWith(level, pos))) return false;
      pos = end + 1;
    }
    return pos > topic.length; // as many levels as the filter
  };
}

const HEALTH_COMPONENT = 'mqtt';

/**
 * The gateway's one MQTT connection: publishes events and state through the durable
 * outbound queue, keeps availability and status retained, answers requests, and lets the
 * ingest source subscribe. Publishing never blocks and never throws for a missing broker:
 * messages wait in the queue (memory, then disk) and go out in order when it is back.
 */
export class MqttSink {
  readonly topics: MqttTopics;
  readonly metrics: MqttMetrics;
  private readonly queue: OutboundQueue;
  private readonly router: CommandRouter;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly qos: 0 | 1 | 2;
  private readonly protocolVersion: 4 | 5;
  private readonly subscriptions: Subscription[] = [];
  private client: MqttClient | undefined;
  private connectedNow = false;
  private stopping = false;
  private stopped = false;
  private started = false;
  private writeThrough = false;
  private readonly timers: Timers;
  private spillTimer: TimerHandle | undefined;
  private syncTicks: Repeating | undefined;
  /** Highest seq queued at the previous durability tick. */
  private seqAtLastTick = 0;
  /** Set while the disk under the spool refuses writes; shown in /health. */
  private diskFull: { code: string; message: string; at: string } | undefined;
  private spillScheduled = false;
  private pumping = false;
  private pumpAgain = false;
  private maxInFlight: number;
  private idleWaiters: Array<() => void> = [];
  private connectWaiters: Array<() => void> = [];
  private subackWaiters: Array<() => void> = [];
  private pendingSubacks = 0;
  private lastError: { code: string; message: string; at: string } | undefined;
  private lastLoggedError = '';
  private statusInfo: GatewayStatusInfo = { model: null, encoders: [] };
  private lastStatusKey = '';
  private readonly startedAtMs: number;

  constructor(private readonly opts: MqttSinkOptions) {
    this.topics = mqttTopics(opts.baseTopic ?? MQTT_DEFAULTS.baseTopic, opts.gatewayId);
    this.metrics = new MqttMetrics(opts.registry);
    this.logger = opts.logger.child({ component: 'mqtt' });
    this.clock = opts.clock ?? systemClock;
    this.timers = opts.timers ?? realTimers;
    this.qos = opts.qos ?? MQTT_DEFAULTS.qos;
    this.protocolVersion = opts.protocolVersion ?? 5;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 64);
    this.startedAtMs = this.clock.nowNs() / NS_PER_MS;
    this.queue = new OutboundQueue({
      spoolDir: opts.queue.spoolDir,
      memoryMessages: opts.queue.memoryMessages ?? MQTT_DEFAULTS.queue.memoryMessages,
      maxSpoolBytes: opts.queue.maxSpoolBytes ?? MQTT_DEFAULTS.queue.maxSpoolBytes,
      segmentBytes: opts.queue.segmentBytes ?? 4 * 1024 * 1024,
      logger: this.logger,
      metrics: this.metrics,
      onDiskFull: (report) => {
        this.diskFull = report.full
          ? { code: report.code, message: report.message, at: new Date().toISOString() }
          : undefined;
        if (this.started && !this.stopped) this.setHealth(this.connectedNow ? 'up' : 'degraded');
      },
    });
    this.router = new CommandRouter(
      opts.gatewayId,
      opts.commandTimeoutMs ?? 30000,
      opts.commandPolicy,
      this.timers,
    );
    this.router.register(
      'status',
      () => ({
        status: this.statusPayload('online'),
        health: opts.health?.snapshot() ?? null,
      }),
      { readOnly: true },
    );
  }

  get connected(): boolean {
    return this.connectedNow;
  }

  /** Queue depth, in-memory share and spool size, for /health and tests. */
  stats(): {
    queued: number;
    inMemory: number;
    inFlight: number;
    spoolBytes: number;
    spoolSegments: number;
    connected: boolean;
  } {
    return {
      queued: this.queue.size,
      inMemory: this.queue.memoryOnlyCount,
      inFlight: this.queue.inFlightCount,
      spoolBytes: this.queue.spoolBytes,
      spoolSegments: this.queue.spoolSegments.length,
      connected: this.connectedNow,
    };
  }

  /** Opens the spool (anything a previous run left goes out first) and starts connecting; does not wait for the broker. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.setHealth('starting');
    this.queue.open();
    const options: IClientOptions = buildClientOptions({
      url: this.opts.url,
      protocolVersion: this.protocolVersion,
      clientId: this.opts.clientId ?? `mujo-${this.opts.gatewayId}`,
      ...(this.opts.username !== undefined ? { username: this.opts.username } : {}),
      ...(this.opts.password !== undefined ? { password: this.opts.password } : {}),
      ...(this.opts.tls !== undefined ? { tls: this.opts.tls } : {}),
      availabilityTopic: this.topics.availability,
      reconnectPeriodMs: this.opts.reconnectPeriodMs ?? 1000,
      connectTimeoutMs: this.opts.connectTimeoutMs ?? 10000,
      keepaliveS: this.opts.keepaliveS ?? 30,
    });
    options.resubscribe = false; // we re-subscribe ourselves on every connect
    this.subscribeInternal(this.topics.requestFilter, 1, (topic, payload, packet) =>
      this.onRequest(topic, payload, packet),
    );
    this.logger.info(
      { url: redactUrl(this.opts.url), protocolVersion: this.protocolVersion, clientId: options.clientId },
      'connecting to MQTT broker',
    );
    const client = connect(this.opts.url, options);
    this.client = client;
    client.on('connect', (connack) => this.onConnect(connack.properties?.receiveMaximum));
    client.on('close', () => this.onClose());
    client.on('reconnect', () => this.metrics.reconnects.inc());
    client.on('error', (err) => this.onError(err));
    client.on('message', (topic, payload, packet) => this.dispatch(topic, payload, packet));
    this.scheduleSpillWhileAway();
    this.startDurabilityTicks();
  }

  /**
   * Every syncIntervalMs/2, whatever was queued before the previous tick and is still only in
   * memory is spilled and fdatasynced: nothing accepted stays off disk longer than syncIntervalMs.
   * While the broker acknowledges promptly, nothing is that old and the disk is not touched.
   */
  private startDurabilityTicks(): void {
    const intervalMs = this.opts.queue.syncIntervalMs ?? MQTT_DEFAULTS.queue.syncIntervalMs;
    if (intervalMs <= 0) return;
    this.syncTicks = repeat(this.timers, Math.max(1, Math.floor(intervalMs / 2)), () => {
      if (this.stopped) return;
      if (this.queue.hasMemoryOnlyAtOrBelow(this.seqAtLastTick)) {
        this.queue.spill();
        this.queue.sync();
      }
      this.seqAtLastTick = this.queue.lastSeq;
    });
  }

  /** Resolves once connected, or rejects after `timeoutMs`. */
  waitConnected(timeoutMs: number): Promise<void> {
    if (this.connectedNow) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = this.timers.setTimeout(
        () => {
          this.connectWaiters = this.connectWaiters.filter((w) => w !== done);
          reject(
            new GatewayError(
              'MQTT_CONNECT_TIMEOUT',
              `not connected to ${redactUrl(this.opts.url)} within ${timeoutMs} ms${this.lastError ? `: ${this.lastError.message}` : ''}`,
            ),
          );
        },
        timeoutMs,
        true,
      );
      const done = () => {
        this.timers.clearTimeout(timer);
        resolve();
      };
      this.connectWaiters.push(done);
    });
  }

  /** Resolves when every queued message is acknowledged, or false after `timeoutMs`. */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.queue.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.timers.setTimeout(
        () => {
          this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
          resolve(false);
        },
        timeoutMs,
        true,
      );
      const done = () => {
        this.timers.clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  publishActivity(event: ActivityEvent): void {
    this.enqueue('activity', this.topics.activity(event.subject), event, false);
  }

  publishSubjectState(state: SubjectState): void {
    this.enqueue('subject_state', this.topics.subjectState(state.subject), state, true);
  }

  publishReps(event: RepsEvent): void {
    this.enqueue('reps', this.topics.reps(event.subject), event, false);
  }

  publishDeviceState(state: DeviceState): void {
    this.enqueue('device_state', this.topics.deviceState(state.device), state, true);
  }

  /**
   * A retained message outside the gateway's own tree (Home Assistant discovery config).
   * Goes through the same durable queue, so discovery survives a broker outage too.
   */
  publishRetained(kind: string, topic: string, payload: unknown): void {
    this.enqueue(kind, topic, payload, true);
  }

  /** Model, providers and extras for the retained status topic; published when they change. */
  setStatus(info: GatewayStatusInfo): void {
    this.statusInfo = info;
    this.publishStatusIfChanged();
  }

  /** An action on request/<action>; it needs the command token unless `readOnly`. */
  registerCommand(action: string, handler: CommandHandler, options: CommandOptions = {}): void {
    this.router.register(action, handler, options);
  }

  /** For sources (IMU ingest): messages on `filter` go to `handler`; kept across reconnects. */
  subscribe(filter: string, qos: 0 | 1 | 2, handler: MessageHandler): () => void {
    return this.subscribeInternal(filter, qos, handler);
  }

  /**
   * Drains the queue (up to drainTimeoutMs), publishes `offline`, disconnects, and writes
   * whatever is still unacknowledged to the spool for the next run.
   */
  async stop(): Promise<void> {
    if (!this.started || this.stopped) return;
    this.stopping = true;
    this.cancelSpillTimer();
    this.syncTicks?.cancel();
    const client = this.client!;
    const drainMs = this.opts.drainTimeoutMs ?? 5000;
    if (this.connectedNow) {
      const drained = await this.waitIdle(drainMs);
      if (!drained)
        this.logger.warn(
          { code: 'MQTT_DRAIN_TIMEOUT', queued: this.queue.size, drainMs },
          'queue not drained before stop; the rest is spooled for the next run',
        );
      const statusTopic = this.topics.status;
      await Promise.all([
        this.publishDirect(
          statusTopic,
          JSON.stringify(this.statusPayload('offline')),
          true,
          Math.min(drainMs, 2000),
        ),
        this.publishDirect(this.topics.availability, 'offline', true, Math.min(drainMs, 2000)),
      ]);
    }
    const wasConnected = this.connectedNow;
    this.connectedNow = false;
    // A clean DISCONNECT when we can: a forced end drops the socket without one, and the
    // broker then fires the last will, a second `offline` for every subscriber.
    let endedCleanly = false;
    if (wasConnected) {
      const clean = client.endAsync(false).then(
        () => (endedCleanly = true),
        () => undefined,
      );
      // A broker that does not answer the DISCONNECT must not hold the stop up.
      await settlesWithin(this.timers, clean, 2000, false);
    }
    if (!endedCleanly) await client.endAsync(true).catch(() => undefined);
    // endAsync(true) fails the callbacks of anything in flight, which requeues it.
    this.queue.spill();
    this.queue.close();
    this.stopped = true;
    this.metrics.connected.set(0);
    this.setHealth('stopped');
    const left = this.queue.size;
    this.logger.info(
      { spooled: left },
      left > 0 ? 'MQTT stopped; unsent messages kept in the spool' : 'MQTT stopped',
    );
  }

  // --- internals -----------------------------------------------------------------------

  private enqueue(kind: string, topic: string, payload: unknown, retain: boolean): void {
    if (this.stopped) {
      this.metrics.publishErrors.inc({ reason: 'stopped' });
      this.logger.error({ code: 'MQTT_STOPPED', topic }, 'publish after stop: message dropped');
      return;
    }
    this.queue.push({
      topic,
      payload: Buffer.from(JSON.stringify(payload)),
      qos: this.qos,
      retain,
      kind,
      queuedAtNs: this.clock.nowNs(),
    });
    if (this.writeThrough) this.scheduleSpill();
    this.pump();
  }

  private scheduleSpill(): void {
    if (this.spillScheduled) return;
    this.spillScheduled = true;
    setImmediate(() => {
      this.spillScheduled = false;
      if (this.writeThrough && !this.stopped) this.queue.spill();
    });
  }

  private cancelSpillTimer(): void {
    if (this.spillTimer !== undefined) this.timers.clearTimeout(this.spillTimer);
    this.spillTimer = undefined;
  }

  private scheduleSpillWhileAway(): void {
    this.cancelSpillTimer();
    this.spillTimer = this.timers.setTimeout(() => {
      this.spillTimer = undefined;
      if (this.connectedNow || this.stopped) return;
      this.writeThrough = true;
      this.queue.spill();
      this.setHealth('degraded');
    }, this.opts.queue.spillAfterMs ?? 5000);
  }

  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        while (this.connectedNow && !this.stopped && this.queue.inFlightCount < this.maxInFlight) {
          const item = this.queue.next();
          if (!item) break;
          this.send(item);
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
    if (this.queue.size === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private send(item: QueueItem): void {
    this.client!.publish(item.topic, item.payload, { qos: item.qos, retain: item.retain }, (err) => {
      if (!err) {
        this.queue.ack(item);
        this.metrics.published.inc({ kind: item.kind });
        if (item.queuedAtNs !== undefined)
          this.metrics.publishSeconds.observe(
            { kind: item.kind },
            (this.clock.nowNs() - item.queuedAtNs) / 1e9,
          );
      } else {
        this.onPublishError(item, err);
      }
      this.pump();
    });
  }

  private onPublishError(item: QueueItem, err: Error): void {
    const reasonCode = (err as { code?: unknown }).code;
    if (typeof reasonCode === 'number') {
      // The broker refused this message (v5 reason code): retrying would block the queue forever.
      this.queue.ack(item);
      this.metrics.publishErrors.inc({ reason: `rejected_${reasonCode}` });
      this.logger.error(
        { code: 'MQTT_PUBLISH_REJECTED', reasonCode, topic: item.topic, err: errorMessage(err) },
        'broker rejected a message; dropped',
      );
    } else if (this.stopping || !this.client?.connected) {
      this.queue.requeue(item);
      this.metrics.publishErrors.inc({ reason: 'connection' });
    } else {
      this.queue.ack(item);
      this.metrics.publishErrors.inc({ reason: 'client' });
      this.logger.error(
        { code: 'MQTT_PUBLISH_FAILED', topic: item.topic, err: errorMessage(err) },
        'publish failed; message dropped',
      );
    }
  }

  private onConnect(receiveMaximum: number | undefined): void {
    if (this.stopping) return;
    const wasConnected = this.connectedNow;
    this.connectedNow = true;
    this.writeThrough = false;
    this.cancelSpillTimer();
    if (receiveMaximum !== undefined)
      this.maxInFlight = Math.max(1, Math.min(this.opts.maxInFlight ?? 64, receiveMaximum));
    this.metrics.connected.set(1);
    this.lastLoggedError = '';
    this.logger.info(
      {
        url: redactUrl(this.opts.url),
        queued: this.queue.size,
        reconnect: wasConnected,
        // The broker's Receive Maximum bounds the publish rate (docs/mqtt.md): shown so that a
        // low one (mosquitto's default 20) is visible where the operator looks first.
        inFlightWindow: this.maxInFlight,
        brokerReceiveMaximum: receiveMaximum ?? null,
      },
      'connected to MQTT broker',
    );
    const client = this.client!;
    client.publish(this.topics.availability, 'online', { qos: 1, retain: true });
    this.lastStatusKey = '';
    this.publishStatusIfChanged();
    for (const s of this.subscriptions) this.subscribeOnBroker(s);
    this.setHealth('up');
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w();
    this.pump();
  }

  private onClose(): void {
    this.pendingSubacks = 0;
    if (!this.connectedNow) return;
    this.connectedNow = false;
    this.metrics.connected.set(0);
    if (this.stopping) return;
    this.logger.warn(
      { code: 'MQTT_DISCONNECTED', queued: this.queue.size },
      'disconnected from MQTT broker; queuing until it is back',
    );
    this.setHealth('degraded');
    this.scheduleSpillWhileAway();
  }

  private onError(err: Error): void {
    const raw = (err as { code?: unknown }).code;
    const code =
      typeof raw === 'string' ? raw : typeof raw === 'number' ? `MQTT_REFUSED_${raw}` : 'MQTT_CONNECTION';
    this.lastError = {
      code,
      message: errorMessage(err),
      at: new Date(this.clock.nowNs() / NS_PER_MS).toISOString(),
    };
    // A broker that stays away fails every second: log the first and each new kind of failure.
    if (this.lastLoggedError !== this.lastError.message) {
      this.lastLoggedError = this.lastError.message;
      this.logger.warn(
        { code, err: errorMessage(err), url: redactUrl(this.opts.url) },
        'MQTT connection error',
      );
    }
    if (!this.connectedNow && !this.stopped) this.setHealth('degraded');
  }

  private subscribeInternal(filter: string, qos: 0 | 1 | 2, handler: MessageHandler): () => void {
    const sub: Subscription = { filter, matches: topicFilterMatcher(filter), qos, handler };
    this.subscriptions.push(sub);
    if (this.connectedNow) this.subscribeOnBroker(sub);
    return () => {
      const i = this.subscriptions.indexOf(sub);
      if (i >= 0) this.subscriptions.splice(i, 1);
      if (this.connectedNow && !this.subscriptions.some((s) => s.filter === filter))
        this.client?.unsubscribe(filter);
    };
  }

  /** Resolves once the broker has acknowledged every subscription made so far (tests, startup checks). */
  whenSubscribed(): Promise<void> {
    if (this.connectedNow && this.pendingSubacks === 0) return Promise.resolve();
    return new Promise((resolve) => this.subackWaiters.push(resolve));
  }

  private subscribeOnBroker(sub: Subscription): void {
    this.pendingSubacks++;
    this.client!.subscribe(sub.filter, { qos: sub.qos }, (err, granted) => {
      this.pendingSubacks--;
      if (this.pendingSubacks === 0 && this.connectedNow) {
        const waiters = this.subackWaiters;
        this.subackWaiters = [];
        for (const w of waiters) w();
      }
      const refused = granted?.find((g) => g.qos === 128);
      if (err || refused) {
        this.logger.error(
          {
            code: 'MQTT_SUBSCRIBE_FAILED',
            filter: sub.filter,
            err: err ? errorMessage(err) : 'refused by broker',
          },
          'subscription failed',
        );
      }
    });
  }

  private dispatch(topic: string, payload: Buffer, packet: IPublishPacket): void {
    for (const s of this.subscriptions) {
      if (!s.matches(topic)) continue;
      try {
        s.handler(topic, payload, packet);
      } catch (err) {
        // A handler bug must not take the connection down; it is logged with its code.
        this.logger.error(
          { code: 'MQTT_HANDLER_FAILED', topic, err: errorMessage(err) },
          'message handler threw',
        );
      }
    }
  }

  private onRequest(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const action = this.topics.actionOf(topic);
    if (action === undefined) return;
    const props = packet.properties;
    const correlationData = props?.correlationData;
    const fallbackId = correlationData ? correlationData.toString('utf8') : null;
    const label = this.router.has(action) ? action : 'unknown';
    void this.router.handle(action, payload, fallbackId).then((response) => {
      const refused = !response.ok ? REFUSALS[response.error.code] : undefined;
      this.metrics.commands.inc({ action: label, outcome: response.ok ? 'ok' : (refused ?? 'error') });
      // Refusals are counted; a flood of them logs one line a minute per action.
      if (!response.ok && (!refused || this.shouldLogRefusal(label)))
        this.logger.warn(
          { code: response.error.code, action, correlationId: response.correlationId },
          response.error.message,
        );
      const responseTopic = props?.responseTopic ?? this.topics.response(action);
      const options: Parameters<MqttClient['publish']>[2] = { qos: this.qos, retain: false };
      if (this.protocolVersion === 5 && correlationData) options.properties = { correlationData };
      if (!this.client || this.stopped) return;
      this.client.publish(responseTopic, JSON.stringify(response), options, (err) => {
        if (err) this.metrics.publishErrors.inc({ reason: 'response' });
        else this.metrics.published.inc({ kind: 'response' });
      });
    });
  }

  private publishDirect(topic: string, payload: string, retain: boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.timers.setTimeout(resolve, timeoutMs, true);
      this.client!.publish(topic, payload, { qos: 1, retain }, () => {
        this.timers.clearTimeout(timer);
        resolve();
      });
    });
  }

  private statusPayload(state: 'online' | 'offline'): GatewayStatus {
    const nowMs = this.clock.nowNs() / NS_PER_MS;
    return {
      v: PAYLOAD_VERSION,
      gateway: this.opts.gatewayId,
      state,
      software: { name: 'mujo-gateway', version: this.opts.softwareVersion ?? '0.0.0' },
      startedAt: new Date(this.startedAtMs).toISOString(),
      uptimeS: Math.max(0, Math.round((nowMs - this.startedAtMs) / 1000)),
      model: this.statusInfo.model,
      encoders: this.statusInfo.encoders,
      ...(this.statusInfo.extra !== undefined ? { extra: this.statusInfo.extra } : {}),
      updated: nsToIso(this.clock.nowNs()),
    };
  }

  private publishStatusIfChanged(): void {
    // Uptime changes every second; only a change of what is served warrants a new retained message.
    const key = JSON.stringify(this.statusInfo);
    if (key === this.lastStatusKey || !this.connectedNow || !this.client) return;
    this.lastStatusKey = key;
    this.client.publish(
      this.topics.status,
      JSON.stringify(this.statusPayload('online')),
      { qos: 1, retain: true },
      (err) => {
        if (err) this.metrics.publishErrors.inc({ reason: 'status' });
        else this.metrics.published.inc({ kind: 'status' });
      },
    );
  }

  private readonly refusalLoggedAtMs = new Map<string, number>();

  private shouldLogRefusal(action: string): boolean {
    const now = Date.now();
    if (now - (this.refusalLoggedAtMs.get(action) ?? Number.NEGATIVE_INFINITY) < 60_000) return false;
    this.refusalLoggedAtMs.set(action, now);
    return true;
  }

  private setHealth(status: 'starting' | 'up' | 'degraded' | 'stopped'): void {
    if (this.diskFull && status === 'up') status = 'degraded';
    const details = {
      url: redactUrl(this.opts.url),
      protocolVersion: this.protocolVersion,
      connected: this.connectedNow,
      queued: this.queue.size,
      spoolBytes: this.queue.spoolBytes,
      spooling: this.writeThrough,
      spoolDiskFull: this.diskFull !== undefined,
    };
    this.opts.health?.set(HEALTH_COMPONENT, {
      status,
      details,
      ...(this.diskFull
        ? { error: this.diskFull }
        : this.lastError && status !== 'up'
          ? { error: this.lastError }
          : {}),
    });
  }
}
