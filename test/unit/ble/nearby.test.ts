import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Discovery } from '../../../gateway/sources/ble/adapter.ts';
import { buildDriverRegistry } from '../../../gateway/sources/ble/devices/index.ts';
import { normalizeUuid } from '../../../gateway/sources/ble/driver.ts';
import { NearbyList } from '../../../gateway/sources/ble/nearby.ts';

const drivers = buildDriverRegistry([]);

function heard(
  address: string,
  atMs: number,
  rssi: number,
  localName?: string,
  uuids: string[] = [],
): Discovery {
  return {
    id: address.replace(/:/g, '').toLowerCase(),
    address: address.toLowerCase(),
    rssi,
    connectable: true,
    atMs,
    advertisement: { ...(localName ? { localName } : {}), serviceUuids: uuids.map(normalizeUuid) },
  };
}

test('names the family a driver recognises, supported devices first, strongest first', () => {
  const list = new NearbyList((a) => drivers.detect(a));
  list.observe(heard('d0:0d:00:00:00:01', 0, -40, 'Kitchen Scale', ['181d']));
  list.observe(heard('c0:ff:ee:00:00:02', 0, -70, 'WT901BLE68'));
  list.observe(heard('a0:9e:1a:00:00:03', 0, -50, 'Polar Sense 1A000003'));
  const rows = list.list(100, []);
  assert.deepEqual(
    rows.map((r) => [r.address, r.name, r.family, r.rssi, r.lastSeenMsAgo, r.device]),
    [
      ['A0:9E:1A:00:00:03', 'Polar Sense 1A000003', 'polar-pmd', -50, 100, null],
      ['C0:FF:EE:00:00:02', 'WT901BLE68', 'witmotion', -70, 100, null],
      ['D0:0D:00:00:00:01', 'Kitchen Scale', null, -40, 100, null],
    ],
  );
});

test('keeps a name heard earlier, marks configured devices, forgets the silent', () => {
  const list = new NearbyList((a) => drivers.detect(a), { maxAgeMs: 1000 });
  list.observe(heard('c0:ff:ee:00:00:02', 0, -70, 'WT901BLE68'));
  list.observe(heard('c0:ff:ee:00:00:02', 500, -60)); // an advert without the scan response
  list.observe(heard('a0:9e:1a:00:00:03', 0, -50, 'Polar Sense 1A000003'));
  const rows = list.list(900, [
    { id: 'wit', address: 'C0-FF-EE-00-00-02' },
    { id: 'polar', namePattern: '^Polar Sense' },
  ]);
  assert.deepEqual(
    rows.map((r) => [r.name, r.rssi, r.family, r.device]),
    [
      ['Polar Sense 1A000003', -50, 'polar-pmd', 'polar'],
      ['WT901BLE68', -60, 'witmotion', 'wit'],
    ],
  );
  // 1.2 s later only the WitMotion (heard at 500 ms) is younger than 1 s.
  assert.deepEqual(
    list.list(1200, []).map((r) => r.name),
    ['WT901BLE68'],
  );
});

test('a full list pushes out the least recently heard and counts it', () => {
  const list = new NearbyList((a) => drivers.detect(a), { maxDevices: 2 });
  list.observe(heard('00:00:00:00:00:01', 0, -50));
  list.observe(heard('00:00:00:00:00:02', 1, -50));
  list.observe(heard('00:00:00:00:00:01', 2, -50)); // heard again: now the newest
  list.observe(heard('00:00:00:00:00:03', 3, -50));
  assert.deepEqual(
    list
      .list(10, [])
      .map((r) => r.address)
      .sort(),
    ['00:00:00:00:00:01', '00:00:00:00:00:03'],
  );
  assert.equal(list.evicted, 1);
});
