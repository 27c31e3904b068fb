// Long file: the inference worker's whole main-thread side (requests, replies, exits, restart backoff, health); its protocol and entry are already separate files.
import { Worker } from 'node:worker_threads';
import { Counter, type Registry } from 'prom-client';
import { realTimers, type Timers } from '../clock/timers.ts';
import type { ExecutionProviderName } from '../domain/execution-provider.ts';
import type { ComponentHealth, HealthRegistry } from '../observability/health.ts';
import type { Logger } from '../observability/logger.ts';
import { GatewayError, errorCode, errorMessage } from '../observability/errors.ts';
import type { EncoderOutput, EncoderSession, OpenedEncoder } from './encoder-session.ts';
import type { EncoderManifest } from './manifest.ts';
import { targetLabel, type SessionTarget } from './session-targets.ts';
import type { OpenResult, RunResult, WorkerError, WorkerRequest, WorkerResponse } from './worker-protocol.ts';

/*
 * The main thread's side of the inference worker. One worker holds every encoder's session,
 * of every model loaded (a reload opens the new sessions there, the old ones are released
 * there): on the 2-core boxes the gateway targets, one inference thread next to the event
 * loop uses the second core, while a worker per encoder would add a V8 isolate (~10 MB RSS)
 * each and compete with the event loop for the same two cores.
 *
 * A worker that exits (crash, out of memory, terminate) fails the requests it had with
 * MODEL_WORKER_EXITED; the exit is counted and logged, and the next request starts a new
 * worker and opens its sessions again from the ONNX bytes kept here.
 *
 * A worker that keeps exiting before it answers a run (a broken install, a missing file, an
 * entry that throws at load, a run that crashes every time) is not started again for every
 * batch: after the second exit in a row, restarts wait 1 s, then 2, 4 … up to 60 s, and the
 * requests in between fail at once with MODEL_WORKER_UNAVAILABLE (counted; the reason is in
 * /health, component inferenceWorker). One run answered resets the backoff, so a worker that
 * crashes once after a healthy life restarts at once, as before.
 */

/**
 * Starts the worker's entry next to this file: the .js of tsc's output (the bin), or under tsx
 * (npm start, tests) the .ts, through tsx's loader, which Node 20 does not carry into workers
 * from the parent's `--import tsx`.
 */
function startWorker(entryUrl: URL): Worker {
  const options = { name: 'mujo-inference', execArgv: workerExecArgv() };
  const create = (opts: typeof options): Worker => {
    if (!entryUrl.pathname.endsWith('.ts')) return new Worker(entryUrl, opts);
    const entry = entryUrl.href;
    // Resolved here: the eval'd bootstrap would resolve from the working directory.
    const tsx = import.meta.resolve('tsx/esm/api');
    const bootstrap = `import(${JSON.stringify(tsx)}).then(({ tsImport }) => tsImport(${JSON.stringify(entry)}, ${JSON.stringify(import.meta.url)}))`;
    return new Worker(bootstrap, { ...opts, eval: true });
  };
  try {
    return create(options);
  } catch (err) {
    // Flags given explicitly must all be valid in a worker (V8 flags such as --expose-gc are
    // not); inherited ones are filtered by Node. The profile then shares the parent's name.
    if (errorCode(err) !== 'ERR_WORKER_INVALID_EXEC_ARGV' || options.execArgv === undefined) throw err;
    return create({ ...options, execArgv: undefined });
  }
}

/**
 * The parent's flags (inherited, when undefined), but under --cpu-prof a profile of its own:
 * with the parent's --cpu-prof-name both threads would write one file; without it the name
 * carries the thread id.
 */
function workerExecArgv(): string[] | undefined {
  const args = process.execArgv;
  const at = args.findIndex((a) => a.startsWith('--cpu-prof-name'));
  if (at < 0) return undefined;
  return args.filter((_, i) => i !== at && !(i === at + 1 && args[at] === '--cpu-prof-name'));
}

/** The worker's entry next to this file: the .js of tsc's output, or the .ts under tsx. */
export const DEFAULT_WORKER_ENTRY = new URL(
  import.meta.url.endsWith('.ts') ? './inference-worker.ts' : './inference-worker.js',
  import.meta.url,
);

