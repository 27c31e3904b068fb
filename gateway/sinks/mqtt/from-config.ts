import type { Timers } from '../../clock/timers.ts';
import type { Registry } from 'prom-client';
import type { MqttConfig } from './options.ts';
import type { HealthRegistry } from '../../observability/health.ts';
import type { Logger } from '../../observability/logger.ts';
import type { MqttSinkOptions } from './sink.ts';

/**
 * Sink options from the `mqtt` config section. `url`/`protocolVersion` are passed in: with no
 * `mqtt.url` the app starts the embedded broker and connects to it with protocol 4.
 */
export function mqttSinkOptionsFromConfig(
  config: MqttConfig,
  ctx: {
    gatewayId: string;
    url: string;
    protocolVersion: 4 | 5;
    logger: Logger;
    registry: Registry;
    health?: HealthRegistry;
    softwareVersion?: string;
    /** Command token when mqtt.commands.token is absent. */
    httpToken?: string;
    timers?: Timers;
  },
): MqttSinkOptions {
  const tls = config.tls;
  return {
    url: ctx.url,
    ...(ctx.timers ? { timers: ctx.timers } : {}),
    protocolVersion: ctx.protocolVersion,
    gatewayId: ctx.gatewayId,
    baseTopic: config.baseTopic,
    ...(config.clientId !== undefined ? { clientId: config.clientId } : {}),
    ...(config.username !== undefined ? { username: config.username } : {}),
    ...(config.password !== undefined ? { password: config.password } : {}),
    tls: {
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
      rejectUnauthorized: tls.rejectUnauthorized,
    },
    qos: config.qos,
    commandPolicy: {
      token: config.commands.token ?? ctx.httpToken,
      open: false,
      ratePerMinute: config.commands.rateLimitPerMinute,
    },
    queue: {
      memoryMessages: config.queue.memoryMessages,
      spoolDir: config.queue.spoolDir,
      maxSpoolBytes: config.queue.maxSpoolBytes,
      syncIntervalMs: config.queue.syncIntervalMs,
    },
    logger: ctx.logger,
    registry: ctx.registry,
    ...(ctx.health !== undefined ? { health: ctx.health } : {}),
    ...(ctx.softwareVersion !== undefined ? { softwareVersion: ctx.softwareVersion } : {}),
  };
}
