import { execFile } from 'node:child_process';
import type { Logger } from './logger.ts';

/*
 * systemd's readiness and watchdog protocol (sd_notify(3)): `READY=1`, `STATUS=…`,
 * `STOPPING=1` and, every half `WatchdogSec`, `WATCHDOG=1`, each a datagram on the unix
 * socket named by $NOTIFY_SOCKET. Node's core has no unix datagram sockets, and the npm
 * packages for this (sd-notify, sd-daemon) are native addons built against libsystemd at
 * install time, which would bring back the compiler the install must not need. So the
 * messages go through `systemd-notify`, which ships with systemd itself (it is present
 * wherever $NOTIFY_SOCKET is set by systemd) and, since systemd 246, waits until systemd has
 * taken the message, so a short-lived sender is not dropped. The unit needs NotifyAccess=all
 * (the sender is a child of the gateway).
 *
 * The heartbeat is a timer on the event loop: if the loop is blocked (a synchronous hang, a
 * runaway computation), no WATCHDOG=1 leaves and systemd restarts the service.
 */

export interface NotifyTransport {
  send(env: NodeJS.ProcessEnv, assignments: readonly string[]): Promise<void>;
}

/** `systemd-notify VAR=value…`, with $NOTIFY_SOCKET passed in its environment. */
export const systemdNotifyCommand: NotifyTransport = {
  send: (env, assignments) =>
    new Promise((resolve, reject) => {
      execFile('systemd-notify', [...assignments], { env, timeout: 10_000 }, (err, _stdout, stderr) =>
        err
          ? reject(new Error(`systemd-notify ${assignments.join(' ')}: ${stderr.trim() || err.message}`))
          : resolve(),
      );
    }),
};

export interface SystemdNotifierOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly transport?: NotifyTransport;
  readonly pid?: number;
}

export class SystemdNotifier {
  private readonly env: NodeJS.ProcessEnv;
  private readonly logger: Logger;
  private readonly transport: NotifyTransport;
  private readonly pid: number;
  private heartbeat: NodeJS.Timeout | undefined;
  private failureLogged = false;

  private constructor(options: SystemdNotifierOptions) {
    this.env = options.env ?? process.env;
    this.logger = options.logger;
    this.transport = options.transport ?? systemdNotifyCommand;
    this.pid = options.pid ?? process.pid;
  }

  /** A notifier when systemd asked for notifications ($NOTIFY_SOCKET set), else undefined. */
  static fromEnv(options: SystemdNotifierOptions): SystemdNotifier | undefined {
    const env = options.env ?? process.env;
    return env['NOTIFY_SOCKET'] ? new SystemdNotifier(options) : undefined;
  }

  /**
   * The watchdog period systemd asked for (half of WatchdogSec, as sd_watchdog_enabled(3)
   * advises), or undefined when it asked none or asked another process (WATCHDOG_PID).
   */
  watchdogIntervalMs(): number | undefined {
    const usec = Number(this.env['WATCHDOG_USEC']);
    if (!Number.isFinite(usec) || usec <= 0) return undefined;
    const forPid = this.env['WATCHDOG_PID'];
    if (forPid !== undefined && forPid !== '' && Number(forPid) !== this.pid) return undefined;
    return Math.max(1, Math.floor(usec / 2000));
  }

  /** Sends WATCHDOG=1 every half WatchdogSec from the event loop; no-op without a watchdog. */
  startWatchdog(): void {
    const interval = this.watchdogIntervalMs();
    if (interval === undefined || this.heartbeat) return;
    this.heartbeat = setInterval(() => void this.send(['WATCHDOG=1']), interval);
    // The heartbeat alone must not keep a stopping gateway alive.
    this.heartbeat.unref();
    this.logger.info({ intervalMs: interval }, `systemd watchdog: heartbeat every ${interval} ms`);
  }

  ready(status: string): Promise<void> {
    return this.send(['READY=1', `STATUS=${status}`, `MAINPID=${this.pid}`]);
  }

  status(status: string): Promise<void> {
    return this.send([`STATUS=${status}`]);
  }

  stopping(): Promise<void> {
    this.stopWatchdog();
    return this.send(['STOPPING=1', 'STATUS=draining and stopping']);
  }

  stopWatchdog(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** Never throws: a lost notification is logged once (systemd then acts on its own timeouts). */
  private async send(assignments: readonly string[]): Promise<void> {
    try {
      await this.transport.send(this.env, assignments);
    } catch (err) {
      if (this.failureLogged) return;
      this.failureLogged = true;
      this.logger.warn(
        { code: 'SYSTEMD_NOTIFY_FAILED', err: (err as Error).message },
        'could not notify systemd; later failures are not logged',
      );
    }
  }
}
