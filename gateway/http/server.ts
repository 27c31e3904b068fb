import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
} from 'fastify';
import { merge, type Subscription } from 'rxjs';
import { map, tap } from 'rxjs/operators';
import { GatewayError, errorCode, errorMessage } from '../observability/errors.ts';
import { checkBearer } from './auth.ts';
import { readAuthHook } from './read-auth.ts';
import { registerBleRoutes } from './ble-routes.ts';
import { registerDeviceRoutes } from './device-routes.ts';
import { registerRecordingRoutes } from './recording-routes.ts';
import { registerEnrollmentRoutes } from './enrollment-routes.ts';
import { healthHttpStatus } from './health.ts';
import { LiveHistory } from './live-history.ts';
import { HTTP_DEFAULTS } from './options.ts';
import { SseHub, formatSse, sseMetrics } from './sse.ts';
import { DEFAULT_PUBLIC_DIR, loadPublicFiles } from './static.ts';
import type { HttpServerOptions } from './types.ts';

export interface HttpServer {
  /** The fastify instance (tests use `fastify.inject`). */
  readonly fastify: FastifyInstance;
  /** Binds and listens; resolves to the base URL, e.g. `http://127.0.0.1:8080`. */
  start(): Promise<string>;
  /** Ends SSE streams, stops listening, lets in-flight requests finish. */
  stop(): Promise<void>;
  /** Base URL once started. */
  readonly url: string | undefined;
  /** Connected /api/events clients. */
  readonly sseClients: number;
}

function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ error: { code, message } });
}

const PAGE_HEADERS = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  // The page loads nothing but itself; inline scripts and third-party hosts are refused.
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
};

