import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from './mosquitto.ts';

/**
 * A TCP relay on a loopback port that forwards to another, standing for a room's uplink:
 * `cut()` drops every connection and refuses new ones (a pulled cable, a dead router),
 * `restore()` accepts again on the same port. Nothing is buffered across a cut: what was
 * in flight is lost, as on a real link, and the protocols above must recover it.
 */
export interface TcpLink {
  readonly port: number;
  readonly up: boolean;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpLink(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpLink> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;

  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = createServer((inbound) => {
        const outbound = connect(targetPort, targetHost);
        for (const socket of [inbound, outbound]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          // A reset on either side ends both: the peer sees the link die.
          socket.on('error', () => {
            inbound.destroy();
            outbound.destroy();
          });
        }
        inbound.pipe(outbound);
        outbound.pipe(inbound);
        inbound.on('close', () => outbound.destroy());
        outbound.on('close', () => inbound.destroy());
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        server = s;
        resolve();
      });
    });

  const shut = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen();
  return {
    port,
    get up() {
      return server !== undefined;
    },
    cut: shut,
    async restore() {
      if (!server) await listen();
    },
    close: shut,
  };
}
