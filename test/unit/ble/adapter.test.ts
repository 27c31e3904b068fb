import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, take, toArray } from 'rxjs';
import type { NobleBindings } from '@abandonware/noble/with-bindings';
import {
  openBleAdapter,
  parseAdapterName,
  resolveHciDeviceId,
  type BleAdapter,
} from '../../../gateway/sources/ble/adapter.ts';
import { FakeBindings } from '../../fakes/noble/fake-bindings.ts';
import { PolarSim } from '../../fakes/noble/sim-devices.ts';
import { PMD } from '../../fakes/noble/encoders.ts';
import { VirtualTimers } from '../../fakes/virtual-timers.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

async function setup(): Promise<{
  timers: VirtualTimers;
  bindings: FakeBindings;
  adapter: BleAdapter;
  sim: PolarSim;
}> {
  const timers = new VirtualTimers();
  const bindings = new FakeBindings({ timers, random: () => 0.5 });
  const sim = new PolarSim({ uuid: 'a1b2c3d4e5f6', model: 'verity' });
  bindings.addDevice(sim);
  const adapter = await openBleAdapter({
    bindings: bindings as unknown as NobleBindings,
    timers,
    opTimeoutMs: 1000,
    connectTimeoutMs: 2000,
  });
  await timers.advance(10);
  return { timers, bindings, adapter, sim };
}

/** Runs `p` while advancing virtual time until it settles. */
async function run<T>(timers: VirtualTimers, p: Promise<T>, maxMs = 10_000): Promise<T> {
  let settled = false;
  const guarded = p.finally(() => {
    settled = true;
  });
  guarded.catch(() => undefined);
  for (let t = 0; t < maxMs && !settled; t += 10) await timers.advance(10);
  return guarded;
}