/**
 * The gateway's HTTP face: health, Prometheus metrics, a small REST API, server-sent
 * events and the live page. Everything is read from `view`; nothing here knows the pipeline.
 */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const host = options.host ?? HTTP_DEFAULTS.host;
  const port = options.port ?? HTTP_DEFAULTS.port;
  const { view } = options;
  const logger = options.logger.child({ component: 'http' });
  const publicFiles = loadPublicFiles(options.publicDir ?? DEFAULT_PUBLIC_DIR);
  const recentOnConnect = options.sse?.recentOnConnect ?? 20;

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // The page polls /health; per-request lines would drown the gateway's own log.
    logController: new LogController({ disableRequestLogging: true }),
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
  }) as unknown as FastifyInstance;
  if (options.readAuth) {
    if (!options.token)
      throw new GatewayError('HTTP_CONFIG', 'http.readAuth needs http.token (the token readers must give)');
    app.addHook(
      'onRequest',
      readAuthHook(options.token, options.tls !== undefined, () => {
        const { status } = view.health();
        return { status, code: healthHttpStatus(status) };
      }),
    );
  }
  const hub = new SseHub({
    heartbeatMs: options.sse?.heartbeatMs ?? 15_000,
    maxBufferedBytes: options.sse?.maxBufferedBytes ?? 1024 * 1024,
    logger,
    metrics: sseMetrics(view.metricsRegistry),
    ...(options.sse?.timers ? { timers: options.sse.timers } : {}),
  });
  let url: string | undefined;
  let reloading = false;
  // The last hour per subject, for the page's timeline after a (re)connect.
  const history = new LiveHistory();
  for (const e of view.recentEvents(1000)) history.onActivity(e);
  for (const s of view.subjects()) history.onState(s);

  const streams: Subscription = merge(
    view.activity$.pipe(
      tap((e) => history.onActivity(e)),
      map((e) => ({ event: 'activity', data: e as unknown, id: e.seq as number | undefined })),
    ),
    view.states$.pipe(
      tap((s) => history.onState(s)),
      map((s) => ({ event: 'state', data: s as unknown, id: undefined })),
    ),
    ...(view.reps$
      ? [
          view.reps$.pipe(
            tap((r) => history.onReps(r)),
            map((r) => ({ event: 'reps', data: r as unknown, id: undefined })),
          ),
        ]
      : []),
    ...(view.poses$
      ? [view.poses$.pipe(map((p) => ({ event: 'pose', data: p as unknown, id: undefined })))]
      : []),
    ...(view.scores$
      ? [view.scores$.pipe(map((s) => ({ event: 'scores', data: s as unknown, id: undefined })))]
      : []),
    ...(view.deviceStates$
      ? [view.deviceStates$.pipe(map((d) => ({ event: 'device', data: d as unknown, id: undefined })))]
      : []),
    ...(view.model$
      ? [view.model$.pipe(map((m) => ({ event: 'model', data: m as unknown, id: undefined })))]
      : []),
  ).subscribe({
    next: ({ event, data, id }) => hub.broadcast(event, data, id),
    error: (err: unknown) =>
      logger.error({ code: errorCode(err), err }, 'gateway event stream failed; live updates stopped'),
  });

  app.addHook('preClose', (done) => {
    hub.closeAll();
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    streams.unsubscribe();
    done();
  });

  app.setErrorHandler((err: FastifyError, _request, reply) => {
    if (err.validation) return sendError(reply, 400, 'HTTP_BAD_REQUEST', err.message);
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) logger.error({ code: errorCode(err), err }, 'request failed');
    return sendError(
      reply,
      status,
      err instanceof GatewayError ? err.code : (err.code ?? 'HTTP_INTERNAL'),
      err.message,
    );
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'HTTP_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
  );

  app.get('/health', async (_request, reply) => {
    const report = view.health();
    return reply.code(healthHttpStatus(report.status)).send(report);
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await view.metricsRegistry.metrics();
    return reply.type(view.metricsRegistry.contentType).send(text);
  });

  // `features`: which optional route groups answer (the live page shows only those).
  app.get('/api/info', async () => ({
    ...view.info(),
    features: {
      enrollment: view.enrollment !== undefined,
      recording: view.recording !== undefined,
      ble: view.nearbyDevices !== undefined && (view.bleEnabled?.() ?? true),
    },
  }));
  app.get('/api/subjects', async () => ({ subjects: view.subjects() }));
  app.get('/api/devices', async () => ({ devices: view.devices() }));
  app.get('/api/model', async () => ({ model: view.model() }));
  app.get(
    '/api/events/recent',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { n: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } },
        },
      },
    },
    async (request) => ({ events: view.recentEvents((request.query as { n: number }).n) }),
  );

  app.get('/api/events', (request, reply) => {
    // The hub writes to the socket directly for as long as the client stays.
    reply.hijack();
    const snapshot = {
      info: view.info(),
      health: view.health(),
      model: view.model(),
      subjects: view.subjects(),
      devices: view.devices(),
      recent: view.recentEvents(recentOnConnect),
      history: history.snapshot(),
      ...(view.nowMs ? { now: new Date(view.nowMs()).toISOString() } : {}),
    };
    hub.attach(request.raw, reply.raw, [formatSse('snapshot', snapshot)]);
  });

  app.post('/api/model/reload', async (request, reply) => {
    const auth = checkBearer(options.token, request.headers.authorization);
    if (!auth.ok) {
      if (auth.status === 401) reply.header('www-authenticate', 'Bearer');
      return sendError(reply, auth.status, auth.code, auth.message);
    }
    if (reloading)
      return sendError(reply, 409, 'HTTP_RELOAD_IN_PROGRESS', 'a model reload is already running');
    reloading = true;
    try {
      const model = await view.reloadModel();
      logger.info({ model: model.name, version: model.version }, 'model reloaded over HTTP');
      return { model };
    } catch (err) {
      logger.error({ code: errorCode(err), err }, 'model reload failed; the previous model keeps serving');
      return sendError(
        reply,
        500,
        errorCode(err),
        `model reload failed, the previous model keeps serving: ${errorMessage(err)}`,
      );
    } finally {
      reloading = false;
    }
  });

  registerDeviceRoutes(app, view, options.token, logger);
  registerBleRoutes(app, view, options.token, logger);
  registerRecordingRoutes(app, view, options.token, logger);
  registerEnrollmentRoutes(app, view, options.token, logger);

  for (const [route, file] of publicFiles) {
    app.get(route, async (_request, reply) =>
      reply.headers(PAGE_HEADERS).type(file.contentType).send(file.body),
    );
  }

  return {
    fastify: app,
    get url() {
      return url;
    },
    get sseClients() {
      return hub.clientCount;
    },
    async start() {
      try {
        await app.listen({ host, port });
      } catch (cause) {
        throw new GatewayError(
          'HTTP_LISTEN_FAILED',
          `HTTP server cannot listen on ${host}:${port}: ${errorMessage(cause)}`,
          {
            cause,
            details: { host, port },
          },
        );
      }
      const address = app.server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      url = `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${bound}`;
      logger.info({ url }, 'HTTP server listening');
      return url;
    },
    async stop() {
      await app.close();
    },
  };
}
