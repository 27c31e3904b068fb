import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './mosquitto.ts';

/*
 * A real RTSP camera for tests: Debian's gst-rtsp-server (test/helpers/rtsp_server.py, run
 * by Debian's /usr/bin/python3, which has `gi`) on a free loopback port, H.264 at /cam.
 * kill() + start() restart it on the same port, as a camera that reboots.
 */

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'rtsp_server.py');
export const RTSP_PYTHON =
  process.env['MUJO_GST_PYTHON'] ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

export interface RtspServerOptions {
  /** 'test' (videotestsrc pattern, no person) or a path to a video / JPEG / PNG file. */
  readonly source?: 'test' | { readonly file: string };
  readonly width?: number;
  readonly height?: number;
  readonly fps?: number;
  readonly user?: string;
  readonly password?: string;
  /** 'gst': a payload only GStreamer understands (an unsupported-codec camera). */
  readonly payload?: 'h264' | 'gst';
}

export interface RtspServer {
  readonly port: number;
  /** rtsp://127.0.0.1:port/cam (without credentials). */
  readonly url: string;
  readonly running: boolean;
  start(): Promise<void>;
  /** SIGKILL: the camera vanishes mid-stream. */
  kill(): Promise<void>;
  stop(): Promise<void>;
  /** SIGSTOP / SIGCONT: the camera keeps its connections open but sends nothing (a hung camera). */
  pause(): void;
  resume(): void;
  log(): string;
}

/** Whether gst-rtsp-server can run here (tests skip with this reason otherwise). */
export async function rtspServerAvailable(): Promise<string | true> {
  return new Promise((resolve) => {
    const c = spawn(
      RTSP_PYTHON,
      ['-c', "import gi; gi.require_version('GstRtspServer','1.0'); from gi.repository import GstRtspServer"],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let err = '';
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    c.once('error', (e) => resolve(`cannot run ${RTSP_PYTHON}: ${e.message}`));
    c.once('close', (code) =>
      resolve(
        code === 0
          ? true
          : `gst-rtsp-server not usable from ${RTSP_PYTHON}: ${err.trim().split('\n').at(-1)}`,
      ),
    );
  });
}

export async function startRtspServer(options: RtspServerOptions = {}): Promise<RtspServer> {
  const port = await freePort();
  const source = options.source ?? 'test';
  const args = [
    SCRIPT,
    '--port',
    String(port),
    '--source',
    source === 'test' ? 'test' : `file:${source.file}`,
    '--width',
    String(options.width ?? 320),
    '--height',
    String(options.height ?? 240),
    '--fps',
    String(options.fps ?? 15),
    '--payload',
    options.payload ?? 'h264',
  ];
  if (options.user) args.push('--user', options.user, '--password', options.password ?? '');
  let child: ChildProcess | undefined;
  let log = '';
  const exited = () => !child || child.exitCode !== null || child.signalCode !== null;
  const waitExit = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((r) => c.once('exit', () => r()));

  const server: RtspServer = {
    port,
    url: `rtsp://127.0.0.1:${port}/cam`,
    get running() {
      return !exited();
    },
    async start() {
      if (!exited()) return;
      const c = spawn(RTSP_PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`rtsp server not ready on ${port} after 10 s:\n${log}`)),
          10_000,
        );
        c.stdout?.on('data', (d: Buffer) => {
          log += d.toString();
          if (log.includes(`READY ${port}`)) {
            clearTimeout(timer);
            resolve();
          }
        });
        c.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
        c.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        c.once('exit', (code, sig) => {
          clearTimeout(timer);
          reject(new Error(`rtsp server exited (${code ?? sig}) before ready:\n${log}`));
        });
      });
    },
    async kill() {
      if (exited()) return;
      const c = child!;
      c.kill('SIGKILL');
      await waitExit(c);
    },
    async stop() {
      if (exited()) return;
      const c = child!;
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 2000);
      await waitExit(c);
      clearTimeout(t);
    },
    pause() {
      if (!exited()) child!.kill('SIGSTOP');
    },
    resume() {
      if (!exited()) child!.kill('SIGCONT');
    },
    log: () => log,
  };
  await server.start();
  return server;
}