/** Restart delays of a worker that keeps exiting without answering a run. */
export interface RestartBackoff {
  /** Delay after the second exit in a row (the first restarts at once); default 1,000 ms. */
  readonly initialMs: number;
  /** Doubled per further exit up to this; default 60,000 ms. */
  readonly maxMs: number;
}

export const DEFAULT_RESTART_BACKOFF: RestartBackoff = { initialMs: 1_000, maxMs: 60_000 };

export interface InferenceThreadOptions {
  readonly logger: Logger;
  /**
   * mujo_inference_worker_exits_total{reason} and mujo_inference_worker_unavailable_total
   * are registered here when given.
   */
  readonly metrics?: Registry | undefined;
  /** Component 'inferenceWorker' is reported here when given (restart backoff and its reason). */
  readonly health?: HealthRegistry | undefined;
  /** The restart backoff's clock; default the real one (tests pass virtual timers). */
  readonly timers?: Timers | undefined;
  readonly backoff?: RestartBackoff | undefined;
  /** The worker's entry module (tests start broken ones); default DEFAULT_WORKER_ENTRY. */
  readonly entry?: URL | undefined;
}

export interface OpenEncoderOptions {
  readonly providers: readonly ExecutionProviderName[];
  readonly intraOpThreads?: number | undefined;
}

/** A session in the worker, as the main thread holds it (any target). */
export interface WorkerSession extends EncoderSession {
  /**
   * Runs `input`, handing its buffer over to the worker instead of copying it (for large
   * inputs made for one run, such as a pose frame): `input` is detached when this returns,
   * and its buffer comes back in the result for the caller's next run. An input that is not
   * a view on its whole buffer is copied, as `run` does.
   */
  runHandingOver(
    input: Float32Array,
    dims: readonly number[],
  ): Promise<EncoderOutput & { input?: Float32Array }>;
}

/** A session opened in the worker. */
export interface OpenedWorkerSession extends OpenedEncoder {
  readonly session: WorkerSession;
}

interface SessionSpec {
  readonly bytes: Uint8Array;
  readonly target: SessionTarget;
  readonly options: OpenEncoderOptions;
  /** The worker generation the session is open in. */
  generation: number;
  /** A reopen in a respawned worker, shared by the runs waiting for it. */
  reopening: Promise<void> | undefined;
}

interface Pending {
  /** The request's type: a run answered ends the restart backoff. */
  readonly kind: WorkerRequest['type'];
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: GatewayError) => void;
}

interface Spawned {
  readonly worker: Worker;
  readonly generation: number;
  readonly pending: Map<number, Pending>;
  /** The error the worker died of, when it reported one ('error' comes before 'exit'). */
  error: unknown;
  /** Ended on purpose (last session released): not counted as a failure. */
  stopping: boolean;
  /** Called when no request is left in flight (or the worker exited). */
  readonly idle: (() => void)[];
}

/** Why the worker is not running and when it may start again. */
interface Backoff {
  /** Exits in a row without a run answered. */
  failures: number;
  /** timers.now() before which no worker is started. */
  retryAt: number;
  /** The last exit's reason, for /health and the refusals' message. */
  reason: string;
  at: string;
}

export class InferenceThread {
  private current: Spawned | undefined;
  private generation = 0;
  private nextRequest = 1;
  private nextSession = 1;
  private readonly sessions = new Map<number, SessionSpec>();
  private readonly exits: Counter<'reason'> | undefined;
  private readonly refused: Counter | undefined;
  private readonly transferBuffers = new BufferPool(8);
  private readonly timers: Timers;
  private readonly backoffPolicy: RestartBackoff;
  private backoff: Backoff | undefined;

  constructor(private readonly options: InferenceThreadOptions) {
    this.timers = options.timers ?? realTimers;
    this.backoffPolicy = options.backoff ?? DEFAULT_RESTART_BACKOFF;
    this.exits = options.metrics
      ? new Counter({
          name: 'mujo_inference_worker_exits_total',
          help: 'Inference worker threads that ended unexpectedly, by reason (the error code, or exit); the next run starts a new one',
          labelNames: ['reason'],
          registers: [options.metrics],
        })
      : undefined;
    this.refused = options.metrics
      ? new Counter({
          name: 'mujo_inference_worker_unavailable_total',
          help: 'Inference requests failed at once with MODEL_WORKER_UNAVAILABLE: the worker kept exiting and waits out its restart backoff',
          registers: [options.metrics],
        })
      : undefined;
    options.health?.provide('inferenceWorker', () => this.health());
  }

