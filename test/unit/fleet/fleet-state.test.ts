import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FleetState } from '../../../gateway/fleet/view/fleet-state.ts';
import { deviceStateFor, subjectStateFor } from '../../helpers/mqtt-payloads.ts';

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const status = (gateway: string, version: string) =>
  json({
    v: 1,
    gateway,
    state: 'online',
    software: '0.1.0',
    startedAt: '2026-12-06T10:00:00.000Z',
    uptimeS: 5,
    model: { name: 'default', version },
    encoders: [
      { name: 'imu', modality: 'imu', provider: 'cpu' },
      { name: 'pose', modality: 'pose', provider: 'cuda' },
    ],
    updated: '2026-12-06T10:00:05.000Z',
  });

test('gateways: availability, bridge link, model, providers, streams and drops', () => {
  const fleet = new FleetState('mujo');
  fleet.apply('mujo/gw-1/availability', Buffer.from('online'));
  fleet.apply('mujo/gw-1/status', status('gw-1', '0.2.0'));
  fleet.apply('mujo/gw-1/bridge/state', Buffer.from('1'));
  fleet.apply('mujo/gw-1/devices/w1/state', json({ ...deviceStateFor('gw-1', 'w1', 80), dropped: 3 }));
  fleet.apply(
    'mujo/gw-1/devices/w2/state',
    json({ ...deviceStateFor('gw-1', 'w2', 80), connected: false, dropped: 4 }),
  );
  fleet.apply('mujo/gw-1/rollout', json({ v: 1, state: 'active' }));
  fleet.apply('mujo/gw-2/availability', Buffer.from('offline'));
  fleet.apply('mujo/gw-2/bridge/state', Buffer.from('0'));

  const [gw1, gw2] = fleet.snapshot().gateways;
  assert.deepEqual(gw1, {
    id: 'gw-1',
    online: true,
    linked: true,
    software: '0.1.0',
    model: 'default 0.2.0',
    providers: { imu: 'cpu', pose: 'cuda' },
    startedAt: '2026-12-06T10:00:00.000Z',
    rollout: 'active',
    streams: 1,
    devices: 2,
    dropped: 7,
    active: 0,
  });
  assert.equal(gw2?.online, false);
  assert.equal(gw2?.linked, false);
  assert.equal(gw2?.model, null);
});

test('a subject is where its owner claim says, else where it was last updated', () => {
  const fleet = new FleetState('mujo');
  const older = { ...subjectStateFor('gw-a', 'ann', 'squat'), updated: '2026-12-06T10:00:00.000Z' };
  const newer = { ...subjectStateFor('gw-b', 'ann', 'lunge'), updated: '2026-12-06T10:00:09.000Z' };
  fleet.apply('mujo/gw-a/subjects/ann/state', json(older));
  fleet.apply('mujo/gw-b/subjects/ann/state', json(newer));
  let [ann] = fleet.snapshot().subjects;
  assert.equal(ann?.gateway, 'gw-b');
  assert.equal(ann?.activity, 'lunge');

  // A claim by gw-a wins over recency (the person walked back).
  fleet.apply('mujo/fleet/subjects/ann/owner', json({ subject: 'ann', gateway: 'gw-a', at: 'x' }));
  [ann] = fleet.snapshot().subjects;
  assert.equal(ann?.gateway, 'gw-a');
  assert.equal(ann?.activity, 'squat');
  assert.equal(fleet.snapshot().subjects.length, 1, 'one person, not one per room');
});

test('cleared retained topics are forgotten; unreadable payloads are counted, not applied', () => {
  const fleet = new FleetState('mujo');
  fleet.apply('mujo/gw-1/availability', Buffer.from('online'));
  fleet.apply('mujo/gw-1/subjects/bob/state', json(subjectStateFor('gw-1', 'bob', 'squat')));
  assert.equal(fleet.snapshot().gateways[0]?.active, 1);
  fleet.apply('mujo/gw-1/subjects/bob/state', Buffer.alloc(0));
  assert.equal(fleet.snapshot().subjects.length, 0);

  assert.equal(fleet.apply('mujo/gw-1/status', Buffer.from('{not json')), false);
  assert.equal(fleet.apply('mujo/fleet/subjects/bob/owner', json({ gateway: 7 })), false);
  assert.equal(fleet.apply('other/gw-1/status', status('gw-1', '1')), false);
  assert.equal(fleet.snapshot().rejected, 2);
  assert.equal(fleet.snapshot().gateways[0]?.model, null);
});
