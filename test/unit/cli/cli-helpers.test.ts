import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { activityLine } from '../../../gateway/cli/event-lines.ts';
import { installRoot, withInstallPaths } from '../../../gateway/cli/install-paths.ts';
import { loadConfig } from '../../../gateway/config/load.ts';
import type { ActivityEvent } from '../../../gateway/domain/events.ts';

const repo = resolve(import.meta.dirname, '../../..');

test('the install root is the folder of the gateway package.json, whatever the working directory', () => {
  assert.equal(installRoot(), repo);
});

test('the bundled model and recording resolve under the install; a path the user wrote stays as written', async () => {
  const { config } = await loadConfig({ env: {} });
  const resolved = withInstallPaths(config, '/opt/mujo');
  assert.equal(resolved.model.path, '/opt/mujo/models/default');
  assert.equal(resolved.replay.path, '/opt/mujo/recordings/demo');
  const own = withInstallPaths(
    {
      ...config,
      model: { ...config.model, path: 'models/mine' },
      replay: { ...config.replay, path: '/data/r' },
    },
    '/opt/mujo',
  );
  assert.equal(own.model.path, 'models/mine');
  assert.equal(own.replay.path, '/data/r');
});

const base = {
  subject: 's6',
  activity: 'squat',
  activityName: 'Squat',
  confidence: 0.874,
  modalities: ['imu', 'pose'],
  startNs: 1_000_000_000,
} as unknown as ActivityEvent;

test('one readable line per transition; an ended activity shows its duration, not its last probability', () => {
  assert.equal(activityLine({ ...base, transition: 'started' }), 's6 started Squat (87 %) imu+pose');
  assert.equal(
    activityLine({ ...base, transition: 'changed', previous: 'lunge' }),
    's6 lunge → Squat (87 %) imu+pose',
  );
  assert.equal(
    activityLine({ ...base, transition: 'ended', confidence: 0.05, endNs: 43_000_000_000 }),
    's6 ended Squat after 42 s',
  );
});
