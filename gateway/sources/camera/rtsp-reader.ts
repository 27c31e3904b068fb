import { realTimers, repeat, type Repeating, type TimerHandle, type Timers } from '../../clock/timers.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { Subject, type Observable } from 'rxjs';
import type { Clock } from '../../domain/time.ts';
import { GatewayError } from '../../observability/errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Registry } from '../../observability/metrics.ts';
import { cameraMetrics, type CameraMetrics } from './metrics.ts';
import { redactUrl } from './options.ts';
import type { Frame } from './types.ts';

/*
 * Long file: one ffmpeg child's lifecycle (spawn, backoff, stall watchdog, failure
 *   classification) and the frame slicer on its stdout share that child's state.
 *
 * One camera: ffmpeg decodes the stream and writes scaled RGB24 frames to a pipe; we slice
 * the pipe into frames and hand out only the newest one (a pose estimator slower than the
 * camera must not build a queue: the frames it could not take are counted and dropped).
 * ffmpeg is restarted with backoff + jitter when it exits or stops delivering.
 */

export const CAMERA_ERROR_CODES = [
  'CAMERA_FFMPEG_MISSING',
  'CAMERA_AUTH_REFUSED',
  'CAMERA_UNSUPPORTED_CODEC',
  'CAMERA_UNREACHABLE',
  'CAMERA_NOT_FOUND',
  'CAMERA_STALLED',
  'CAMERA_CONNECT_TIMEOUT',
  'CAMERA_STREAM_ENDED',
] as const;
export type CameraErrorCode = (typeof CAMERA_ERROR_CODES)[number];

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  /** ±fraction of each delay drawn at random, so cameras behind one dead switch do not retry in lockstep. */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.2 };

export interface RtspReaderOptions {
  readonly cameraId: string;
  readonly url: string;
  readonly width: number;
  readonly height: number;
  /** Frames per second handed out at most. */
  readonly fps: number;
  readonly transport?: 'tcp' | 'udp';
  readonly stallTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly backoff?: Partial<BackoffOptions>;
}

export interface RtspReaderDeps {
  readonly clock: Clock;
  readonly registry?: Registry;
  readonly logger?: Logger;
  /** Default: env MUJO_FFMPEG, else `ffmpeg` on PATH. */
  readonly ffmpegPath?: string;
  readonly random?: () => number;
  /** Watchdog, reconnect backoff and the fps cap run on these. Default: real timers. */
  readonly timers?: Timers;
}

export interface ReaderStatus {
  readonly cameraId: string;
  readonly connected: boolean;
  /** The attempt has given up for good (ffmpeg missing). */
  readonly fatal: boolean;
  readonly error?: { readonly code: CameraErrorCode; readonly message: string };
  readonly reconnects: number;
}

export interface ReaderStats {
  /** Frames sliced off ffmpeg's pipe. */
  readonly decoded: number;
  /** Frames handed to the consumer. */
  readonly delivered: number;
  readonly dropped: { readonly superseded: number; readonly fps_cap: number; readonly partial: number };
  readonly reconnects: number;
  /** Outages recovered from: count, total seconds without frames, frames missed. */
  readonly gaps: number;
  readonly gapS: number;
  readonly gapFrames: number;
  /** ffmpeg start → first frame of the latest connection, ms. */
  readonly firstFrameMs: number | null;
  /** Decoded frames per second over the last rate window. */
  readonly rateHz: number | null;
  readonly lastFrameNs: number | null;
  readonly connected: boolean;
}

const RATE_WINDOW_MS = 5000;
const STDERR_KEEP = 4096;

/** ffmpeg arguments for one camera (exported for docs and tests). */
export function ffmpegArgs(o: Pick<RtspReaderOptions, 'url' | 'width' | 'height' | 'transport'>): string[] {
  const scheme = o.url.slice(0, o.url.indexOf(':')).toLowerCase();
  const input: string[] = [];
  if (scheme === 'rtsp' || scheme === 'rtsps') input.push('-rtsp_transport', o.transport ?? 'tcp');
  // A file plays at its own rate, looped, so it behaves like a camera (demos, tests).
  if (scheme === 'file') input.push('-re', '-stream_loop', '-1');
  return [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-loglevel',
    'error',
    ...input,
    // Start decoding at once instead of probing seconds of stream, and do not buffer.
    '-analyzeduration',
    '0',
    '-probesize',
    '32',
    '-fflags',
    'nobuffer',
    '-i',
    o.url,
    '-an',
    '-vf',
    `scale=${o.width}:${o.height}`,
    '-pix_fmt',
    'rgb24',
    '-f',
    'rawvideo',
    'pipe:1',
  ];
}

