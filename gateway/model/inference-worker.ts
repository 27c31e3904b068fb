import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { errorCode, errorMessage, GatewayError } from '../observability/errors.ts';
import type { SessionLogger } from './session.ts';
import { openTarget, targetIo } from './session-targets.ts';
import type { OpenResult, RunResult, WorkerRequest, WorkerResponse } from './worker-protocol.ts';

/*
 * The inference worker's entry: the encoders' and the cameras' pose models' onnxruntime
 * sessions live here, so their synchronous native runs block this thread instead of the
 * gateway's event loop. One request at a time, in arrival order (onnxruntime-node runs synchronously, so a run occupies the
 * thread until it returns). Started by inference-thread.ts.
 */

interface Loaded {
  readonly session: ort.InferenceSession;
  readonly inputName: string;
  readonly outputName: string;
}

const port = parentPort;
if (!port) throw new Error('inference-worker.ts runs as a worker thread (inference-thread.ts starts it)');

const sessions = new Map<number, Loaded>();

const post = (message: WorkerResponse, transfer: ArrayBuffer[] = []): void =>
  port.postMessage(message, transfer);

/** Provider refusals are logged by the main thread's logger, with the same fields. */
const logger: SessionLogger = {
  info: ((fields: Record<string, unknown>, message: string) =>
    post({ type: 'log', level: 'info', fields, message })) as SessionLogger['info'],
  warn: ((fields: Record<string, unknown>, message: string) =>
    post({ type: 'log', level: 'warn', fields, message })) as SessionLogger['warn'],
};

async function handle(request: WorkerRequest): Promise<{ value: unknown; transfer?: ArrayBuffer[] }> {
  switch (request.type) {
    case 'open': {
      const opened = await openTarget(request.bytes, request.target, {
        providers: request.providers,
        intraOpThreads: request.intraOpThreads,
        logger,
      });
      sessions.set(request.session, { session: opened.session, ...targetIo(request.target) });
      const value: OpenResult = {
        provider: opened.provider,
        failures: opened.failures,
        loadMs: opened.loadMs,
      };
      return { value };
    }
    case 'run': {
      const loaded = sessions.get(request.session);
      if (!loaded) {
        throw new GatewayError(
          'MODEL_WORKER_NO_SESSION',
          `inference worker has no session ${request.session} (released, or opened in a worker that exited)`,
        );
      }
      const tensor = new ort.Tensor('float32', request.input, [...request.dims]);
      const results = await loaded.session.run({ [loaded.inputName]: tensor }, [loaded.outputName]);
      const output = results[loaded.outputName];
      const data = output?.data;
      // The input buffer goes back to carry the next batch; the output tensor's buffer belongs
      // to this run alone: both handed over, not copied.
      const carrier = request.input.buffer as ArrayBuffer;
      const value: RunResult = { data, type: output?.type ?? 'none', input: carrier };
      const transfer = [carrier];
      if (ArrayBuffer.isView(data) && data.buffer instanceof ArrayBuffer && data.buffer !== carrier)
        transfer.push(data.buffer);
      return { value, transfer };
    }
    case 'release': {
      const loaded = sessions.get(request.session);
      sessions.delete(request.session);
      await loaded?.session.release();
      return { value: null };
    }
  }
}

port.on('message', (request: WorkerRequest) => {
  handle(request).then(
    ({ value, transfer }) => {
      try {
        post({ type: 'result', id: request.id, ok: true, value }, transfer);
      } catch {
        // A buffer onnxruntime would not let go of (not detachable) is copied instead.
        post({ type: 'result', id: request.id, ok: true, value });
      }
    },
    (err: unknown) => {
      const error = { code: errorCode(err), message: errorMessage(err) };
      const details = err instanceof GatewayError ? err.details : undefined;
      try {
        post({ type: 'result', id: request.id, ok: false, error: { ...error, details } });
      } catch {
        // Details that cannot be cloned must not leave the request unanswered.
        post({ type: 'result', id: request.id, ok: false, error });
      }
    },
  );
});
