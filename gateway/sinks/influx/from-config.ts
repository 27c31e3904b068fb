import type { Registry } from 'prom-client';
import type { Clock } from '../../domain/time.ts';
import type { HealthRegistry } from '../../observability/health.ts';
import type { Logger } from '../../observability/logger.ts';
import { resolveInfluxTarget, type InfluxOptions } from './options.ts';
import type { InfluxSinkOptions } from './sink.ts';

/** Sink options from the validated `influx` config section (throws INFLUX_CONFIG naming the key). */
export function influxSinkOptionsFromConfig(
  config: InfluxOptions,
  ctx: { gatewayId: string; logger: Logger; registry: Registry; health?: HealthRegistry; clock?: Clock },
): InfluxSinkOptions {
  return {
    gatewayId: ctx.gatewayId,
    url: config.url,
    target: resolveInfluxTarget(config),
    tls: {
      ...(config.tls.ca !== undefined ? { ca: config.tls.ca } : {}),
      rejectUnauthorized: config.tls.rejectUnauthorized,
    },
    batchSize: config.batchSize,
    flushIntervalMs: config.flushIntervalMs,
    maxInFlight: config.maxInFlight,
    gzipLevel: config.gzipLevel,
    lineBlocks: config.lineBlocks,
    keepSpilledInMemory: config.keepSpilledInMemory,
    timeoutMs: config.timeoutMs,
    maxRetries: config.maxRetries,
    maxRetryDelayMs: config.maxRetryDelayMs,
    memoryQueuePoints: config.memoryQueuePoints,
    spoolDir: config.spoolDir,
    maxSpoolBytes: config.maxSpoolBytes,
    segmentBytes: config.segmentBytes,
    syncIntervalMs: config.syncIntervalMs,
    imuDownsampleHz: config.imuDownsampleHz,
    imuRaw: config.imuRaw,
    statsIntervalMs: config.statsIntervalMs,
    drainTimeoutMs: config.drainTimeoutMs,
    logger: ctx.logger,
    registry: ctx.registry,
    ...(ctx.health !== undefined ? { health: ctx.health } : {}),
    ...(ctx.clock !== undefined ? { clock: ctx.clock } : {}),
  };
}
