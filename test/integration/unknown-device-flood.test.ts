/**
 * One MQTT client sends IMU data under thousands of device ids nobody configured: tracking
 * stays bounded (ingest.unknownDevices.maxTracked), idle ones are forgotten, no retained topic
 * or state publication per unknown device, all counted. Real mosquitto, the real app.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectAsync } from 'mqtt';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { observe, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { until } from '../unit/influx/helpers.ts';

const IDS = 3000;
const CAP = 50;

describe('unknown device flood on the ingest topic', { timeout: 120_000 }, () => {
  let broker: Mosquitto;
  let workDir: string;
  before(async () => {
    broker = await startMosquitto();
    workDir = await mkdtemp(join(tmpdir(), 'mujo-flood-'));
  });
  after(async () => {
    await broker?.dispose();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it(`${IDS} ids: at most ${CAP} tracked, none published or retained, idle ones expire`, async (t) => {
    const config = validateConfig({
      gateway: { id: 'flood' },
      model: { path: 'test/fixtures/tiny-model', providers: ['cpu'] },
      mqtt: { url: broker.url, queue: { spoolDir: join(workDir, 'spool') } },
      http: { enabled: false },
      replay: { enabled: false },
      ingest: { enabled: true, unknownDevices: { maxTracked: CAP, idleTimeoutMs: 1000 } },
      log: { level: 'silent' },
    });
    const app = new GatewayApp(config, { logger: silentLogger() });
    const states = await observe(broker.url, ['mujo/flood/devices/+/state']);
    const attacker = await connectAsync(broker.url, { protocolVersion: 5 });
    try {
      await app.start();
      const body = JSON.stringify({
        v: 1,
        rateHz: 50,
        acc: [
          [0, 0, 1],
          [0, 0, 1],
        ],
        gyro: [
          [0, 0, 0],
          [0, 0, 0],
        ],
      });
      const metric = async (outcome: string) => {
        const text = await app.metrics.getSingleMetricAsString('mujo_devices_unknown_total');
        return Number(new RegExp(`outcome="${outcome}"} (\\d+)`).exec(text)?.[1] ?? 0);
      };
      // The gateway subscribes once connected: the first id goes again until it is seen.
      await until(
        'the ingest subscription',
        async () => {
          await attacker.publishAsync('mujo/flood/ingest/dev0/imu', body, { qos: 0 });
          await new Promise((r) => setTimeout(r, 100));
          return (await metric('tracked')) >= 1;
        },
        30_000,
      );
      // Paced in batches well under the broker's queue per client, so none is dropped on the way.
      for (let i = 0; i < IDS; i += 200) {
        for (let j = Math.max(1, i); j < Math.min(IDS, i + 200); j++)
          await attacker.publishAsync(`mujo/flood/ingest/dev${j}/imu`, body, { qos: 0 });
        const sent = Math.min(IDS, i + 200);
        await until(
          `${sent} ids handled`,
          async () => (await metric('tracked')) + (await metric('refused')) >= sent,
          30_000,
        );
      }
      assert.ok(app.devices.unknownTracked <= CAP, `${app.devices.unknownTracked} unknown devices tracked`);
      assert.ok(
        app.devices.snapshot().length <= CAP,
        `${app.devices.snapshot().length} devices in the snapshot`,
      );
      assert.equal(await metric('tracked'), CAP);
      assert.ok((await metric('refused')) >= IDS - CAP);

      // No state publication and no retained topic per unknown device.
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(states.messages.length, 0, `${states.messages.length} device state publications`);
      const fresh = await observe(broker.url, ['mujo/flood/devices/+/state']);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(fresh.messages.filter((m) => m.retain).length, 0, 'retained device topics on the broker');
      await fresh.close();

      // Silent for idleTimeoutMs: forgotten at the next device tick.
      await until('idle unknown devices expire', () => app.devices.unknownTracked === 0, 15_000);
      assert.equal(await metric('expired'), CAP);
      t.diagnostic(
        `${IDS} ids: tracked ${await metric('tracked')}, refused ${await metric('refused')} messages, expired ${await metric('expired')}, state publications ${states.messages.length}`,
      );
    } finally {
      await attacker.endAsync();
      await states.close();
      await app.stop();
    }
  });
});
