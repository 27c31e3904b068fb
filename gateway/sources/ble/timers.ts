/**
 * The timers the BLE stack runs on. Every timeout, backoff and watchdog goes through this
 * interface so tests can run simulated minutes of radio traffic on a virtual clock in
 * seconds, and count the timers still armed after a run (a leaked timer is a leaked closure).
 */
export type TimerHandle = { readonly __timer: unique symbol } | object;

export interface Timers {
  /** Milliseconds on this timer base's clock (monotonic). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // A pending BLE retry must not keep a stopping process alive.
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Resolves after `ms` on `timers`; rejects with `onTimeout()` if `signal` aborts first. */
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
