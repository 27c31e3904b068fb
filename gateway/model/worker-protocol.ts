import type { ExecutionProviderName } from '../domain/execution-provider.ts';
import type { ProviderFailure } from './session.ts';
import type { SessionTarget } from './session-targets.ts';

/*
 * The messages between the main thread (inference-thread.ts) and the inference worker
 * (inference-worker.ts). Sessions are numbered by the main thread, so that after a respawn it
 * can open the same numbers again from the bytes it kept.
 */

export type WorkerRequest =
  | {
      readonly type: 'open';
      readonly id: number;
      readonly session: number;
      /** The ONNX file's bytes (a copy: the main thread keeps its own for respawns). */
      readonly bytes: Uint8Array;
      /** What the session is for (an encoder, a pose model): its graph checks run in the worker. */
      readonly target: SessionTarget;
      readonly providers: readonly ExecutionProviderName[];
      readonly intraOpThreads: number | undefined;
    }
  | {
      readonly type: 'run';
      readonly id: number;
      readonly session: number;
      /**
       * Transferred: a copy made for this run, never the caller's reusable batch buffer (a
       * view on a pooled buffer that may be longer), or a buffer the caller handed over (a
       * pose frame); it comes back in the result.
       */
      readonly input: Float32Array;
      readonly dims: readonly number[];
    }
  | { readonly type: 'release'; readonly id: number; readonly session: number };

export interface OpenResult {
  readonly provider: ExecutionProviderName;
  readonly failures: readonly ProviderFailure[];
  readonly loadMs: number;
}

export interface RunResult {
  /** Transferred from the worker. */
  readonly data: unknown;
  readonly type: string;
  /** The request's input buffer, handed back for the next run. */
  readonly input?: ArrayBuffer;
}

/** A GatewayError (or any error) as it crosses the thread boundary. */
export interface WorkerError {
  readonly code: string;
  readonly message: string;
  readonly details?: Record<string, unknown> | undefined;
}

export type WorkerResponse =
  | { readonly type: 'result'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly type: 'result'; readonly id: number; readonly ok: false; readonly error: WorkerError }
  /** A log line of the worker, written by the main thread's logger. */
  | {
      readonly type: 'log';
      readonly level: 'info' | 'warn';
      readonly fields: Record<string, unknown>;
      readonly message: string;
    };
