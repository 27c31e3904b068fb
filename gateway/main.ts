#!/usr/bin/env node
/**
 * CLI entry: parse arguments, load and validate the configuration (exit 2 on a bad one),
 * start the gateway, print where to look, and shut down in order on SIGTERM / SIGINT.
 */
import type { GatewayEndpoints } from './app.ts';
import { activityLine } from './cli/event-lines.ts';
import { withInstallPaths } from './cli/install-paths.ts';
import { runConfigCommands } from './config/index.ts';
import type { GatewayConfig } from './config/schema.ts';
import { errorCode, errorMessage } from './observability/errors.ts';
import { redactUrl } from './observability/redact.ts';
import { SystemdNotifier } from './observability/systemd-notify.ts';
import { SOFTWARE_VERSION } from './version.ts';

/** Exit code when the gateway cannot start (bad model, port in use…); 2 is a bad config. */
const EXIT_START_FAILED = 1;

function whereToLook(config: GatewayConfig, endpoints: GatewayEndpoints): string {
  const mqtt = new URL(endpoints.mqtt);
  const topic = `${config.mqtt.baseTopic}/${config.gateway.id}/#`;
  const lines = [''];
  if (endpoints.http) lines.push(`  Live page:   ${endpoints.http}/`);
  if (endpoints.http)
    lines.push(`  Health:      ${endpoints.http}/health   Metrics: ${endpoints.http}/metrics`);
  lines.push(
    `  MQTT:        ${redactUrl(endpoints.mqtt)}${endpoints.mqttEmbedded ? ' (embedded broker, MQTT 3.1.1)' : ''}`,
    `  Subscribe:   mosquitto_sub -h ${mqtt.hostname} -p ${mqtt.port || 1883}${
      endpoints.mqttEmbedded ? ' -V mqttv311' : ''
    } -t '${topic}' -v`,
    `               (or: npx mqtt sub -h ${mqtt.hostname} -p ${mqtt.port || 1883} -t '${topic}' -v)`,
    '  Stop:        Ctrl+C',
    '',
  );
  return lines.join('\n');
}

async function main(): Promise<number | undefined> {
  const result = await runConfigCommands(process.argv.slice(2));
  if (result.exitCode !== undefined) return result.exitCode;
  const { file } = result;
  const config = withInstallPaths(result.config);
  // Loading onnxruntime, fastify and the rest takes seconds on a small board: say so first.
  process.stderr.write(
    `mujo-gateway ${SOFTWARE_VERSION} starting (config: ${file ?? 'built-in demo defaults'}, model: ${config.model.path})\n`,
  );
  const { GatewayApp } = await import('./app.ts');

  // The file is where runtime device changes (HTTP, MQTT) are saved.
  const app = new GatewayApp(config, file !== undefined ? { configFile: file } : {});
  // Under systemd (Type=notify): READY=1 once serving, a watchdog heartbeat from the event loop.
  const systemd = SystemdNotifier.fromEnv({ logger: app.logger.child({ component: 'systemd' }) });
  systemd?.startWatchdog();
  // One line per activity event: whoever starts the gateway sees it work.
  const events = app.logger.child({ component: 'events' });
  app.activity$.subscribe((event) =>
    events.info(
      {
        subject: event.subject,
        transition: event.transition,
        activity: event.activity,
        confidence: event.confidence,
      },
      activityLine(event),
    ),
  );
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      app.logger.warn({ signal }, 'second signal: exiting without draining');
      process.exit(1);
    }
    stopping = true;
    app.logger.info({ signal }, 'shutting down');
    void systemd?.stopping();
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        app.logger.error({ code: errorCode(err), err: errorMessage(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    const endpoints = await app.start();
    process.stderr.write(whereToLook(config, endpoints));
    await systemd?.ready(`serving ${endpoints.http ?? 'without HTTP'}, MQTT ${redactUrl(endpoints.mqtt)}`);
    return undefined;
  } catch (err) {
    app.logger.fatal({ code: errorCode(err), err: errorMessage(err) }, 'gateway could not start');
    process.stderr.write(`\nmujo-gateway: ${errorCode(err)}: ${errorMessage(err)}\n`);
    await app.stop().catch(() => undefined);
    return EXIT_START_FAILED;
  }
}

main().then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`mujo-gateway: ${errorCode(err)}: ${errorMessage(err)}\n`);
    process.exit(EXIT_START_FAILED);
  },
);
