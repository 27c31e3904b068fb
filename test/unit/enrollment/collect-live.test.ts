/**
 * Live enrollment collects a subject's windows over an interval of data time and ends when
 * every contributing stream has moved past it; a subject whose windows stop arriving ends the
 * request at its timeout, with what arrived. The timeout runs on virtual timers here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Subject } from 'rxjs';
import type { WindowEmbedding } from '../../../gateway/domain/windows.ts';
import { collectLive } from '../../../gateway/enrollment/examples.ts';
import { VirtualTimers } from '../../fakes/virtual-timers.ts';

const S = 1e9;

function embedding(subjectId: string, sourceId: string, startS: number, lengthS = 2): WindowEmbedding {
  return {
    window: {
      subjectId,
      sourceId,
      modality: 'imu',
      encoder: 'imu',
      startNs: startS * S,
      endNs: (startS + lengthS) * S,
      closedAtNs: (startS + lengthS) * S,
      input: new Float32Array(0),
    } as WindowEmbedding['window'],
    vector: Float32Array.of(startS, 1),
    batchSize: 1,
    inferenceUs: 0,
  };
}

describe('collectLive', () => {
  it('ends at the timeout with what arrived when the windows stop', async () => {
    const timers = new VirtualTimers();
    const windows = new Subject<WindowEmbedding>();
    let settled = false;
    const result = collectLive(
      windows,
      { subject: 's1', seconds: 10, fromNs: 0, timeoutMs: 15_000 },
      timers,
    ).finally(() => (settled = true));
    windows.next(embedding('s1', 'wrist', 0));
    windows.next(embedding('s2', 'wrist', 1)); // another subject: not collected
    windows.next(embedding('s1', 'wrist', 1));
    await timers.advance(14_999);
    assert.equal(settled, false, 'still waiting for the interval to end');
    await timers.advance(1);
    const examples = await result;
    assert.deepEqual(
      examples.map((e) => e.vector[0]),
      [0, 1],
    );
    assert.equal(windows.observed, false, 'unsubscribed at the timeout');
  });

  it('ends as soon as every contributing stream is past the interval, and disarms its timeout', async () => {
    const timers = new VirtualTimers();
    const windows = new Subject<WindowEmbedding>();
    const result = collectLive(windows, { subject: 's1', seconds: 4, fromNs: 0, timeoutMs: 15_000 }, timers);
    windows.next(embedding('s1', 'wrist', 0));
    windows.next(embedding('s1', 'ankle', 1));
    windows.next(embedding('s1', 'wrist', 3)); // ends at 5 s: wrist is past the 4 s interval
    windows.next(embedding('s1', 'ankle', 2));
    windows.next(embedding('s1', 'ankle', 4));
    const examples = await result;
    assert.deepEqual(
      examples.map((e) => e.vector[0]),
      [0, 1, 2],
    );
    assert.equal(timers.pending, 0, 'the timeout is cleared');
  });
});
