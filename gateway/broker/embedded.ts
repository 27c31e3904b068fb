import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { GatewayError } from '../observability/errors.ts';
import type { Logger } from '../observability/logger.ts';

export interface EmbeddedBroker {
  /** mqtt://host:port of the running broker. */
  readonly url: string;
  readonly port: number;
  /** Clients must connect with this protocol version: aedes refuses MQTT v5. */
  readonly protocolVersion: 4;
  close(): Promise<void>;
}

export interface EmbeddedBrokerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly logger?: Logger;
  /** When set, every client must connect with this user name and password. */
  readonly username?: string;
  readonly password?: string;
}

/**
 * An in-process MQTT 3.1.1 broker (aedes over TCP) for when no broker URL is configured, so
 * the demo needs nothing installed. In-memory only: retained messages and sessions do not
 * survive a restart. Use a real broker (mosquitto, EMQX, …) for anything else.
 */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  if (options.username !== undefined || options.password !== undefined) {
    const user = Buffer.from(options.username ?? '', 'utf8');
    const pass = Buffer.from(options.password ?? '', 'utf8');
    aedes.authenticate = (client, username, password, done) => {
      const ok =
        typeof username === 'string' &&
        password !== undefined &&
        sameBytes(Buffer.from(username, 'utf8'), user) &&
        sameBytes(Buffer.from(password), pass);
      if (ok) return done(null, true);
      options.logger?.warn(
        { component: 'mqtt-broker', code: 'MQTT_EMBEDDED_AUTH', clientId: client.id },
        'embedded broker refused a client: wrong or missing user name / password',
      );
      const err = Object.assign(new Error('bad user name or password'), { returnCode: 4 });
      done(err as Parameters<typeof done>[0], false);
    };
  }
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      aedes.close();
      reject(
        new GatewayError(
          'MQTT_EMBEDDED_LISTEN',
          `embedded MQTT broker cannot listen on ${options.host}:${options.port} (mqtt.embeddedHost/embeddedPort): ${err.code ?? err.message}`,
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const connectHost = options.host === '0.0.0.0' ? '127.0.0.1' : options.host === '::' ? '[::1]' : host;
  options.logger?.info(
    { component: 'mqtt-broker', host: options.host, port },
    'embedded MQTT broker (MQTT 3.1.1) listening',
  );
  let closed = false;
  return {
    url: `mqtt://${connectHost}:${port}`,
    port,
    protocolVersion: 4,
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
