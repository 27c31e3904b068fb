import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../observability/logger.ts';
import type { HealthRegistry } from '../observability/health.ts';
import { GatewayError, errorCode, errorMessage } from '../observability/errors.ts';
import type { ExecutionProviderName } from '../domain/execution-provider.ts';
import { loadModel, type OrtLoadedModel } from './load-model.ts';
import { InferenceThread } from './inference-thread.ts';
import type { InferenceThreadKind } from './options.ts';

export interface ModelManagerOptions {
  /** Model directory loaded by `start()` and by `reload()` without an argument. */
  readonly dir: string;
  readonly providers: readonly ExecutionProviderName[];
  readonly intraOpThreads?: number | undefined;
  /** 'worker' (default): every model's sessions live in one inference worker thread; 'main': on the event loop. */
  readonly inferenceThread?: InferenceThreadKind | undefined;
  /** Use the manifests' open-set thresholds (default true). */
  readonly openSet?: boolean;
  readonly logger: Logger;
  /** Component 'model' is kept up to date here when given (and 'inferenceWorker' with the worker). */
  readonly health?: HealthRegistry;
  /** mujo_model_loads_total{result} is registered here when given. */
  readonly metrics?: Registry;
}

export type ReloadResult =
  | {
      readonly ok: true;
      readonly model: OrtLoadedModel;
      readonly previous: { name: string; version: string } | undefined;
    }
  | { readonly ok: false; readonly error: GatewayError; readonly model: OrtLoadedModel | undefined };

export interface ReloadOptions {
  /**
   * Encoders whose file and interface are those of the model serving keep its sessions
   * instead of opening new ones: for versions that change only prototypes (enrollment).
   */
  readonly shareSessions?: boolean;
}

export type SwapListener = (next: OrtLoadedModel, previous: OrtLoadedModel | undefined) => void;

function asGatewayError(err: unknown): GatewayError {
  return err instanceof GatewayError
    ? err
    : new GatewayError(errorCode(err), errorMessage(err), { cause: err });
}

/**
 * Holds the model the pipeline uses. A reload loads the new model completely (manifest,
 * hashes, every session) before swapping; if anything fails, the current model keeps serving
 * and the coded error is returned. The replaced model's sessions close after the swap, once
 * their in-flight batches finish, so callers should read `current` per batch.
 */
export class ModelManager {
  private model: OrtLoadedModel | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<SwapListener>();
  private readonly loads: Counter<'result'> | undefined;
  /** The worker every loaded model's sessions live in; undefined with inferenceThread 'main'. */
  readonly thread: InferenceThread | undefined;
  private closed = false;
  /** Directory of the model serving (or to be loaded first): what `reload()` without an argument loads. */
  private activeDir: string;

  constructor(private readonly options: ModelManagerOptions) {
    this.activeDir = options.dir;
    this.loads = options.metrics
      ? new Counter({
          name: 'mujo_model_loads_total',
          help: 'Model loads (start and reloads) by result: ok, or the error code',
          labelNames: ['result'],
          registers: [options.metrics],
        })
      : undefined;
    this.thread =
      (options.inferenceThread ?? 'worker') === 'worker'
        ? new InferenceThread({ logger: options.logger, metrics: options.metrics, health: options.health })
        : undefined;
  }

  /** The model serving now, if any. */
  get current(): OrtLoadedModel | undefined {
    return this.model;
  }

  /** The model serving now; throws MODEL_NOT_LOADED before a successful start. */
  requireCurrent(): OrtLoadedModel {
    if (!this.model) throw new GatewayError('MODEL_NOT_LOADED', 'no model is loaded');
    return this.model;
  }