/**
 * Maps what ffmpeg printed (with `-loglevel error`) and how it ended to a coded error.
 * Patterns are ffmpeg's own messages (libavformat rtsp.c, ffmpeg_opt.c, network errors).
 */
export function classifyFfmpegFailure(
  stderr: string,
  exit: { code: number | null; signal: NodeJS.Signals | null },
): { code: CameraErrorCode; message: string } {
  const line = lastMeaningfulLine(stderr);
  const has = (re: RegExp) => re.test(stderr);
  if (has(/\b401\b|\b403\b|Unauthorized|Forbidden|authorization failed/i))
    return { code: 'CAMERA_AUTH_REFUSED', message: `the camera refused the credentials (${line})` };
  if (
    has(
      /does not contain any stream|Decoder \(codec [^)]*\) not found|Unsupported codec|unknown codec|Could not find codec parameters|no decoder|Invalid data found when processing input|Unsupported RTP|stream .* not supported/i,
    )
  )
    return { code: 'CAMERA_UNSUPPORTED_CODEC', message: `no video stream ffmpeg can decode (${line})` };
  if (has(/Server returned 404|\b404 Not Found|No such file or directory|\b454 Session Not Found/))
    return { code: 'CAMERA_NOT_FOUND', message: `the stream path does not exist on the camera (${line})` };
  if (
    has(
      /Connection refused|Connection timed out|No route to host|Network is unreachable|Name or service not known|Temporary failure in name resolution|Connection reset|Broken pipe|Host is unreachable|Operation timed out|Immediate exit requested|End of file|Server returned 5\d\d/i,
    )
  )
    return { code: 'CAMERA_UNREACHABLE', message: `cannot reach the camera (${line})` };
  const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
  return {
    code: 'CAMERA_STREAM_ENDED',
    message: line ? `ffmpeg ended (${how}): ${line}` : `the stream ended (ffmpeg ${how})`,
  };
}

function lastMeaningfulLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !/^Exiting normally|^Conversion failed/i.test(l));
  // ffmpeg echoes the URL, credentials included.
  return redactUrls(lines.at(-1) ?? '').slice(0, 300);
}

function redactUrls(text: string): string {
  return text.replace(/([a-z0-9+.-]+:\/\/[^:/@\s]*:)[^@/\s]*@/gi, '$1<redacted>@');
}

export class RtspReader {
  readonly cameraId: string;
  private readonly opts: Required<Omit<RtspReaderOptions, 'backoff'>> & { backoff: BackoffOptions };
  private readonly deps: RtspReaderDeps;
  private readonly metrics: CameraMetrics | undefined;
  private readonly logger: Logger | undefined;
  private readonly frameBytes: number;
  private readonly statusSubject = new Subject<ReaderStatus>();
  readonly status$: Observable<ReaderStatus> = this.statusSubject.asObservable();

  private child: ChildProcess | undefined;
  private running = false;
  private fatal = false;
  private attempt = 0;
  private readonly timers: Timers;
  private reconnectTimer: TimerHandle | undefined;
  private watchdog: Repeating | undefined;
  private spawnedAtMs = 0;
  private lastFrameAtMs: number | null = null;
  private connected = false;
  private lastError: { code: CameraErrorCode; message: string } | undefined;
  private outageStartNs: number | null = null;

  private buf: Buffer;
  private filled = 0;
  private seq = 0;
  private latest: Frame | null = null;
  private waiter: ((f: Frame | null) => void) | null = null;
  private tokens = 1;
  private tokensAtMs = 0;
  /** Armed while the consumer waits for the fps cap rather than for a frame. */
  private capTimer: TimerHandle | undefined;

