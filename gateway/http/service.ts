import type { Timers } from '../clock/timers.ts';
import { readFileSync } from 'node:fs';
import type { Logger } from '../observability/logger.ts';
import type { Service } from '../service.ts';
import { createHttpServer, type HttpServer } from './server.ts';
import type { GatewayView } from './types.ts';

export interface HttpServiceOptions {
  readonly enabled: boolean;
  readonly host: string;
  readonly port: number;
  readonly token?: string | undefined;
  readonly readAuth: boolean;
  readonly tls: { readonly cert?: string | undefined; readonly key?: string | undefined };
}

/** The HTTP API and live page; the view is built at start, when every part it shows exists. */
export class HttpService implements Service {
  readonly name = 'http';
  private server: HttpServer | undefined;

  constructor(
    private readonly options: HttpServiceOptions,
    private readonly logger: Logger,
    private readonly view: () => GatewayView,
    /** The SSE heartbeat's timers (tests: virtual). */
    private readonly timers?: Timers,
  ) {}

  /** Where it listens; null when disabled or not started. */
  get url(): string | null {
    return this.server?.url ?? null;
  }

  async start(): Promise<void> {
    const { options } = this;
    if (!options.enabled) return;
    this.server = createHttpServer({
      host: options.host,
      port: options.port,
      ...(options.token !== undefined ? { token: options.token } : {}),
      readAuth: options.readAuth,
      ...(options.tls.cert !== undefined && options.tls.key !== undefined
        ? { tls: { cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) } }
        : {}),
      logger: this.logger,
      ...(this.timers ? { timers: this.timers } : {}),
      view: this.view(),
    });
    await this.server.start();
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }
}
