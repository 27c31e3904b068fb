/**
 * The timers every source and sink runs on. Every timeout, backoff, watchdog, heartbeat and
 * periodic tick goes through this interface instead of the global setTimeout/setInterval, so
 * tests drive virtual time (test/fakes/virtual-timers.ts) instead of sleeping on the wall
 * clock: simulated minutes run in milliseconds and cannot flake on a loaded machine, and a
 * test can count the timers still armed after a run (a leaked timer is a leaked closure).
 *
 * `now()` is this timer base's own monotonic clock, in ms; the gateway's time (`Clock`,
 * domain/time.ts) is separate, and tests pass a virtual clock that agrees with the timers.
 */
export type TimerHandle = { readonly __timer: unique symbol } | object;

export interface Timers {
  /** Milliseconds on this timer base's clock (monotonic). */
  now(): number;
  /**
   * `keepAlive`: someone awaits this timer (a timeout of an operation in progress), so on real
   * timers it keeps the process alive. By default a timer is background work (a retry, tick,
   * heartbeat or watchdog) that must not keep a stopping process alive.
   */
  setTimeout(fn: () => void, ms: number, keepAlive?: boolean): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms, keepAlive = false) => {
    const t = setTimeout(fn, ms);
    if (!keepAlive) t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Resolves after `ms` on `timers`; rejects with the signal's reason if `signal` aborts first. */
export function sleep(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      timers.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = timers.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A periodic task; `cancel()` stops it (also from inside `fn`). */
export interface Repeating {
  cancel(): void;
}

/**
 * Calls `fn` every `ms` on `timers` until cancelled. Each run is armed after the previous one
 * returns, so a slow `fn` delays the next run instead of piling runs up.
 */
export function repeat(timers: Timers, ms: number, fn: () => void): Repeating {
  let handle: TimerHandle | undefined;
  let cancelled = false;
  const arm = (): void => {
    handle = timers.setTimeout(() => {
      handle = undefined;
      if (cancelled) return;
      try {
        fn();
      } finally {
        if (!cancelled) arm();
      }
    }, ms);
  };
  arm();
  return {
    cancel: () => {
      cancelled = true;
      if (handle !== undefined) timers.clearTimeout(handle);
      handle = undefined;
    },
  };
}

/**
 * Resolves `true` when `promise` settles within `ms` on `timers`, `false` when the time runs
 * out first (the promise keeps running). Rejections count as settled: callers that care
 * handle them on the promise itself. The timer keeps the process alive unless `keepAlive` is false.
 */
export function settlesWithin(
  timers: Timers,
  promise: Promise<unknown>,
  ms: number,
  keepAlive = true,
): Promise<boolean> {
  return new Promise((resolve) => {
    const handle = timers.setTimeout(() => resolve(false), ms, keepAlive);
    const done = (): void => {
      timers.clearTimeout(handle);
      resolve(true);
    };
    promise.then(done, done);
  });
}