  /** Called after each swap, before the previous model is closed. Returns an unsubscribe. */
  onSwap(listener: SwapListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Initial load (`dir`, default the configured one): throws the coded error (the gateway cannot run without a model). */
  async start(dir?: string): Promise<OrtLoadedModel> {
    const result = await this.reload(dir);
    if (!result.ok) throw result.error;
    return result.model;
  }

  /** Directory of the model serving now (the configured one until another was loaded). */
  get dir(): string {
    return this.activeDir;
  }

  /**
   * Loads `dir` (default: the directory serving now, at first the configured one) and swaps
   * it in if it loads completely. Reloads run one at a time, in call order.
   */
  reload(dir: string = this.activeDir, options: ReloadOptions = {}): Promise<ReloadResult> {
    // Coalesced: a request for the directory already waiting to load joins that load, so a
    // storm of requests costs at most the load running now plus one more.
    const shareSessions = options.shareSessions === true;
    if (this.waiting?.dir === dir && this.waiting.shareSessions === shareSessions) return this.waiting.result;
    const entry: { dir: string; shareSessions: boolean; result: Promise<ReloadResult> } = {
      dir,
      shareSessions,
      result: undefined!,
    };
    const run = this.queue.then(() => {
      if (this.waiting === entry) this.waiting = undefined;
      return this.reloadNow(dir, options);
    });
    entry.result = run;
    this.waiting = entry;
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The reload queued behind the running one, which later requests for the same dir join. */
  private waiting: { dir: string; shareSessions: boolean; result: Promise<ReloadResult> } | undefined;

  private async reloadNow(dir: string, options: ReloadOptions): Promise<ReloadResult> {
    if (this.closed) {
      return {
        ok: false,
        error: new GatewayError('MODEL_CLOSED', 'model manager is closed'),
        model: undefined,
      };
    }
    const { logger, health } = this.options;
    if (!this.model) health?.set('model', { status: 'starting', details: { dir } });
    let next: OrtLoadedModel;
    try {
      next = await loadModel(dir, {
        providers: this.options.providers,
        intraOpThreads: this.options.intraOpThreads,
        openSet: this.options.openSet,
        logger,
        reuse: options.shareSessions ? this.model?.encoders : undefined,
        thread: this.thread,
      });
    } catch (err) {
      const error = asGatewayError(err);
      this.loads?.inc({ result: error.code });
      logger.error(
        {
          err: error,
          code: error.code,
          dir,
          keeping: this.model ? `${this.model.name} ${this.model.version}` : null,
        },
        this.model
          ? `model reload failed, keeping ${this.model.name} ${this.model.version}`
          : 'model load failed',
      );
      health?.set('model', {
        // A failed reload leaves the old model serving: degraded, not down.
        status: this.model ? 'degraded' : 'down',
        error: { code: error.code, message: error.message, at: new Date().toISOString() },
        details: this.model ? describe(this.model) : { dir },
      });
      return { ok: false, error, model: this.model };
    }

    const previous = this.model;
    this.model = next;
    this.activeDir = dir;
    this.loads?.inc({ result: 'ok' });
    health?.set('model', { status: 'up', details: describe(next) });
    for (const listener of this.listeners) {
      try {
        listener(next, previous);
      } catch (err) {
        logger.error({ err, code: errorCode(err) }, 'model swap listener failed');
      }
    }
    if (previous) {
      logger.info(
        { from: `${previous.name} ${previous.version}`, to: `${next.name} ${next.version}` },
        'model swapped; closing the previous sessions',
      );
      await previous.close();
    }
    return {
      ok: true,
      model: next,
      previous: previous && { name: previous.name, version: previous.version },
    };
  }

  /** Closes the current model after pending reloads; the manager cannot be used afterwards. */
  async close(): Promise<void> {
    await this.queue;
    this.closed = true;
    const model = this.model;
    this.model = undefined;
    this.options.health?.set('model', { status: 'stopped' });
    await model?.close();
    await this.thread?.stop();
  }
}

/** What /health and the MQTT status response show about a model. */
export function describe(model: OrtLoadedModel): Record<string, unknown> {
  return {
    name: model.name,
    version: model.version,
    dir: model.dir,
    manifestSha256: model.manifestSha256,
    encoders: model.encoders.map((e) => ({
      name: e.name,
      modality: e.modality,
      provider: e.provider,
      providerFailures: e.providerFailures,
    })),
  };
}
