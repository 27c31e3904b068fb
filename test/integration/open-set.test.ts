/**
 * The open-set decision end to end on real mosquitto: a copy of the bundled model with
 * `openSet` thresholds in its manifest replays the demo. With an IMU threshold no window
 * reaches, IMU-only events announce `unknown` with the closest class and its score, and the
 * payloads match config/schemas/mqtt-activity.schema.json; fused windows (no threshold for
 * imu+pose) keep naming classes. The bundled model itself is not changed.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { firstValueFrom } from 'rxjs';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import type { ActivityEvent } from '../../gateway/domain/events.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { observe, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const skip = existsSync('models/default/manifest.json') ? false : 'models/default is not built yet';

let broker: Mosquitto;
let workDir: string;

before(async () => {
  broker = await startMosquitto();
  workDir = await mkdtemp(join(tmpdir(), 'mujo-openset-'));
});

after(async () => {
  await broker?.dispose();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function modelWithThresholds(thresholds: Record<string, number>): Promise<string> {
  const dir = join(workDir, 'model');
  await cp('models/default', dir, { recursive: true });
  const file = join(dir, 'manifest.json');
  const manifest = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  manifest['openSet'] = {
    score: 'max-cosine',
    thresholds,
    calibration: { data: 'test: an imu threshold no window reaches', targetKnownRejection: 1 },
  };
  await writeFile(file, JSON.stringify(manifest, null, 2));
  return dir;
}

test(
  "below the threshold the gateway announces 'unknown' on MQTT, with the closest class and its score",
  { skip },
  async () => {
    const modelDir = await modelWithThresholds({ imu: 0.999 });
    const schemaText = await readFile('config/schemas/mqtt-activity.schema.json', 'utf8');
    const validate = addFormats(new Ajv({ allErrors: true, strict: false })).compile(JSON.parse(schemaText));
    const run = async (gw: string, withoutModalities: ('imu' | 'pose')[]) => {
      const config = validateConfig({
        gateway: { id: gw },
        model: { path: modelDir },
        mqtt: { url: broker.url, queue: { spoolDir: join(workDir, gw) } },
        http: { enabled: false },
        ingest: { enabled: false },
        replay: { path: 'recordings/demo', speed: 40, loop: false, withoutModalities },
        enrollment: { storeDir: join(workDir, `${gw}-models`) },
        log: { level: 'silent' },
      });
      const listener = await observe(broker.url, [`mujo/${gw}/subjects/+/activity`]);
      const app = new GatewayApp(config, { logger: silentLogger() });
      const events: ActivityEvent[] = [];
      app.activity$.subscribe((e) => events.push(e));
      try {
        await app.start();
        await firstValueFrom(app.replaySource!.done$);
        await app.stop();
        const received = await listener.waitFor(() => true, events.length, 30_000);
        return received.map((m) => {
          assert.ok(validate(JSON.parse(m.payload.toString())), JSON.stringify(validate.errors));
          return JSON.parse(m.payload.toString()) as ActivityEvent;
        });
      } finally {
        await app.stop();
        await listener.close();
      }
    };

    const imuOnly = await run('os-imu', ['pose']);
    assert.ok(imuOnly.length > 0);
    const announced = new Set(imuOnly.map((e) => e.activity));
    assert.deepEqual([...announced], ['unknown']);
    const first = imuOnly[0]!;
    assert.equal(first.activityName, 'Unknown');
    assert.equal(first.openSet?.threshold, 0.999);
    assert.ok(first.openSet!.score < 0.999);
    assert.notEqual(first.openSet?.candidate, 'unknown');

    const fused = await run('os-fused', []);
    assert.ok(
      fused.some((e) => e.activity !== 'unknown'),
      'imu+pose has no threshold: classes are named',
    );
    assert.ok(fused.every((e) => e.openSet?.threshold === null || e.openSet?.threshold === 0.999));
  },
);