describe('BLE adapter: HCI selection and lazy loading', () => {
  it('takes the adapter from config, else NOBLE_HCI_DEVICE_ID, else hci0; rejects malformed values', () => {
    assert.equal(parseAdapterName('hci1'), 1);
    assert.equal(parseAdapterName('2'), 2);
    assert.equal(parseAdapterName(undefined), undefined);
    assert.throws(() => parseAdapterName('usb0'), { code: 'BLE_BAD_ADAPTER' });
    assert.equal(resolveHciDeviceId(3, { NOBLE_HCI_DEVICE_ID: '1' }), 3);
    assert.equal(resolveHciDeviceId(undefined, { NOBLE_HCI_DEVICE_ID: '1' }), 1);
    assert.equal(resolveHciDeviceId(undefined, {}), 0);
    assert.throws(() => resolveHciDeviceId(undefined, { NOBLE_HCI_DEVICE_ID: 'hci1' }), {
      code: 'BLE_BAD_ADAPTER',
      message: /NOBLE_HCI_DEVICE_ID/,
    });
  });

  it('importing the BLE source does not load noble', () => {
    const script = `
      import { createRequire } from 'node:module';
      await import('./gateway/sources/ble/ble-source.ts');
      const cache = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify(cache.filter((k) => k.includes('@abandonware'))));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    assert.deepEqual(JSON.parse(out.trim().split('\n').pop() as string), []);
  });

  it('when noble is not installed (optional, no compiler at install), fails with BLE_NOBLE_MISSING saying what to install', async () => {
    // A package name Node really cannot resolve: the loader's own ERR_MODULE_NOT_FOUND.
    await assert.rejects(
      openBleAdapter({ hciDeviceId: 0, nobleModule: '@abandonware/noble-absent' }),
      (err: unknown) => {
        const e = err as { code: string; message: string };
        assert.equal(e.code, 'BLE_NOBLE_MISSING');
        assert.match(e.message, /not installed/);
        assert.match(e.message, /apt-get install build-essential python3 libbluetooth-dev libudev-dev/);
        assert.match(e.message, /npm install @abandonware\/noble/);
        return true;
      },
    );
  });

  it(
    'without injected bindings on a machine without Bluetooth, fails with BLE_UNAVAILABLE',
    { skip: process.env['MUJO_BLE_HARDWARE'] === '1' },
    async () => {
      await assert.rejects(openBleAdapter({ hciDeviceId: 0 }), { code: 'BLE_UNAVAILABLE', message: /hci0/ });
    },
  );
});

describe('BLE adapter over the real noble and fake bindings', () => {
  it('scans, connects, discovers, reads, writes and receives notifications; leaves no listeners behind', async () => {
    const { timers, bindings, adapter, sim } = await setup();
    assert.equal(adapter.state, 'poweredOn');
    const baseline = adapter.listenerCounts();
    const seen = await run(timers, firstValueFrom(adapter.scan()));
    assert.equal(seen.id, sim.uuid);
    assert.equal(seen.address, 'a1:b2:c3:d4:e5:f6');
    assert.match(seen.advertisement.localName ?? '', /^Polar Sense/);
    assert.deepEqual(seen.advertisement.serviceUuids, ['180d']);

    const conn = await run(timers, adapter.connect(sim.uuid));
    assert.equal(bindings.isConnected(sim.uuid), true);
    const profile = await run(timers, conn.discover([PMD.service, '180f']));
    assert.deepEqual([...profile.keys()].sort(), ['180f', PMD.service].sort());
    assert.deepEqual([...(await run(timers, conn.read('180f', '2a19')))], [87]);

    const frames = conn.notifications(PMD.service, PMD.data).pipe(take(3), toArray());
    const responses = firstValueFrom(conn.notifications(PMD.service, PMD.controlPoint));
    const framesP = firstValueFrom(frames);
    await run(timers, conn.setNotify(PMD.service, PMD.controlPoint, true));
    await run(timers, conn.setNotify(PMD.service, PMD.data, true));
    await run(
      timers,
      conn.write(
        PMD.service,
        PMD.controlPoint,
        Uint8Array.from([0x02, 0x02, 0x00, 0x01, 52, 0, 0x01, 0x01, 16, 0, 0x02, 0x01, 8, 0, 0x04, 0x01, 3]),
      ),
    );
    const response = await run(timers, responses);
    assert.deepEqual([...response.subarray(0, 4)], [0xf0, 0x02, 0x02, 0x00]);
    const got = await run(timers, framesP);
    assert.equal(got.length, 3);
    for (const f of got) assert.equal(f[0], PMD.measurement.acc);

    await run(timers, conn.disconnect());
    assert.equal(conn.isOpen, false);
    await assert.rejects(conn.read('180f', '2a19'), { code: 'BLE_DISCONNECTED' });
    assert.deepEqual(adapter.listenerCounts(), { ...baseline, gatt: 0 });
    adapter.close();
  });

  it('times out operations a wedged controller never answers, removes their listeners, and reports it unresponsive', async () => {
    const { timers, bindings, adapter, sim } = await setup();
    await run(timers, firstValueFrom(adapter.scan()));
    const conn = await run(timers, adapter.connect(sim.uuid));
    await run(timers, conn.discover([]));
    const baseline = adapter.listenerCounts();
    const unresponsive = firstValueFrom(adapter.unresponsive$);
    bindings.wedge();
    await assert.rejects(run(timers, conn.read('180f', '2a19')), { code: 'BLE_TIMEOUT' });
    await assert.rejects(run(timers, conn.updateRssi()), { code: 'BLE_TIMEOUT' });
    assert.deepEqual(adapter.listenerCounts(), baseline);
    await assert.rejects(run(timers, conn.write(PMD.service, PMD.controlPoint, Uint8Array.of(1, 2))), {
      code: 'BLE_TIMEOUT',
    });
    const u = await unresponsive;
    assert.equal(u.timeouts, 3);
    assert.deepEqual(adapter.listenerCounts(), baseline);
    // The cure: an HCI reset drops every link.
    adapter.reset();
    assert.equal(conn.isOpen, false);
    adapter.close();
  });

  it('a connection attempt to a device that went away times out and cancels cleanly', async () => {
    const { timers, bindings, adapter, sim } = await setup();
    await run(timers, firstValueFrom(adapter.scan()));
    const base = adapter.listenerCounts();
    bindings.setReachable(sim.uuid, false);
    await assert.rejects(run(timers, adapter.connect(sim.uuid)), { code: 'BLE_TIMEOUT' });
    assert.equal(bindings.pendingConnects, 0, 'the pending LE connection was cancelled');
    assert.deepEqual(adapter.listenerCounts(), base);
    bindings.setReachable(sim.uuid, true);
    const conn = await run(timers, adapter.connect(sim.uuid));
    assert.equal(conn.isOpen, true);
    adapter.close();
  });

  it('power-off ends every link (the HCI stack sends no disconnect) and scanning resumes at power-on', async () => {
    const { timers, bindings, adapter, sim } = await setup();
    await run(timers, firstValueFrom(adapter.scan()));
    const sub = adapter.scan().subscribe();
    const conn = await run(timers, adapter.connect(sim.uuid));
    const closed = firstValueFrom(conn.closed$);
    bindings.powerOff();
    assert.equal(await closed, 'adapter poweredOff');
    assert.equal(adapter.state, 'poweredOff');
    await assert.rejects(adapter.connect(sim.uuid), { code: 'BLE_ADAPTER_OFF' });
    bindings.powerOn();
    const again = await run(timers, firstValueFrom(adapter.discoveries$));
    assert.equal(again.id, sim.uuid);
    const conn2 = await run(timers, adapter.connect(sim.uuid));
    assert.equal(conn2.isOpen, true);
    sub.unsubscribe();
    adapter.close();
  });
});
