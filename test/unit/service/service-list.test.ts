import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServiceList, type Service } from '../../../gateway/service.ts';

function recording(log: string[], name: string, fail: { start?: boolean; stop?: boolean } = {}): Service {
  return {
    name,
    start: async () => {
      log.push(`start ${name}`);
      if (fail.start) throw new Error(`${name} start`);
    },
    stop: () => {
      log.push(`stop ${name}`);
      if (fail.stop) throw new Error(`${name} stop`);
    },
  };
}

describe('ServiceList', () => {
  it('starts in order and stops in reverse, once', async () => {
    const log: string[] = [];
    const list = new ServiceList(['a', 'b', 'c'].map((n) => recording(log, n)));
    await list.start();
    await list.stop();
    await list.stop();
    assert.deepEqual(log, ['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });

  it('a start that fails stops what started, the failed one included, and nothing after it', async () => {
    const log: string[] = [];
    const list = new ServiceList([
      recording(log, 'a'),
      recording(log, 'b', { start: true }),
      recording(log, 'c'),
    ]);
    await assert.rejects(list.start(), /b start/);
    await list.stop();
    assert.deepEqual(log, ['start a', 'start b', 'stop b', 'stop a']);
  });

  it('a stop that fails does not keep the others running; the first failure is rethrown', async () => {
    const log: string[] = [];
    const list = new ServiceList([recording(log, 'a', { stop: true }), recording(log, 'b', { stop: true })]);
    await list.start();
    await assert.rejects(list.stop(), /b stop/);
    assert.deepEqual(log, ['start a', 'start b', 'stop b', 'stop a']);
  });
});
