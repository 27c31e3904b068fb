import { Worker } from 'node:worker_threads';
import { Counter, type Registry } from 'prom-client';
import type { ExecutionProviderName } from '../domain/execution-provider.ts';
import type { Logger } from '../observability/logger.ts';
import { GatewayError, errorCode, errorMessage } from '../observability/errors.ts';
import type { EncoderOutput, EncoderSession, OpenedEncoder } from './encoder-session.ts';
import type { EncoderManifest } from './manifest.ts';
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
 */

/**
 * Starts the worker's entry next to this file: the .js of tsc's output (the bin), or under tsx
 * (npm start, tests) the .ts, through tsx's loader, which Node 20 does not carry into workers
 * from the parent's `--import tsx`.
 */
function startWorker(): Worker {
  const options = { name: 'mujo-inference', execArgv: workerExecArgv() };
  const create = (opts: typeof options): Worker => {
    if (!import.meta.url.endsWith('.ts'))
      return new Worker(new URL('./inference-worker.js', import.meta.url), opts);
    const entry = new URL('./inference-worker.ts', import.meta.url).href;
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

export interface InferenceThreadOptions {
  readonly logger: Logger;
  /** mujo_inference_worker_exits_total{reason} is registered here when given. */
  readonly metrics?: Registry | undefined;
}

export interface OpenEncoderOptions {
  readonly providers: readonly ExecutionProviderName[];
  readonly intraOpThreads?: number | undefined;
}

interface SessionSpec {
  readonly bytes: Uint8Array;
  readonly encoder: EncoderManifest;
  readonly index: number;
  readonly file: string;
  readonly options: OpenEncoderOptions;
  /** The worker generation the session is open in. */
  generation: number;
  /** A reopen in a respawned worker, shared by the runs waiting for it. */
  reopening: Promise<void> | undefined;
}

interface Pending {
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
}

export class InferenceThread {
  private current: Spawned | undefined;
  private generation = 0;
  private nextRequest = 1;
  private nextSession = 1;
  private readonly sessions = new Map<number, SessionSpec>();
  private readonly exits: Counter<'reason'> | undefined;
  private readonly transferBuffers = new BufferPool(8);

  constructor(private readonly options: InferenceThreadOptions) {
    this.exits = options.metrics
      ? new Counter({
          name: 'mujo_inference_worker_exits_total',
          help: 'Inference worker threads that ended unexpectedly, by reason (the error code, or exit); the next run starts a new one',
          labelNames: ['reason'],
          registers: [options.metrics],
        })
      : undefined;
  }

  /** The worker's thread id while one runs (for logs and tests). */
  get threadId(): number | undefined {
    return this.current?.worker.threadId;
  }

  /**
   * Opens an encoder's session in the worker: provider fallback and graph checks run there,
   * refusals come back as the same coded errors as on the main thread.
   */
  async openEncoder(
    bytes: Uint8Array,
    encoder: EncoderManifest,
    index: number,
    file: string,
    options: OpenEncoderOptions,
  ): Promise<OpenedEncoder> {
    const id = this.nextSession++;
    const spec: SessionSpec = { bytes, encoder, index, file, options, generation: -1, reopening: undefined };
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

  /** Ends the worker now, as a crash would: requests in flight fail with MODEL_WORKER_EXITED; the next run starts a new one. */
  async terminate(): Promise<void> {
    await this.current?.worker.terminate();
  }

  private openRequest(id: number, session: number, spec: SessionSpec): WorkerRequest {
    return {
      type: 'open',
      id,
      session,
      bytes: spec.bytes,
      encoder: spec.encoder,
      index: spec.index,
      file: spec.file,
      providers: spec.options.providers,
      intraOpThreads: spec.options.intraOpThreads,
    };
  }

  private sessionHandle(id: number): EncoderSession {
    return {
      run: (input, dims) => this.run(id, input, dims),
      release: () => this.release(id),
    };
  }

  private async run(session: number, input: Float32Array, dims: readonly number[]): Promise<EncoderOutput> {
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
    const carrier = this.transferBuffers.take(input.byteLength);
    const copy = new Float32Array(carrier, 0, input.length);
    copy.set(input);
    const { result } = this.request((id) => ({ type: 'run', id, session, input: copy, dims }), [carrier]);
    const { data, type, input: returned } = (await result) as RunResult;
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
            { encoder: spec.encoder.name, generation },
            `encoder ${spec.encoder.name}: session opened again in the new inference worker`,
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
    const spawned = this.current ?? this.spawn();
    const id = this.nextRequest++;
    const result = new Promise<unknown>((resolve, reject) => {
      spawned.pending.set(id, { resolve, reject });
    });
    if (spawned.pending.size === 1) spawned.worker.ref();
    spawned.worker.postMessage(build(id), transfer);
    return { generation: spawned.generation, result };
  }

  private spawn(): Spawned {
    const generation = ++this.generation;
    const worker = startWorker();
    const spawned: Spawned = { worker, generation, pending: new Map(), error: undefined, stopping: false };
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
    if (spawned.pending.size === 0) spawned.worker.unref();
    if (message.ok) pending.resolve(message.value);
    else pending.reject(fromWorker(message.error));
  }

  private onExit(spawned: Spawned, exitCode: number): void {
    if (this.current === spawned) this.current = undefined;
    const inFlight = spawned.pending.size;
    if (!spawned.stopping) {
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
