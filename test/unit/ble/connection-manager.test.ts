import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BleDeviceConfig } from '../../../gateway/sources/ble/options.ts';
import { createHarness, type Harness } from '../../fakes/noble/harness.ts';
import { PolarSim, WitMotionSim } from '../../fakes/noble/sim-devices.ts';

const witConfig = (id: string, uuid: string, extra: Partial<BleDeviceConfig> = {}): BleDeviceConfig => ({
  id,
  address: (uuid.match(/.{2}/g) ?? []).join(':'),
  family: 'witmotion',
  placement: 'wrist',
  subject: 'alice',
  rateHz: 50,
  ...extra,
});

async function stop(h: Harness): Promise<void> {
  const done = h.source.stop();
  await h.timers.advance(15_000);
  await done;
}

/** Records the virtual time of every LE connection attempt noble sends to the bindings. */
function recordConnects(h: Harness): Map<string, number[]> {
  const calls = new Map<string, number[]>();
  const original = h.bindings.connect.bind(h.bindings);
  h.bindings.connect = (uuid: string) => {
    let list = calls.get(uuid);
    if (!list) calls.set(uuid, (list = []));
    list.push(h.timers.now());
    original(uuid);
  };
  return calls;
}

describe('connection manager', () => {
  it('retries a refusing device with exponential backoff and jitter, so devices failing together retry apart', async () => {
    const h = createHarness(
      { devices: [witConfig('w1', 'aa0000000001'), witConfig('w2', 'aa0000000002')] },
      {
        seed: 21,
        fake: { controllerMaxConnections: 0 },
        manager: { backoff: { initialMs: 500, maxMs: 8000, factor: 2, jitter: 0.3 } },
      },
    );
    h.bindings.addDevice(new WitMotionSim({ uuid: 'aa0000000001' }));
    h.bindings.addDevice(new WitMotionSim({ uuid: 'aa0000000002' }));
    const calls = recordConnects(h);
    await h.source.start();
    await h.timers.advance(60_000);
    const a = calls.get('aa0000000001') ?? [];
    assert.ok(a.length >= 7, `attempts: ${a.length}`);
    const gaps = a.slice(1).map((t, i) => t - a[i]!);
    for (let i = 0; i < gaps.length; i++) {
      const nominal = Math.min(8000, 500 * 2 ** i);
      // Jitter ±30 %, plus the connect itself (≤ 250 ms), waiting for an advertisement (≤ 200 ms) and the tick (250 ms).
      assert.ok(gaps[i]! >= nominal * 0.7, `gap ${i} = ${gaps[i]} < ${nominal * 0.7}`);
      assert.ok(gaps[i]! <= nominal * 1.3 + 800, `gap ${i} = ${gaps[i]} > ${nominal * 1.3 + 800}`);
    }
    const b = calls.get('aa0000000002') ?? [];
    const lockstep = b.slice(1).filter((t, i) => Math.abs(t - b[i]! - gaps[i]!) < 1).length;
    assert.ok(lockstep < gaps.length / 2, 'the two devices do not retry in lockstep');
    const status = h.source.statuses().find((s) => s.key === 'w1')!;
    assert.equal(status.lastError?.code, 'BLE_CONNECT_FAILED');
    assert.equal(h.health.get('ble')?.status, 'degraded');
    await stop(h);
  });

  it('the stall watchdog reconnects a silent stream after a few notification intervals', async () => {
    const h = createHarness(
      { devices: [witConfig('w1', 'aa0000000001', { rateHz: 100 })] },
      { seed: 2, manager: { stallPeriods: 5, minStallMs: 1000, maxStallMs: 4000 } },
    );
    const sim = new WitMotionSim({ uuid: 'aa0000000001' });
    h.bindings.addDevice(sim);
    const times: number[] = [];
    h.source.chunks$.subscribe(() => times.push(h.timers.now()));
    await h.source.start();
    await h.timers.advance(5000);
    h.bindings.stall(sim.uuid);
    const stalledAt = h.timers.now();
    await h.timers.advance(10_000);
    const resumed = times.find((t) => t > stalledAt)!;
    // 100 Hz → 10 ms notifications; 5 periods is below the 1 s floor, so ~1 s + tick + reconnect.
    assert.ok(
      resumed - stalledAt >= 1000 && resumed - stalledAt < 2500,
      `resumed after ${resumed - stalledAt} ms`,
    );
    const status = h.source.statuses()[0]!;
    assert.equal(status.connected, true);
    assert.equal(status.stalls, 1);
    assert.equal(status.reconnects, 1);
    await stop(h);
  });

  it('ignores devices below the RSSI floor', async () => {
    const h = createHarness(
      { devices: [witConfig('near', 'aa0000000001'), witConfig('far', 'aa0000000002')], rssiFloor: -80 },
      { seed: 4 },
    );
    h.bindings.addDevice(new WitMotionSim({ uuid: 'aa0000000001', rssi: -60 }));
    h.bindings.addDevice(new WitMotionSim({ uuid: 'aa0000000002', rssi: -95 }));
    await h.source.start();
    await h.timers.advance(10_000);
    const byKey = Object.fromEntries(h.source.statuses().map((s) => [s.key, s]));
    assert.equal(byKey['near']!.connected, true);
    assert.equal(byKey['far']!.connected, false);
    assert.equal(h.bindings.isConnected('aa0000000002'), false);
    await stop(h);
  });

  it('adds, re-assigns and removes devices at runtime; removal stops the stream and drops the link', async () => {
    const h = createHarness({ devices: [] }, { seed: 8 });
    h.bindings.addDevice(new PolarSim({ uuid: 'bb0000000001', model: 'h10' }));
    await h.source.start();
    await h.timers.advance(1000);
    assert.throws(
      () =>
        h.source.addDevice({ address: 'bb:00:00:00:00:01', family: 'nope', placement: 'chest', rateHz: 50 }),
      { code: 'BLE_UNKNOWN_FAMILY', message: /nope/ },
    );
    const id = h.source.addDevice({
      address: 'bb:00:00:00:00:01',
      family: 'polar-pmd',
      placement: 'chest',
      subject: 'bob',
      rateHz: 100,
    });
    assert.equal(id, 'ble-bb0000000001');
    assert.throws(
      () =>
        h.source.addDevice({
          address: 'bb:00:00:00:00:01',
          family: 'polar-pmd',
          placement: 'chest',
          rateHz: 100,
        }),
      { code: 'BLE_DUPLICATE_DEVICE' },
    );
    await h.timers.advance(5000);
    assert.equal(h.chunks.get(id)?.at(-1)?.subjectId, 'bob');
    h.source.assign(id, { subject: 'carol', placement: 'wrist' });
    await h.timers.advance(1000);
    const last = h.chunks.get(id)!.at(-1)!;
    assert.equal(last.subjectId, 'carol');
    assert.equal(last.placement, 'wrist');
    assert.deepEqual(h.source.deviceConfigs()[0], {
      address: 'bb:00:00:00:00:01',
      family: 'polar-pmd',
      id,
      rateHz: 100,
      subject: 'carol',
      placement: 'wrist',
    });
    const state = h.source.devices()[0]!;
    assert.equal(state.connected, true);
    assert.equal(state.subject, 'carol');
    assert.equal(state.battery, 87);
    assert.ok(state.rateHz !== null && Math.abs(state.rateHz - 100) < 3, `rate ${state.rateHz}`);

    const removing = h.source.removeDevice(id);
    await h.timers.advance(3000);
    assert.equal(await removing, true);
    assert.equal(h.bindings.isConnected('bb0000000001'), false);
    assert.equal(h.source.devices().length, 0);
    await stop(h);
  });

  it('auto-detects unconfigured devices of supported families (above the RSSI floor) and leaves others alone', async () => {
    const h = createHarness(
      { devices: [witConfig('known', 'aa0000000001')], autoDetect: true, rssiFloor: -85 },
      { seed: 12 },
    );
    h.bindings.addDevice(new WitMotionSim({ uuid: 'aa0000000001' }));
    h.bindings.addDevice(new PolarSim({ uuid: 'bb0000000002', model: 'h10' }));
    h.bindings.addDevice(new PolarSim({ uuid: 'bb0000000003', model: 'verity', rssi: -97 }));
    await h.source.start();
    await h.timers.advance(10_000);
    const configs = h.source.deviceConfigs();
    assert.deepEqual(
      configs.map((c) => [c.id, c.family]),
      [
        ['known', 'witmotion'],
        ['ble-bb0000000002', 'polar-pmd'],
      ],
    );
    const auto = h.source.devices().find((d) => d.device === 'ble-bb0000000002')!;
    assert.equal(auto.connected, true);
    assert.equal(auto.subject, null, 'unassigned until a subject is set');
    assert.ok((h.chunks.get('ble-bb0000000002')?.length ?? 0) > 0);
    assert.equal(h.chunks.get('ble-bb0000000002')![0]!.subjectId, undefined);
    await stop(h);
  });
});
