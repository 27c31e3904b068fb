/**
 * Device states are re-evaluated on the injected timers: a device that stops sending is
 * reported disconnected at the first tick past its silence limit, an unknown device is
 * forgotten after its idle timeout, and a stopped ticker leaves no timer armed. Runs on
 * virtual time, so minutes of silence take milliseconds and nothing depends on the machine's load.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEVICE_TICK_MS, DeviceTicker } from '../../../gateway/devices/device-states.ts';
import { DeviceTracker } from '../../../gateway/devices/device-tracker.ts';
import type { DeviceState } from '../../../gateway/domain/events.ts';
import type { ImuChunk } from '../../../gateway/domain/samples.ts';
import { VirtualTimers } from '../../fakes/virtual-timers.ts';

function chunk(sourceId: string, startNs: number): ImuChunk {
  const n = 5;
  const tNs = Float64Array.from({ length: n }, (_, i) => startNs + i * 20e6);
  return { modality: 'imu', sourceId, tNs, values: new Float32Array(6 * n) };
}

function setup(): {
  timers: VirtualTimers;
  tracker: DeviceTracker;
  states: DeviceState[];
  expired: string[];
} {
  const timers = new VirtualTimers();
  const expired: string[] = [];
  const tracker = new DeviceTracker({
    gateway: 'gw',
    clock: timers.clock,
    silentAfterMs: 5000,
    unknown: { maxTracked: 4, idleTimeoutMs: 60_000, publishState: true },
    onUnknown: (outcome) => expired.push(outcome),
  });
  const states: DeviceState[] = [];
  tracker.states$.subscribe((s) => states.push(s));
  return { timers, tracker, states, expired };
}

describe('DeviceTicker on virtual timers', () => {
  it('reports a silent device disconnected at the first tick past its silence limit', async () => {
    const { timers, tracker, states } = setup();
    tracker.register({ id: 'wrist', kind: 'imu', subjectId: 's1', sourceIds: ['wrist'] });
    const ticker = new DeviceTicker(tracker, timers);
    ticker.start();
    assert.deepEqual(
      states.map((s) => s.connected),
      [false],
      'start evaluates at once',
    );
    tracker.observe(chunk('wrist', timers.clock.nowNs()));
    assert.equal(states.at(-1)?.connected, true);

    await timers.advance(DEVICE_TICK_MS - 1);
    assert.equal(states.length, 2, 'no tick before DEVICE_TICK_MS');
    await timers.advance(1);
    assert.equal(states.length, 3);
    assert.equal(states.at(-1)?.connected, false, '5 s of silence at the tick: disconnected');

    tracker.observe(chunk('wrist', timers.clock.nowNs()));
    await timers.advance(DEVICE_TICK_MS - 1);
    tracker.observe(chunk('wrist', timers.clock.nowNs()));
    await timers.advance(1);
    assert.equal(states.at(-1)?.connected, true, 'data within the limit keeps it connected');

    ticker.stop();
    assert.equal(timers.pending, 0, 'a stopped ticker leaves no timer armed');
    const count = states.length;
    await timers.advance(10 * DEVICE_TICK_MS);
    assert.equal(states.length, count, 'no tick after stop');
  });

  it('forgets an unknown device after its idle timeout, at a tick', async () => {
    const { timers, tracker, expired } = setup();
    assert.equal(
      tracker.registerUnknown({ id: 'phone', kind: 'imu', subjectId: null, sourceIds: ['phone'] }),
      true,
    );
    const ticker = new DeviceTicker(tracker, timers);
    ticker.start();
    await timers.advance(55_000);
    assert.equal(tracker.unknownTracked, 1);
    await timers.advance(DEVICE_TICK_MS);
    assert.equal(tracker.unknownTracked, 0);
    assert.deepEqual(expired, ['tracked', 'expired']);
    ticker.stop();
  });
});