  /** What /health shows: up unless the worker keeps exiting (down while restarts wait). */
  health(): ComponentHealth {
    const b = this.backoff;
    const running = this.current !== undefined;
    if (!b) return { status: 'up', details: { running, generation: this.generation } };
    const retryInMs = Math.max(0, Math.ceil(b.retryAt - this.timers.now()));
    return {
      // Waiting: every run fails; the wait over, the next run tries a new worker.
      status: retryInMs > 0 ? 'down' : 'degraded',
      error: { code: 'MODEL_WORKER_EXITED', message: b.reason, at: b.at },
      details: { running, generation: this.generation, failuresInARow: b.failures, retryInMs },
    };
  }

  /** The worker's thread id while one runs (for logs and tests). */
  get threadId(): number | undefined {
    return this.current?.worker.threadId;
  }

  /**
   * Opens an encoder's session in the worker: provider fallback and graph checks run there,
   * refusals come back as the same coded errors as on the main thread.
   */
  openEncoder(
    bytes: Uint8Array,
    encoder: EncoderManifest,
    index: number,
    file: string,
    options: OpenEncoderOptions,
  ): Promise<OpenedEncoder> {
    return this.openSession(bytes, { kind: 'encoder', encoder, index, file }, options);
  }

  /**
   * Opens any target's session in the worker (an encoder, a camera's pose model): the same
   * provider fallback, graph checks and coded refusals as on the main thread.
   */
  async openSession(
    bytes: Uint8Array,
    target: SessionTarget,
    options: OpenEncoderOptions,
  ): Promise<OpenedWorkerSession> {
    const id = this.nextSession++;
    const spec: SessionSpec = { bytes, target, options, generation: -1, reopening: undefined };
    const { generation, result } = this.request((requestId) => this.openRequest(requestId, id, spec));
    const opened = (await result) as OpenResult;
    spec.generation = generation;
    this.sessions.set(id, spec);
    return {
      session: this.sessionHandle(id),
      provider: opened.provider,
      failures: opened.failures,
      loadMs: opened.loadMs,
    };
  }

  /**
   * Ends the worker now, as a crash would (for tests): requests in flight fail with
   * MODEL_WORKER_EXITED; the next run starts a new one. Only while no run is in flight: a
   * worker terminated during a native run takes the process down.
   */
  async terminate(): Promise<void> {
    await this.current?.worker.terminate();
  }

  private openRequest(id: number, session: number, spec: SessionSpec): WorkerRequest {
    return {
      type: 'open',
      id,
      session,
      bytes: spec.bytes,
      target: spec.target,
      providers: spec.options.providers,
      intraOpThreads: spec.options.intraOpThreads,
    };
  }

  private sessionHandle(id: number): WorkerSession {
    return {
      run: async (input, dims) => {
        const { data, type } = await this.run(id, input, dims, false);
        return { data, type };
      },
      runHandingOver: (input, dims) => this.run(id, input, dims, true),
      release: () => this.release(id),
    };
  }

  private async run(
    session: number,
    input: Float32Array,
    dims: readonly number[],
    handOver: boolean,
  ): Promise<EncoderOutput & { input?: Float32Array }> {
    // Opened in the worker running now (a respawn between the check and the post reopens).
    for (;;) {
      const spec = this.sessions.get(session);
      if (!spec) throw new GatewayError('MODEL_CLOSED', `inference session ${session} was released`);
      if (this.current?.generation === spec.generation) break;
      await this.ensureOpen(session);
    }
    // The caller's batch buffer is reused for the next batch: the worker gets a copy of its
    // own, moved (not cloned again) across, and moved back with the result to carry the next
    // batch: no buffer allocated per run, no garbage left in either thread.
    // A caller that hands its buffer over (a pose frame, made for this run) gets it back
    // instead: it travels both ways without a copy.
    const whole =
      handOver &&
      input.buffer instanceof ArrayBuffer &&
      input.byteOffset === 0 &&
      input.byteLength === input.buffer.byteLength;
    const carrier = whole ? (input.buffer as ArrayBuffer) : this.transferBuffers.take(input.byteLength);
    const sent = whole ? input : new Float32Array(carrier, 0, input.length);
    if (!whole) sent.set(input);
    const { result } = this.request((id) => ({ type: 'run', id, session, input: sent, dims }), [carrier]);
    const { data, type, input: returned } = (await result) as RunResult;
    if (whole) return { data, type, ...(returned ? { input: new Float32Array(returned) } : {}) };
    if (returned) this.transferBuffers.give(returned);
    return { data, type };
  }

