import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import { realTimers, repeat, type Repeating, type Timers } from '../clock/timers.ts';
import { registered } from '../observability/metrics.ts';
import type { Logger } from '../observability/logger.ts';

/** One server-sent event, serialised once and written to every client. */
export function formatSse(event: string, data: unknown, id?: string | number): string {
  // JSON.stringify escapes newlines, so the payload always fits one `data:` line.
  return `event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`;
}

export interface SseHubMetrics {
  readonly clients: Gauge;
  readonly dropped: Counter;
  readonly sent: Counter;
}

/** Registers the hub's metrics once per registry (a registry may outlive one server). */
export function sseMetrics(registry: Registry): SseHubMetrics {
  const get = <T>(name: string, make: () => T): T => registered(registry, name, make);
  return {
    clients: get(
      'mujo_http_sse_clients',
      () =>
        new Gauge({
          name: 'mujo_http_sse_clients',
          help: 'Connected /api/events clients',
          registers: [registry],
        }),
    ),
    dropped: get(
      'mujo_http_sse_dropped_clients_total',
      () =>
        new Counter({
          name: 'mujo_http_sse_dropped_clients_total',
          help: 'SSE clients disconnected because they did not read fast enough (buffer limit reached)',
          registers: [registry],
        }),
    ),
    sent: get(
      'mujo_http_sse_events_sent_total',
      () =>
        new Counter({
          name: 'mujo_http_sse_events_sent_total',
          help: 'SSE events written to clients',
          registers: [registry],
        }),
    ),
  };
}

interface Client {
  readonly id: number;
  readonly res: ServerResponse;
  readonly remote: string;
}

/**
 * Fans events out to every connected EventSource. Each client's unsent bytes (ours plus
 * the socket's) are bounded: a client that does not drain is disconnected and counted,
 * so one stalled phone cannot make the gateway's memory grow. The browser reconnects on
 * its own and gets a fresh snapshot.
 */
export class SseHub {
  private readonly clients = new Map<number, Client>();
  private nextId = 1;
  private readonly heartbeat: Repeating;

  constructor(
    private readonly options: {
      heartbeatMs: number;
      maxBufferedBytes: number;
      logger: Logger;
      metrics: SseHubMetrics;
      /** Default: real timers. Tests pass virtual ones. */
      timers?: Timers;
    },
  ) {
    this.heartbeat = repeat(options.timers ?? realTimers, options.heartbeatMs, () =>
      this.writeAll(': heartbeat\n\n', false),
    );
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Takes over a response: writes SSE headers and `initial` messages, then keeps it open. */
  attach(req: IncomingMessage, res: ServerResponse, initial: readonly string[]): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Reverse proxies (nginx) would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    const client: Client = { id: this.nextId++, res, remote: req.socket.remoteAddress ?? 'unknown' };
    this.clients.set(client.id, client);
    this.options.metrics.clients.set(this.clients.size);
    const remove = (): void => {
      if (this.clients.delete(client.id)) this.options.metrics.clients.set(this.clients.size);
    };
    res.on('close', remove);
    res.on('error', remove);
    // Tells EventSource how long to wait before reconnecting after a drop.
    this.write(client, 'retry: 2000\n\n', false);
    for (const message of initial) this.write(client, message, true);
  }

  broadcast(event: string, data: unknown, id?: string | number): void {
    if (this.clients.size === 0) return;
    this.writeAll(formatSse(event, data, id), true);
  }

  /** Ends every stream (server shutdown); clients will try to reconnect. */
  closeAll(): void {
    this.heartbeat.cancel();
    for (const client of this.clients.values()) client.res.end();
    this.clients.clear();
    this.options.metrics.clients.set(0);
  }

  private writeAll(message: string, counted: boolean): void {
    for (const client of [...this.clients.values()]) this.write(client, message, counted);
  }

  private write(client: Client, message: string, counted: boolean): void {
    if (client.res.writableLength + Buffer.byteLength(message) > this.options.maxBufferedBytes) {
      this.clients.delete(client.id);
      this.options.metrics.clients.set(this.clients.size);
      this.options.metrics.dropped.inc();
      this.options.logger.warn(
        { code: 'HTTP_SSE_SLOW_CLIENT', client: client.remote, bufferedBytes: client.res.writableLength },
        'SSE client is not reading; disconnected it (it may reconnect)',
      );
      // destroy, not end: end() would queue yet more bytes behind the ones it is not reading.
      client.res.destroy();
      return;
    }
    client.res.write(message);
    if (counted) this.options.metrics.sent.inc();
  }
}
