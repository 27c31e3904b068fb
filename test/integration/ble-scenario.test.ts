import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BleDeviceConfig } from '../../gateway/sources/ble/options.ts';
import { createHarness, seeded, type Harness } from '../fakes/noble/harness.ts';
import { PolarSim, ThingySim, WitMotionSim } from '../fakes/noble/sim-devices.ts';
import type { SimDevice } from '../fakes/noble/fake-bindings.ts';

/*
 * Scenario proofs on virtual time: the real noble (with-bindings) over fake bindings that
 * simulate ten wearables of three families, each speaking its vendor's byte format.
 */

interface Fleet {
  readonly configs: BleDeviceConfig[];
  readonly sims: SimDevice[];
  readonly nominalHz: Map<string, number>;
}

function fleet(): Fleet {
  const configs: BleDeviceConfig[] = [];
  const sims: SimDevice[] = [];
  const nominalHz = new Map<string, number>();
  const add = (
    id: string,
    family: string,
    rateHz: number,
    sim: SimDevice,
    placement: BleDeviceConfig['placement'],
  ): void => {
    configs.push({
      id,
      address: sim.address,
      family,
      placement,
      subject: `s${(configs.length % 4) + 1}`,
      rateHz,
    });
    sims.push(sim);
    nominalHz.set(id, rateHz);
  };
  const uuid = (i: number): string => `c0ffee0000${i.toString(16).padStart(2, '0')}`;
  add('h10-a', 'polar-pmd', 200, new PolarSim({ uuid: uuid(1), model: 'h10', driftPpm: 35 }), 'chest');
  add('h10-b', 'polar-pmd', 100, new PolarSim({ uuid: uuid(2), model: 'h10', driftPpm: -20 }), 'chest');
  add('h10-c', 'polar-pmd', 50, new PolarSim({ uuid: uuid(3), model: 'h10', driftPpm: 60 }), 'chest');
  add(
    'sense-a',
    'polar-pmd',
    52,
    new PolarSim({ uuid: uuid(4), model: 'verity', driftPpm: -45 }),
    'upper_arm',
  );
  add(
    'sense-b',
    'polar-pmd',
    52,
    new PolarSim({ uuid: uuid(5), model: 'verity', driftPpm: 10 }),
    'upper_arm',
  );
  add('wit-a', 'witmotion', 50, new WitMotionSim({ uuid: uuid(6), driftPpm: 80 }), 'wrist');
  add('wit-b', 'witmotion', 100, new WitMotionSim({ uuid: uuid(7), driftPpm: -70 }), 'wrist');
  add('wit-c', 'witmotion', 200, new WitMotionSim({ uuid: uuid(8), driftPpm: 15 }), 'thigh');
  add('thingy-a', 'thingy52', 100, new ThingySim({ uuid: uuid(9), driftPpm: 25 }), 'ankle');
  add('thingy-b', 'thingy52', 200, new ThingySim({ uuid: uuid(10), driftPpm: -5 }), 'ankle');
  return { configs, sims, nominalHz };
}

/** Virtual-time instants at which each device's chunks were emitted. */
function chunkTimes(h: Harness): Map<string, number[]> {
  const times = new Map<string, number[]>();
  h.source.chunks$.subscribe((c) => {
    let list = times.get(c.sourceId);
    if (!list) times.set(c.sourceId, (list = []));
    list.push(h.timers.now());
  });
  return times;
}

function firstAfter(list: readonly number[] | undefined, t: number): number | undefined {
  return list?.find((x) => x > t);
}

/** stop() runs stop sequences and disconnects, which take (virtual) radio time. */
async function stopOnVirtualTime(h: Harness): Promise<void> {
  const done = h.source.stop();
  await h.timers.advance(15_000);
  await done;
}

function streamingCount(h: Harness): number {
  return h.source.statuses().filter((s) => s.connected).length;
}

async function metric(h: Harness, name: string): Promise<number> {
  const m = (await h.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []).reduce((a, v) => a + Number(v.value), 0);
}