  /** A session opened in a worker that has since exited is opened again in the current one. */
  private async ensureOpen(session: number): Promise<void> {
    const spec = this.sessions.get(session);
    if (!spec) throw new GatewayError('MODEL_CLOSED', `inference session ${session} was released`);
    while (spec.generation !== this.liveGeneration()) {
      spec.reopening ??= (async () => {
        try {
          const { generation, result } = this.request((id) => this.openRequest(id, session, spec));
          await result;
          spec.generation = generation;
          this.options.logger.info(
            { session: targetLabel(spec.target), generation },
            `${targetLabel(spec.target)}: session opened again in the new inference worker`,
          );
        } finally {
          spec.reopening = undefined;
        }
      })();
      await spec.reopening;
    }
  }

  private async release(session: number): Promise<void> {
    const spec = this.sessions.get(session);
    this.sessions.delete(session);
    const live = this.current;
    if (spec && live && spec.generation === live.generation) {
      await this.request((id) => ({ type: 'release', id, session })).result.catch(
        // A worker that exited released everything with it.
        (err: unknown) => {
          if (errorCode(err) !== 'MODEL_WORKER_EXITED') throw err;
        },
      );
    }
    // No session left (gateway stopping): the thread and its onnxruntime memory go too.
    if (this.sessions.size === 0 && this.current?.pending.size === 0) await this.stop();
  }

  /** Ends the worker on purpose (not counted as a failure); a later request starts a new one. */
  async stop(): Promise<void> {
    const spawned = this.current;
    if (!spawned) return;
    spawned.stopping = true;
    // Not while onnxruntime runs in it: a worker terminated during a native run takes the
    // whole process down (the binding throws into the torn-down environment).
    while (spawned.pending.size > 0) await new Promise<void>((resolve) => spawned.idle.push(resolve));
    await spawned.worker.terminate();
  }

  /** The generation of the worker running now, or of the one the next request starts. */
  private liveGeneration(): number {
    return this.current?.generation ?? this.generation + 1;
  }

  private request(
    build: (id: number) => WorkerRequest,
    transfer: ArrayBuffer[] = [],
  ): { generation: number; result: Promise<unknown> } {
    const spawned = this.current ?? this.spawnUnlessBackingOff();
    if (spawned instanceof GatewayError) return { generation: -1, result: Promise.reject(spawned) };
    const id = this.nextRequest++;
    const message = build(id);
    const result = new Promise<unknown>((resolve, reject) => {
      spawned.pending.set(id, { kind: message.type, resolve, reject });
    });
    if (spawned.pending.size === 1) spawned.worker.ref();
    spawned.worker.postMessage(message, transfer);
    return { generation: spawned.generation, result };
  }