  private rateCount = 0;
  private rateWindowStart = 0;
  /** Frames of the current connection, for a rate estimate before the first rate window closes. */
  private connFrames = 0;
  private connFirstMs = 0;
  private connectionRateHz: number | null = null;
  private stats_ = {
    decoded: 0,
    delivered: 0,
    dropped: { superseded: 0, fps_cap: 0, partial: 0 },
    reconnects: 0,
    gaps: 0,
    gapS: 0,
    gapFrames: 0,
    firstFrameMs: null as number | null,
    rateHz: null as number | null,
    lastFrameNs: null as number | null,
  };

  constructor(options: RtspReaderOptions, deps: RtspReaderDeps) {
    if (!(options.fps > 0))
      throw new GatewayError(
        'CAMERA_BAD_CONFIG',
        `camera '${options.cameraId}': fps must be > 0 (got ${options.fps})`,
      );
    if (!(options.width > 0 && options.height > 0))
      throw new GatewayError(
        'CAMERA_BAD_CONFIG',
        `camera '${options.cameraId}': width and height must be > 0`,
      );
    this.cameraId = options.cameraId;
    this.opts = {
      cameraId: options.cameraId,
      url: options.url,
      width: options.width,
      height: options.height,
      fps: options.fps,
      transport: options.transport ?? 'tcp',
      stallTimeoutMs: options.stallTimeoutMs ?? 5000,
      connectTimeoutMs: options.connectTimeoutMs ?? 15000,
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
    };
    this.deps = deps;
    this.timers = deps.timers ?? realTimers;
    this.metrics = deps.registry ? cameraMetrics(deps.registry) : undefined;
    this.logger = deps.logger?.child({ component: 'camera', camera: options.cameraId });
    this.frameBytes = options.width * options.height * 3;
    this.buf = Buffer.allocUnsafe(this.frameBytes);
  }

