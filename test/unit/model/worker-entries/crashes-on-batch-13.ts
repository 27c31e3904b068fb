import { parentPort } from 'node:worker_threads';
import type { WorkerRequest } from '../../../../gateway/model/worker-protocol.ts';

/*
 * The real inference worker, except that a run of a batch of 13 throws an uncaught exception
 * on the worker thread (as a crash in a native kernel would end it): the parent sees 'error',
 * then 'exit'. Every other request is answered by the real worker.
 */
await import('../../../../gateway/model/inference-worker.ts');

export const POISON_BATCH = 13;

parentPort?.on('message', (request: WorkerRequest) => {
  if (request.type === 'run' && request.dims[0] === POISON_BATCH)
    throw new Error(`kernel crashed on a batch of ${POISON_BATCH} (test entry)`);
});
