/**
 * The timer helpers every source and sink uses, on virtual time: a periodic task runs once per
 * period and stops for good when cancelled (also from inside itself), settlesWithin tells a
 * promise that settled in time from one that did not, and sleep can be aborted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { repeat, settlesWithin, sleep } from '../../../gateway/clock/timers.ts';
import { VirtualTimers } from '../../fakes/virtual-timers.ts';

describe('clock/timers helpers', () => {
  it('repeat runs once per period until cancelled, and leaves no timer armed', async () => {
    const timers = new VirtualTimers();
    const runs: number[] = [];
    const task = repeat(timers, 250, () => runs.push(timers.now()));
    await timers.advance(249);
    assert.deepEqual(runs, []);
    await timers.advance(751);
    assert.deepEqual(runs, [250, 500, 750, 1000]);
    task.cancel();
    assert.equal(timers.pending, 0);
    await timers.advance(1000);
    assert.equal(runs.length, 4);
  });

  it('repeat can be cancelled from inside its task, and keeps its period when the task throws', async () => {
    const timers = new VirtualTimers();
    let runs = 0;
    const task = repeat(timers, 100, () => {
      if (++runs === 3) task.cancel();
    });
    await timers.advance(1000);
    assert.equal(runs, 3);
    assert.equal(timers.pending, 0);

    const failing: number[] = [];
    const uncaught: unknown[] = [];
    const originalSetTimeout = timers.setTimeout.bind(timers);
    // A throwing task must not stop the schedule: the next run is armed before the error escapes.
    timers.setTimeout = (fn, ms) =>
      originalSetTimeout(() => {
        try {
          fn();
        } catch (err) {
          uncaught.push(err);
        }
      }, ms);
    const flaky = repeat(timers, 100, () => {
      failing.push(timers.now());
      throw new Error('tick failed');
    });
    await timers.advance(300);
    flaky.cancel();
    assert.equal(failing.length, 3);
    assert.equal(uncaught.length, 3);
  });

  it('settlesWithin: true when the promise settles in time (rejections too), false when the time runs out', async () => {
    const timers = new VirtualTimers();
    let release!: () => void;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const late = settlesWithin(timers, slow, 1000);
    await timers.advance(1000);
    assert.equal(await late, false);
    const inTime = settlesWithin(timers, slow, 1000);
    release();
    assert.equal(await inTime, true);
    assert.equal(await settlesWithin(timers, Promise.reject(new Error('no')), 1000), true);
    assert.equal(timers.pending, 0, 'the timeout is cleared once the promise settles');
  });

  it('sleep resolves after its time and rejects with the reason when aborted', async () => {
    const timers = new VirtualTimers();
    let woke = false;
    const nap = sleep(timers, 500).then(() => (woke = true));
    await timers.advance(499);
    assert.equal(woke, false);
    await timers.advance(1);
    await nap;
    assert.equal(woke, true);
    const controller = new AbortController();
    const aborted = sleep(timers, 500, controller.signal);
    controller.abort(new Error('stopping'));
    await assert.rejects(aborted, /stopping/);
    assert.equal(timers.pending, 0);
  });
});
