export { createHttpServer, type HttpServer } from './server.ts';
export { healthReport, healthHttpStatus } from './health.ts';
export type {
  GatewayInfo,
  GatewayView,
  HealthReport,
  HttpServerOptions,
  ModelInfo,
  SseOptions,
} from './types.ts';