describe('BLE scenario (real noble over fake bindings, virtual time)', () => {
  it('10 mixed devices stream for 3 simulated minutes; after random disconnects, outages and stalls each streams again within 5 s of being reachable', async () => {
    const f = fleet();
    const h = createHarness(
      { devices: f.configs, maxConnections: 10, connectTimeoutMs: 3000 },
      { seed: 7, keepChunks: true },
    );
    for (const s of f.sims) h.bindings.addDevice(s);
    const times = chunkTimes(h);
    await h.source.start();
    await h.timers.advance(8000);
    assert.equal(
      streamingCount(h),
      10,
      `all streaming: ${JSON.stringify(h.source.statuses().map((s) => [s.key, s.phase, s.lastError]))}`,
    );

    const rnd = seeded(99);
    interface Fault {
      device: string;
      kind: 'drop' | 'outage' | 'stall';
      at: number;
      reachableAt: number;
    }
    const faults: Fault[] = [];
    const busyUntil = new Map<string, number>();
    const endMs = h.timers.now() + 180_000;
    while (h.timers.now() < endMs - 15_000) {
      await h.timers.advance(1500 + rnd() * 2500);
      const now = h.timers.now();
      const free = f.configs.filter((c) => (busyUntil.get(c.id!) ?? 0) < now);
      const cfg = free[Math.floor(rnd() * free.length)];
      if (!cfg) continue;
      const sim = f.sims[f.configs.indexOf(cfg)]!;
      const r = rnd();
      if (r < 0.4) {
        h.bindings.dropLink(sim.uuid);
        faults.push({ device: cfg.id!, kind: 'drop', at: now, reachableAt: now });
        busyUntil.set(cfg.id!, now + 6000);
      } else if (r < 0.7) {
        h.bindings.stall(sim.uuid);
        faults.push({ device: cfg.id!, kind: 'stall', at: now, reachableAt: now });
        busyUntil.set(cfg.id!, now + 6000);
      } else {
        const outage = 2000 + rnd() * 8000;
        h.bindings.setReachable(sim.uuid, false);
        faults.push({ device: cfg.id!, kind: 'outage', at: now, reachableAt: now + outage });
        busyUntil.set(cfg.id!, now + outage + 6000);
        h.timers.setTimeout(() => h.bindings.setReachable(sim.uuid, true), outage);
      }
    }
    await h.timers.advance(endMs - h.timers.now());

    assert.ok(faults.length >= 40, `enough faults injected: ${faults.length}`);
    const recoveries: number[] = [];
    for (const fault of faults) {
      const resumed = firstAfter(times.get(fault.device), fault.reachableAt);
      assert.ok(
        resumed !== undefined,
        `${fault.device} never streamed again after ${fault.kind} at ${fault.at}`,
      );
      const took = resumed - fault.reachableAt;
      recoveries.push(took);
      assert.ok(
        took <= 5000,
        `${fault.device} took ${took} ms to stream again after ${fault.kind} at ${fault.at} ms`,
      );
    }
    assert.equal(streamingCount(h), 10);

    // The watchdog caught every stall (and nothing else), and every drop counted as a reconnect.
    const stalls = faults.filter((x) => x.kind === 'stall').length;
    assert.equal(await metric(h, 'mujo_ble_stalls_total'), stalls);
    assert.ok((await metric(h, 'mujo_ble_reconnects_total')) >= faults.length);
    assert.equal(await metric(h, 'mujo_ble_decode_errors_total'), 0);

    // Time never runs backwards, and each device delivers close to its rate over the run.
    for (const cfg of f.configs) {
      const list = h.chunks.get(cfg.id!) ?? [];
      let last = -Infinity;
      let n = 0;
      for (const c of list) {
        for (const t of c.tNs) {
          assert.ok(t > last, `${cfg.id}: time went backwards`);
          last = t;
        }
        n += c.tNs.length;
        assert.equal(c.values.length, c.tNs.length * 6);
        assert.equal(c.subjectId, cfg.subject);
        assert.equal(c.placement, cfg.placement);
      }
      const expected = (f.nominalHz.get(cfg.id!)! * (endMs - 8000)) / 1000;
      assert.ok(
        n > 0.85 * expected && n < 1.05 * expected,
        `${cfg.id}: ${n} samples vs ~${Math.round(expected)}`,
      );
    }
    const worst = Math.max(...recoveries);
    console.log(
      `# ${faults.length} faults, recovery p50 ${recoveries.sort((a, b) => a - b)[recoveries.length >> 1]} ms, worst ${worst} ms, fake links max ${h.bindings.stats.maxConcurrentLinks}`,
    );
    await stopOnVirtualTime(h);
    assert.equal(h.timers.pending - h.bindings.pendingTimers, 0, 'no gateway timer left after stop');
  });

  it('the connection limit holds, one connection attempt at a time, and freed slots go to waiting devices', async () => {
    const f = fleet();
    const h = createHarness({ devices: f.configs, maxConnections: 4 }, { seed: 3, keepChunks: false });
    for (const s of f.sims) h.bindings.addDevice(s);
    await h.source.start();
    await h.timers.advance(20_000);
    assert.equal(streamingCount(h), 4);
    assert.equal(h.bindings.links, 4);
    const streaming = h.source
      .statuses()
      .filter((s) => s.connected)
      .map((s) => s.key);
    for (const key of streaming.slice(0, 2))
      h.bindings.setReachable(f.sims[f.configs.findIndex((c) => c.id === key)]!.uuid, false);
    const lostAt = h.timers.now();
    let refilledAt: number | undefined;
    for (let t = 0; t < 10_000 && refilledAt === undefined; t += 100) {
      await h.timers.advance(100);
      const now = h.source
        .statuses()
        .filter((s) => s.connected)
        .map((s) => s.key);
      if (now.length === 4 && !now.includes(streaming[0]!) && !now.includes(streaming[1]!))
        refilledAt = h.timers.now();
    }
    assert.ok(
      refilledAt !== undefined && refilledAt - lostAt <= 5000,
      `slots refilled after ${refilledAt! - lostAt} ms`,
    );
    await h.timers.advance(30_000);
    assert.ok(
      h.bindings.stats.maxConcurrentLinks <= 4,
      `links peaked at ${h.bindings.stats.maxConcurrentLinks}`,
    );
    assert.ok(
      h.bindings.stats.maxPendingConnects <= 1,
      `pending connects peaked at ${h.bindings.stats.maxPendingConnects}`,
    );
    assert.ok(h.source.manager!.maxLinksSeen <= 4);
    await stopOnVirtualTime(h);
  });

  it('recovers every device after the adapter powers off and on, and after the controller wedges', async () => {
    const f = fleet();
    const h = createHarness({ devices: f.configs, maxConnections: 10 }, { seed: 11, keepChunks: false });
    for (const s of f.sims) h.bindings.addDevice(s);
    const times = chunkTimes(h);
    await h.source.start();
    await h.timers.advance(10_000);
    assert.equal(streamingCount(h), 10);

    h.bindings.powerOff();
    await h.timers.advance(5000);
    assert.equal(h.health.get('ble')?.status, 'down');
    assert.equal(streamingCount(h), 0);
    h.bindings.powerOn();
    const onAt = h.timers.now();
    await h.timers.advance(15_000);
    assert.equal(streamingCount(h), 10);
    for (const c of f.configs) {
      const t = firstAfter(times.get(c.id!), onAt);
      assert.ok(t !== undefined && t - onAt < 10_000, `${c.id} back ${t! - onAt} ms after power-on`);
    }
    assert.equal(h.health.get('ble')?.status, 'up');

    // Wedged controller: nothing answers, no data flows; the stall watchdog's disconnects time
    // out, which marks the adapter unresponsive → HCI reset → everything reconnects.
    h.bindings.wedge();
    const wedgedAt = h.timers.now();
    await h.timers.advance(40_000);
    assert.ok(h.bindings.stats.resets >= 1, 'the adapter was reset');
    assert.equal(await metric(h, 'mujo_ble_adapter_resets_total'), h.bindings.stats.resets);
    assert.equal(streamingCount(h), 10);
    for (const c of f.configs) {
      const t = firstAfter(times.get(c.id!), wedgedAt);
      assert.ok(t !== undefined, `${c.id} streams again after the wedge`);
    }
    await stopOnVirtualTime(h);
  });

  it('leaks no listeners or timers over 1,000 reconnects and two adapter resets', async () => {
    const f = fleet();
    const pick = [0, 3, 5, 8]; // H10, Verity Sense, WitMotion, Thingy
    const h = createHarness(
      { devices: pick.map((i) => f.configs[i]!), maxConnections: 4 },
      { seed: 5, keepChunks: false },
    );
    for (const i of pick) h.bindings.addDevice(f.sims[i]!);
    await h.source.start();
    await h.timers.advance(5000);
    assert.equal(streamingCount(h), 4);
    const adapter = h.source.adapter!;
    const baseline = {
      listeners: adapter.listenerCounts(),
      timers: h.timers.pending - h.bindings.pendingTimers,
      bindings: h.bindings
        .eventNames()
        .map((e) => h.bindings.listenerCount(e))
        .reduce((a, b) => a + b, 0),
    };
    const rnd = seeded(1234);
    for (let i = 0; i < 1000; i++) {
      const sim = f.sims[pick[Math.floor(rnd() * pick.length)]!]!;
      const kind = rnd();
      if (kind < 0.8) h.bindings.dropLink(sim.uuid);
      else h.bindings.stall(sim.uuid);
      await h.timers.advance(kind < 0.8 ? 700 : 2500);
    }
    // Twice a wedged controller: every pending operation times out and the adapter is reset.
    for (let i = 0; i < 2; i++) {
      h.bindings.wedge();
      await h.timers.advance(30_000);
    }
    assert.ok(h.bindings.stats.resets >= 2);
    await h.timers.advance(5000);
    assert.equal(streamingCount(h), 4);
    const reconnects = await metric(h, 'mujo_ble_reconnects_total');
    assert.ok(reconnects >= 1000, `reconnects: ${reconnects}`);
    assert.deepEqual(adapter.listenerCounts(), baseline.listeners);
    assert.equal(h.timers.pending - h.bindings.pendingTimers, baseline.timers);
    assert.equal(
      h.bindings
        .eventNames()
        .map((e) => h.bindings.listenerCount(e))
        .reduce((a, b) => a + b, 0),
      baseline.bindings,
    );
    console.log(
      `# ${reconnects} reconnects; listeners ${JSON.stringify(baseline.listeners)}, gateway timers ${baseline.timers}`,
    );
    await stopOnVirtualTime(h);
    assert.equal(h.timers.pending - h.bindings.pendingTimers, 0);
  });
});
