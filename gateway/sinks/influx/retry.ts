import { HttpError } from '@influxdata/influxdb-client';

/*
 * What to do when a write fails. Four outcomes:
 *  - away:    the server is unreachable or overloaded (connection errors, timeouts, 429,
 *             502/503/504). Retried until it is back — meanwhile points spool to disk.
 *  - limited: refused for a reason that may pass (401/403/404, 500, TLS…). Retried
 *             maxRetries times, then the batch is dropped and counted.
 *  - split:   the batch itself is refused (400 bad line, 413 too large, 422 out of
 *             retention). Halved until the refused points are found alone; those are
 *             dropped and counted, the rest is written.
 */
export type FailureKind = 'away' | 'limited' | 'split';

export interface WriteFailure {
  readonly kind: FailureKind;
  /** Metrics label: `http_<status>`, `timeout`, or the lower-cased network error code. */
  readonly reason: string;
  /** From a Retry-After header, ms. */
  readonly retryAfterMs?: number;
  readonly message: string;
}

const AWAY_STATUS = new Set([408, 429, 502, 503, 504]);
const SPLIT_STATUS = new Set([400, 413, 422]);
const AWAY_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'UND_ERR_SOCKET',
]);

/** Retry-After: delay-seconds or an HTTP date. */
export function parseRetryAfter(value: unknown, nowMs: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export function classifyWriteError(err: unknown, nowMs = Date.now()): WriteFailure {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof HttpError) {
    const status = err.statusCode;
    const reason = `http_${status}`;
    const retryAfterMs = parseRetryAfter(err.headers?.['retry-after'], nowMs);
    const kind: FailureKind = AWAY_STATUS.has(status)
      ? 'away'
      : SPLIT_STATUS.has(status)
        ? 'split'
        : 'limited';
    return retryAfterMs === undefined ? { kind, reason, message } : { kind, reason, retryAfterMs, message };
  }
  const name = err instanceof Error ? err.name : '';
  if (name === 'RequestTimedOutError' || name === 'AbortError')
    return { kind: 'away', reason: 'timeout', message };
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    return { kind: AWAY_CODES.has(code) ? 'away' : 'limited', reason: code.toLowerCase(), message };
  }
  return { kind: 'limited', reason: 'error', message };
}

export interface BackoffOptions {
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * Exponential backoff with "equal jitter": half the delay fixed, half random, so many
 * gateways that lost the same server do not come back in lockstep. A Retry-After wins,
 * capped at 10× maxDelayMs, plus a little jitter.
 */
export function retryDelayMs(
  attempt: number,
  failure: WriteFailure,
  opts: BackoffOptions,
  random = Math.random,
): number {
  if (failure.retryAfterMs !== undefined) {
    return (
      Math.min(failure.retryAfterMs, opts.maxDelayMs * 10) +
      Math.round(random() * Math.min(1000, opts.minDelayMs))
    );
  }
  const base = Math.min(opts.maxDelayMs, opts.minDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base / 2 + random() * (base / 2));
}