  get ffmpegPath(): string {
    return this.deps.ffmpegPath ?? process.env['MUJO_FFMPEG'] ?? 'ffmpeg';
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.fatal = false;
    this.watchdog = repeat(
      this.timers,
      Math.max(100, Math.min(this.opts.stallTimeoutMs, this.opts.connectTimeoutMs) / 4),
      () => this.checkWatchdog(),
    );
    this.spawnFfmpeg();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.watchdog?.cancel();
    if (this.reconnectTimer) this.timers.clearTimeout(this.reconnectTimer);
    this.watchdog = this.reconnectTimer = undefined;
    const c = this.child;
    this.child = undefined;
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((resolve) => c.once('close', () => resolve()));
      c.kill('SIGKILL');
      await exited;
    }
    this.setConnected(false);
    this.latest = null;
    if (this.capTimer) this.timers.clearTimeout(this.capTimer);
    this.capTimer = undefined;
    const w = this.waiter;
    this.waiter = null;
    w?.(null);
    this.statusSubject.complete();
  }

  /**
   * The newest frame not yet taken; waits for one if none is pending, and for the fps cap.
   * Resolves null once the reader is stopped. One consumer at a time.
   */
  next(): Promise<Frame | null> {
    if (!this.running) return Promise.resolve(null);
    if (this.waiter)
      throw new GatewayError(
        'CAMERA_READER_BUSY',
        `camera '${this.cameraId}': next() called while another call waits`,
      );
    return new Promise((resolve) => {
      this.waiter = resolve;
      const waitMs = this.capWaitMs(this.timers.now());
      if (waitMs > 0) {
        this.capTimer = this.timers.setTimeout(() => {
          this.capTimer = undefined;
          this.tryDeliver();
        }, waitMs);
      } else this.tryDeliver();
    });
  }

  stats(): ReaderStats {
    return { ...this.stats_, dropped: { ...this.stats_.dropped }, connected: this.connected };
  }

  status(): ReaderStatus {
    return {
      cameraId: this.cameraId,
      connected: this.connected,
      fatal: this.fatal,
      ...(this.lastError ? { error: this.lastError } : {}),
      reconnects: this.stats_.reconnects,
    };
  }

  // --- ffmpeg lifecycle -------------------------------------------------------------------

  private spawnFfmpeg(): void {
    this.reconnectTimer = undefined;
    if (!this.running) return;
    this.filled = 0;
    this.spawnedAtMs = this.timers.now();
    let stderr = '';
    const child = spawn(this.ffmpegPath, ffmpegArgs(this.opts), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.logger?.debug({ url: redactUrl(this.opts.url), attempt: this.attempt }, 'starting ffmpeg');
    child.stdout?.on('data', (chunk: Buffer) => {
      if (this.child === child) this.onData(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP);
    });
    let spawnError: NodeJS.ErrnoException | undefined;
    child.once('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
    });
    // 'close' (not 'exit'): stdout and stderr are drained by then, so the last frame and
    // the last error line are in.
    child.once('close', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (spawnError && (spawnError.code === 'ENOENT' || spawnError.code === 'EACCES')) {
        this.fail(
          {
            code: 'CAMERA_FFMPEG_MISSING',
            message: `cannot run ffmpeg '${this.ffmpegPath}' (${spawnError.code}): install ffmpeg or set MUJO_FFMPEG to its path`,
          },
          true,
        );
        return;
      }
      this.fail(this.pendingKill ?? classifyFfmpegFailure(stderr, { code, signal }), false);
    });
  }

  /** Set when we kill ffmpeg ourselves (watchdog), so its exit is reported by our reason. */
  private pendingKill: { code: CameraErrorCode; message: string } | undefined;

  private kill(reason: { code: CameraErrorCode; message: string }): void {
    const c = this.child;
    if (!c) return;
    this.pendingKill = reason;
    c.kill('SIGKILL');
  }

  private fail(error: { code: CameraErrorCode; message: string }, fatal: boolean): void {
    this.pendingKill = undefined;
    if (this.filled > 0) {
      this.stats_.dropped.partial++;
      this.metrics?.dropped.inc({ camera: this.cameraId, reason: 'partial' });
      this.filled = 0;
    }
    if (this.connected && this.lastFrameAtMs !== null) this.outageStartNs = this.stats_.lastFrameNs;
    this.lastError = error;
    this.setConnected(false);
    if (!this.running) return;
    this.stats_.reconnects += fatal ? 0 : 1;
    this.metrics?.reconnects.inc({ camera: this.cameraId, code: error.code });
    if (fatal) {
      this.fatal = true;
      this.logger?.error({ code: error.code }, error.message);
      this.emitStatus();
      return;
    }
    const delay = this.backoffMs();
    this.attempt++;
    this.logger?.warn(
      { code: error.code, retryInMs: Math.round(delay) },
      `camera '${this.cameraId}': ${error.message}`,
    );
    this.emitStatus();
    this.reconnectTimer = this.timers.setTimeout(() => this.spawnFfmpeg(), delay);
  }

  /** Exponential backoff with ±jitter; `attempt` resets once a connection delivers a frame. */
  backoffMs(): number {
    const b = this.opts.backoff;
    const base = Math.min(b.maxMs, b.initialMs * b.factor ** this.attempt);
    const r = (this.deps.random ?? Math.random)();
    return Math.max(0, base * (1 + b.jitter * (2 * r - 1)));
  }

  private checkWatchdog(): void {
    if (!this.child) return;
    const now = this.timers.now();
    if (!this.connected) {
      if (now - this.spawnedAtMs > this.opts.connectTimeoutMs)
        this.kill({
          code: 'CAMERA_CONNECT_TIMEOUT',
          message: `no frame within ${this.opts.connectTimeoutMs} ms of opening ${redactUrl(this.opts.url)}`,
        });
      return;
    }
    if (this.lastFrameAtMs !== null && now - this.lastFrameAtMs > this.opts.stallTimeoutMs)
      this.kill({ code: 'CAMERA_STALLED', message: `no frame for ${this.opts.stallTimeoutMs} ms` });
    if (now - this.rateWindowStart >= RATE_WINDOW_MS) this.closeRateWindow(now);
  }

  private closeRateWindow(now: number): void {
    const span = now - this.rateWindowStart;
    if (this.rateWindowStart > 0 && span > 0) {
      this.stats_.rateHz = (this.rateCount * 1000) / span;
      this.metrics?.rateHz.set({ camera: this.cameraId }, this.stats_.rateHz);
    }
    this.rateCount = 0;
    this.rateWindowStart = now;
  }

  private setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.metrics?.connected.set({ camera: this.cameraId }, connected ? 1 : 0);
    if (connected) this.emitStatus();
  }

  private emitStatus(): void {
    this.statusSubject.next(this.status());
  }

  // --- frames -----------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.frameBytes - this.filled, chunk.length - off);
      chunk.copy(this.buf, this.filled, off, off + n);
      this.filled += n;
      off += n;
      if (this.filled === this.frameBytes) {
        const data = this.buf;
        this.buf = Buffer.allocUnsafe(this.frameBytes);
        this.filled = 0;
        this.onFrame(data);
      }
    }
  }

  private onFrame(data: Buffer): void {
    const nowMs = this.timers.now();
    const tNs = this.deps.clock.nowNs();
    if (!this.connected) this.onConnected(nowMs, tNs);
    this.lastFrameAtMs = nowMs;
    this.stats_.lastFrameNs = tNs;
    this.stats_.decoded++;
    this.rateCount++;
    if (this.connFrames++ === 0) this.connFirstMs = nowMs;
    else if (this.connFrames >= 10)
      this.connectionRateHz = ((this.connFrames - 1) * 1000) / (nowMs - this.connFirstMs);
    this.metrics?.frames.inc({ camera: this.cameraId });
    const frame: Frame = {
      cameraId: this.cameraId,
      data,
      width: this.opts.width,
      height: this.opts.height,
      tNs,
      seq: this.seq++,
    };
    if (this.latest) {
      // Replaced before anyone took it: the cap held the consumer back, or it was still busy.
      const reason = this.waiter && this.capTimer ? 'fps_cap' : 'superseded';
      this.stats_.dropped[reason]++;
      this.metrics?.dropped.inc({ camera: this.cameraId, reason });
    }
    this.latest = frame;
    this.tryDeliver();
  }

  private tryDeliver(): void {
    const w = this.waiter;
    const f = this.latest;
    if (!w || !f || this.capTimer) return;
    this.waiter = null;
    this.latest = null;
    this.spendToken(this.timers.now());
    this.stats_.delivered++;
    w(f);
  }

  /*
   * The fps cap is a token bucket applied when frames are handed out (not when they
   * arrive), 1.5 tokens deep: arrival jitter and event-loop stalls then cost no frames
   * when the camera runs at the cap, and a faster camera is thinned to the cap on average.
   */
  private refill(nowMs: number): void {
    this.tokens = Math.min(1.5, this.tokens + ((nowMs - this.tokensAtMs) / 1000) * this.opts.fps);
    this.tokensAtMs = nowMs;
  }

  private capWaitMs(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.opts.fps) * 1000;
  }

  private spendToken(nowMs: number): void {
    this.refill(nowMs);
    this.tokens -= 1;
  }

  private onConnected(nowMs: number, tNs: number): void {
    this.attempt = 0;
    this.stats_.firstFrameMs = nowMs - this.spawnedAtMs;
    this.metrics?.firstFrameSeconds.set({ camera: this.cameraId }, this.stats_.firstFrameMs / 1000);
    if (this.outageStartNs !== null) {
      const gapS = (tNs - this.outageStartNs) / 1e9;
      const rate = this.stats_.rateHz ?? this.connectionRateHz ?? this.opts.fps;
      const missed = Math.max(0, Math.round(gapS * rate) - 1);
      this.stats_.gaps++;
      this.stats_.gapS += gapS;
      this.stats_.gapFrames += missed;
      this.metrics?.gapSeconds.inc({ camera: this.cameraId }, gapS);
      this.metrics?.gapFrames.inc({ camera: this.cameraId }, missed);
      this.logger?.info(
        { gapS: Math.round(gapS * 100) / 100, missedFrames: missed },
        `camera '${this.cameraId}' recovered`,
      );
      this.outageStartNs = null;
    }
    this.lastError = undefined;
    this.rateWindowStart = nowMs;
    this.rateCount = 0;
    this.connFrames = 0;
    this.setConnected(true);
  }
}
