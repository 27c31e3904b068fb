#!/usr/bin/env node
/**
 * `mujo-fleet-view`: the site's fleet page, subscribed to the central broker (docs/fleet.md).
 *
 *   mujo-fleet-view --broker mqtt://central.site.lan:1883 --username fleet-admin \
 *     --password-file /etc/mujo/fleet-admin.password --port 8090
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLogger } from '../../observability/logger.ts';
import { errorMessage } from '../../observability/errors.ts';
import { FleetView } from './server.ts';

const USAGE = `usage: mujo-fleet-view [options]
  --broker <url>          central broker (default mqtt://127.0.0.1:1883; mqtts:// for TLS)
  --username <name>       broker login (e.g. fleet-admin)
  --password-file <file>  file holding the broker password (or MUJO_FLEET_PASSWORD)
  --ca <file>             PEM CA of the broker's certificate (mqtts://)
  --base-topic <topic>    the gateways' mqtt.baseTopic (default mujo)
  --host <address>        address to serve the page on (default 127.0.0.1)
  --port <port>           port to serve the page on (default 8090)
  --log-level <level>     default info
`;

function main(): void {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
        username: { type: 'string' },
        'password-file': { type: 'string' },
        ca: { type: 'string' },
        'base-topic': { type: 'string', default: 'mujo' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8090' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`mujo-fleet-view: FLEET_BAD_ARGUMENTS: ${errorMessage(err)}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(
      `mujo-fleet-view: FLEET_BAD_ARGUMENTS: --port must be 0–65535, got ${values.port}\n`,
    );
    process.exit(2);
  }
  let password = process.env['MUJO_FLEET_PASSWORD'];
  if (values['password-file'] !== undefined) {
    try {
      password = readFileSync(values['password-file'], 'utf8').trim();
    } catch (err) {
      process.stderr.write(`mujo-fleet-view: FLEET_BAD_ARGUMENTS: ${errorMessage(err)}\n`);
      process.exit(2);
    }
  }
  const logger = createLogger({ level: values['log-level'], ...(password ? { secrets: [password] } : {}) });
  const view = new FleetView({
    broker: {
      url: values.broker,
      ...(values.username !== undefined ? { username: values.username } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(values.ca !== undefined ? { ca: values.ca } : {}),
    },
    baseTopic: values['base-topic'],
    host: values.host,
    port,
    logger,
  });
  const stop = () => {
    view.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  view.start().then(
    (url) =>
      process.stderr.write(`\n  Fleet view:  ${url}/\n  Broker:      ${view.payload().broker.url}\n\n`),
    (err: unknown) => {
      logger.fatal({ code: 'FLEET_VIEW_START_FAILED', err: errorMessage(err) }, 'fleet view could not start');
      process.exit(1);
    },
  );
}

main();