  /** A new worker, or the error to fail the request with while restarts wait. */
  private spawnUnlessBackingOff(): Spawned | GatewayError {
    const b = this.backoff;
    const waitMs = b ? Math.ceil(b.retryAt - this.timers.now()) : 0;
    if (b && waitMs > 0) {
      this.refused?.inc();
      return new GatewayError(
        'MODEL_WORKER_UNAVAILABLE',
        `the inference worker exited ${b.failures} times in a row (last: ${b.reason}); next start in ${waitMs} ms`,
        { details: { failuresInARow: b.failures, retryInMs: waitMs } },
      );
    }
    try {
      return this.spawn();
    } catch (err) {
      // The Worker constructor itself refused (bad entry path, bad options): an exit too.
      this.recordFailure(`the worker could not be created: ${errorMessage(err)}`);
      this.exits?.inc({ reason: errorCode(err) === 'UNKNOWN' ? 'error' : errorCode(err) });
      this.options.logger.error(
        { code: 'MODEL_WORKER_EXITED', reason: errorMessage(err) },
        'inference worker could not be created',
      );
      return new GatewayError(
        'MODEL_WORKER_EXITED',
        `the inference worker could not be created: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
  }

  /** One more exit without a run answered: the next start waits (none after the first). */
  private recordFailure(reason: string): void {
    const failures = (this.backoff?.failures ?? 0) + 1;
    const { initialMs, maxMs } = this.backoffPolicy;
    const delay = failures < 2 ? 0 : Math.min(maxMs, initialMs * 2 ** (failures - 2));
    this.backoff = { failures, retryAt: this.timers.now() + delay, reason, at: new Date().toISOString() };
    if (delay > 0) {
      this.options.logger.error(
        { code: 'MODEL_WORKER_UNAVAILABLE', failuresInARow: failures, retryInMs: delay, reason },
        `inference worker exited ${failures} times in a row; runs fail with MODEL_WORKER_UNAVAILABLE for ${delay} ms, then the next run starts a new worker`,
      );
    }
  }

  private spawn(): Spawned {
    const worker = startWorker(this.options.entry ?? DEFAULT_WORKER_ENTRY);
    const generation = ++this.generation;
    const spawned: Spawned = {
      worker,
      generation,
      pending: new Map(),
      error: undefined,
      stopping: false,
      idle: [],
    };
    this.current = spawned;
    worker.unref();
    worker.on('message', (message: WorkerResponse) => this.onMessage(spawned, message));
    worker.on('error', (err) => (spawned.error = err));
    worker.on('exit', (exitCode) => this.onExit(spawned, exitCode));
    if (generation > 1)
      this.options.logger.info({ generation }, 'inference worker started again after an exit');
    return spawned;
  }

  private onMessage(spawned: Spawned, message: WorkerResponse): void {
    if (message.type === 'log') {
      this.options.logger[message.level](message.fields, message.message);
      return;
    }
    const pending = spawned.pending.get(message.id);
    if (!pending) return;
    spawned.pending.delete(message.id);
    if (spawned.pending.size === 0) {
      spawned.worker.unref();
      for (const resolve of spawned.idle.splice(0)) resolve();
    }
    if (message.ok) {
      // A run answered: the worker works; a later exit restarts at once.
      if (this.backoff && pending.kind === 'run') {
        this.options.logger.info(
          { generation: spawned.generation },
          'inference worker answers runs again; restart backoff reset',
        );
        this.backoff = undefined;
      }
      pending.resolve(message.value);
    } else pending.reject(fromWorker(message.error));
  }

  private onExit(spawned: Spawned, exitCode: number): void {
    if (this.current === spawned) this.current = undefined;
    const inFlight = spawned.pending.size;
    if (!spawned.stopping) {
      this.recordFailure(spawned.error === undefined ? `exit code ${exitCode}` : errorMessage(spawned.error));
      const reason = spawned.error === undefined ? 'exit' : errorCode(spawned.error);
      this.exits?.inc({ reason: reason === 'UNKNOWN' ? 'error' : reason });
      this.options.logger.error(
        {
          code: 'MODEL_WORKER_EXITED',
          exitCode,
          reason: spawned.error === undefined ? null : errorMessage(spawned.error),
          inFlight,
          generation: spawned.generation,
        },
        `inference worker exited (code ${exitCode}); ${inFlight} request(s) failed, the next run starts a new worker`,
      );
    }
    const error = new GatewayError(
      'MODEL_WORKER_EXITED',
      `the inference worker exited (code ${exitCode}${spawned.error === undefined ? '' : `: ${errorMessage(spawned.error)}`}) before answering`,
      { details: { exitCode }, ...(spawned.error === undefined ? {} : { cause: spawned.error }) },
    );
    for (const pending of spawned.pending.values()) pending.reject(error);
    spawned.pending.clear();
    for (const resolve of spawned.idle.splice(0)) resolve();
  }
}

function fromWorker(error: WorkerError): GatewayError {
  return new GatewayError(error.code, error.message, error.details ? { details: error.details } : {});
}

/** ArrayBuffers that carry batches to the worker and come back with the results. */
class BufferPool {
  private readonly free: ArrayBuffer[] = [];

  constructor(private readonly keep: number) {}

  /** A buffer of at least `bytes` (sizes in powers of two, so batch sizes share buffers). */
  take(bytes: number): ArrayBuffer {
    const i = this.free.findIndex((b) => b.byteLength >= bytes);
    if (i >= 0) return this.free.splice(i, 1)[0]!;
    return new ArrayBuffer(2 ** Math.ceil(Math.log2(Math.max(bytes, 1024))));
  }

  give(buffer: ArrayBuffer): void {
    if (this.free.length < this.keep) this.free.push(buffer);
  }
}
