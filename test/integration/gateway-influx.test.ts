/**
 * The gateway with `influx.enabled`, against real VictoriaMetrics: a replay's activity events,
 * device state and pipeline snapshots arrive as InfluxDB points, one activity start point per
 * started/changed event.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { firstValueFrom } from 'rxjs';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import type { ActivityEvent } from '../../gateway/domain/events.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { influxConfigFor, startVictoriaMetrics, type VictoriaMetrics } from '../helpers/victoria-metrics.ts';

let vm: VictoriaMetrics;
let workDir: string;

before(async () => {
  vm = await startVictoriaMetrics({ dedup: true });
  workDir = await mkdtemp(join(tmpdir(), 'mujo-gw-influx-'));
});

after(async () => {
  await vm?.dispose();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

test('replayed activity, device state and pipeline health land in the database', async () => {
  const config = validateConfig({
    gateway: { id: 'gwinflux' },
    mqtt: { embeddedPort: 0, queue: { spoolDir: join(workDir, 'mqtt') } },
    http: { enabled: false },
    // The bundled demo through the bundled model: hundreds of real activity events.
    replay: { path: 'recordings/demo', speed: 50, loop: false },
    influx: influxConfigFor(vm, join(workDir, 'influx')),
    log: { level: 'silent' },
  });
  const app = new GatewayApp(config, { logger: silentLogger() });
  const events: ActivityEvent[] = [];
  app.activity$.subscribe((e) => events.push(e));
  await app.start();
  const replay = app.replaySource;
  assert.ok(replay);
  await firstValueFrom(replay.done$);
  await app.stop();

  const starts = events.filter((e) => e.transition !== 'ended');
  assert.ok(starts.length > 100, `the replay produced only ${starts.length} activity events`);
  await vm.forceFlush();
  const confidence = await vm.exportSettled(
    '{__name__="activity_confidence",gateway="gwinflux"}',
    starts.length,
  );
  const points = confidence.flatMap((s) => s.values.map((v) => ({ v, metric: s.metric })));
  // Start points carry the event's confidence; stop points carry 0.
  const startPoints = points.filter((p) => p.v > 0);
  assert.equal(startPoints.length, starts.length, 'one activity start point per started/changed event');
  for (const e of starts) {
    assert.ok(
      startPoints.some((p) => p.metric['subject'] === e.subject && p.metric['activity'] === e.activity),
      `no point for ${e.subject} ${e.activity}`,
    );
  }
  const devices = await vm.exportSettled('{__name__="device_connected",gateway="gwinflux"}', 2);
  assert.deepEqual(
    new Set(devices.map((s) => s.metric['device'])),
    new Set(app.devices.snapshot().map((d) => d.device)),
  );
});
