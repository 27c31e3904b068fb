import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../../gateway/config/index.ts';
import { ConfigFileDevices } from '../../../gateway/devices/config-file.ts';
import { DeviceService, type DeviceChangeResult } from '../../../gateway/devices/device-service.ts';
import { GatewayError } from '../../../gateway/observability/errors.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { createHarness, type Harness } from '../../fakes/noble/harness.ts';
import { PolarSim, WitMotionSim } from '../../fakes/noble/sim-devices.ts';

/*
 * The device service over the real BLE source (real noble over fake bindings, virtual time)
 * and a real config file: a change shows in what streams and in what the file says.
 */

const POLAR = new PolarSim({ uuid: 'a09e1a000011', model: 'h10' });
const WIT = new WitMotionSim({ uuid: 'c0ffee000012' });
const address = (uuid: string): string => (uuid.match(/.{2}/g) as string[]).join(':');

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mujo-device-service-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setup(
  fileText: string | null,
): Promise<{ h: Harness; service: DeviceService; file: string | null; changes: DeviceChangeResult[] }> {
  const h = createHarness({ devices: [], maxConnections: 4 }, { seed: 3 });
  h.bindings.addDevice(new PolarSim({ uuid: POLAR.uuid, model: 'h10' }));
  h.bindings.addDevice(new WitMotionSim({ uuid: WIT.uuid }));
  await h.source.start();
  let file: string | null = null;
  if (fileText !== null) {
    file = join(dir, `gw-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, fileText);
  }
  const changes: DeviceChangeResult[] = [];
  const service = new DeviceService({
    ble: h.source,
    store: file ? new ConfigFileDevices(file) : null,
    logger: silentLogger(),
    onChange: (c) => changes.push(c),
  });
  return { h, service, file, changes };
}

/** Removing a device disconnects it, which takes radio time: keep the virtual clock moving until `work` settles. */
async function onRadioTime<T>(h: Harness, work: Promise<T>): Promise<T> {
  let settled = false;
  const tracked = work.finally(() => (settled = true));
  tracked.catch(() => undefined);
  while (!settled) await h.timers.advance(50);
  return tracked;
}

async function stop(h: Harness): Promise<void> {
  await onRadioTime(h, h.source.stop());
}

function subjectsOfChunks(h: Harness, id: string, sinceIndex: number): Set<string | undefined> {
  return new Set((h.chunks.get(id) ?? []).slice(sinceIndex).map((c) => c.subjectId));
}

describe('DeviceService: add / assign / remove at runtime, saved to the config file', () => {
  it('an added device connects and streams under its subject, and is in the file; assign re-routes it; remove ends it', async () => {
    const { h, service, file, changes } = await setup('# my gateway\nble:\n  enabled: true\n  devices: []\n');
    const added = await service.add({
      id: 'wit1',
      address: address(WIT.uuid),
      family: 'witmotion',
      subject: 'alice',
    });
    assert.equal(added.device, 'wit1');
    assert.equal(added.persisted, true);
    assert.equal(added.file, file);
    assert.equal(added.config?.placement, 'unknown', 'schema defaults are filled in');
    assert.equal(added.config?.rateHz, 50);
    await h.timers.advance(3000);
    assert.ok(h.source.statuses().find((s) => s.key === 'wit1')?.connected, 'the added device streams');
    assert.deepEqual(subjectsOfChunks(h, 'wit1', 0), new Set(['alice']));

    const mark = h.chunks.get('wit1')?.length ?? 0;
    const assigned = await service.assign('wit1', { subject: 'bob', placement: 'thigh' });
    assert.equal(assigned.config?.subject, 'bob');
    await h.timers.advance(1000);
    assert.deepEqual(subjectsOfChunks(h, 'wit1', mark), new Set(['bob']));
    assert.equal(h.chunks.get('wit1')?.at(-1)?.placement, 'thigh');

    let { config } = await loadConfig({ file: file as string, env: {} });
    assert.deepEqual(
      config.ble.devices.map((d) => [d.id, d.subject, d.placement]),
      [['wit1', 'bob', 'thigh']],
    );

    const removed = await onRadioTime(h, service.remove('wit1'));
    assert.equal(removed.config, null);
    await h.timers.advance(2000);
    assert.equal(h.bindings.isConnected(WIT.uuid), false, 'a removed device is disconnected');
    ({ config } = await loadConfig({ file: file as string, env: {} }));
    assert.deepEqual(config.ble.devices, []);
    assert.ok((await readFile(file as string, 'utf8')).startsWith('# my gateway\n'));
    assert.deepEqual(
      changes.map((c) => c.action),
      ['add', 'assign', 'remove'],
    );
    await stop(h);
  });

  it('refuses bad requests with coded errors naming the problem, and changes neither the source nor the file', async () => {
    const { h, service, file } = await setup('ble:\n  devices: []\n');
    const before = await readFile(file as string, 'utf8');
    const code = async (p: Promise<unknown>, expected: string, fragment: RegExp) =>
      assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof GatewayError, String(e));
        assert.equal(e.code, expected, e.message);
        assert.match(e.message, fragment);
        return true;
      });
    await code(service.add({ family: 'witmotion' }), 'DEVICE_INVALID', /address|namePattern/);
    await code(service.add({ address: 'nope', family: 'witmotion' }), 'DEVICE_INVALID', /address/);
    await code(
      service.add({ address: address(WIT.uuid), family: 'witmotion', colour: 'red' }),
      'DEVICE_INVALID',
      /colour/,
    );
    await code(service.add('a string'), 'DEVICE_INVALID', /device entry is invalid/);
    await code(service.add({ address: address(WIT.uuid), family: 'fitbit' }), 'BLE_UNKNOWN_FAMILY', /fitbit/);
    await service.add({ id: 'p', address: address(POLAR.uuid), family: 'polar-pmd' });
    await code(
      service.add({ id: 'p', address: address(WIT.uuid), family: 'witmotion' }),
      'BLE_DUPLICATE_DEVICE',
      /'p'/,
    );
    await code(service.remove('ghost'), 'BLE_UNKNOWN_DEVICE', /ghost.*known: p/);
    await code(service.assign('ghost', { subject: 'a' }), 'BLE_UNKNOWN_DEVICE', /ghost/);
    await code(service.assign('p', { subject: 'has space' }), 'DEVICE_INVALID', /subject/);
    await code(service.assign('p', { placement: 'forehead' }), 'DEVICE_INVALID', /placement/);
    await code(service.assign('p', {}), 'DEVICE_INVALID', /neither subject nor placement/);
    assert.deepEqual(
      h.source.deviceConfigs().map((c) => c.id),
      ['p'],
    );
    const { config } = await loadConfig({ file: file as string, env: {} });
    assert.deepEqual(
      config.ble.devices.map((d) => d.id),
      ['p'],
      `only the one good add reached the file (was: ${before})`,
    );
    await stop(h);
  });

  it('without a config file the change applies and the answer says it lasts until restart', async () => {
    const { h, service } = await setup(null);
    const r = await service.add({ address: address(WIT.uuid), family: 'witmotion' });
    assert.equal(r.persisted, false);
    assert.equal(r.file, null);
    assert.match(r.note ?? '', /without a config file.*until it restarts/);
    assert.equal(r.device, `ble-${WIT.uuid}`);
    assert.ok(h.source.deviceConfigs().some((c) => c.id === r.device));
    await stop(h);
  });

  it('when the file cannot be written the runtime change is undone', async () => {
    const { h, service, file } = await setup('ble:\n  devices: []\n');
    await service.add({ id: 'w', address: address(WIT.uuid), family: 'witmotion', subject: 'alice' });
    await unlink(file as string);
    await assert.rejects(
      onRadioTime(h, service.add({ id: 'p', address: address(POLAR.uuid), family: 'polar-pmd' })),
      {
        code: 'CONFIG_WRITE_FAILED',
        message: /add of device 'p' was undone/,
      },
    );
    assert.deepEqual(
      h.source.deviceConfigs().map((c) => c.id),
      ['w'],
    );
    await assert.rejects(service.assign('w', { subject: 'bob' }), { code: 'CONFIG_WRITE_FAILED' });
    assert.equal(h.source.deviceConfigs()[0]?.subject, 'alice', 'the assignment is restored');
    await assert.rejects(onRadioTime(h, service.remove('w')), { code: 'CONFIG_WRITE_FAILED' });
    assert.deepEqual(
      h.source.deviceConfigs().map((c) => c.id),
      ['w'],
      'a removal that cannot be saved is not applied',
    );
    await stop(h);
  });

  it('with BLE disabled every change is refused with BLE_DISABLED', async () => {
    const service = new DeviceService({ ble: null, store: null, logger: silentLogger() });
    assert.equal(service.enabled, false);
    await assert.rejects(service.add({ address: address(WIT.uuid), family: 'witmotion' }), {
      code: 'BLE_DISABLED',
    });
    await assert.rejects(service.remove('x'), { code: 'BLE_DISABLED' });
    await assert.rejects(service.assign('x', { subject: 'a' }), { code: 'BLE_DISABLED' });
  });
});
