import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HealthRegistry } from '../../gateway/observability/health.ts';
import { createMetricsRegistry } from '../../gateway/observability/metrics.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { InfluxSink } from '../../gateway/sinks/influx/sink.ts';
import { MqttSink } from '../../gateway/sinks/mqtt/index.ts';
import { SEGMENT_HEADER_BYTES, SegmentLog } from '../../gateway/spool/segment-log.ts';
import { activityEventFor } from '../helpers/mqtt-payloads.ts';
import { captureLogger, until } from '../unit/influx/helpers.ts';

/*
 * A full disk under each spool, for real: the spool directory is a 2 MiB tmpfs the test
 * mounts (root only; skipped with a message elsewhere). Neither server is reachable, so
 * everything the sinks accept has to go through the spool.
 */

const MiB = 1024 * 1024;

function tryMount(dir: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs (needs root): ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Writes into `path` until the file system refuses: nothing else fits afterwards. */
function fillDisk(path: string): number {
  const fd = openSync(path, 'a');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk);
      } catch {
        break;
      }
    }
    // The last bytes, one small write at a time.
    for (;;) {
      try {
        written += writeSync(fd, chunk.subarray(0, 512));
      } catch {
        break;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** A TCP port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Segment files shorter than a header (an empty file left by a failed write). */
function emptySegments(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .filter((n) => statSync(join(dir, n)).size <= SEGMENT_HEADER_BYTES);
}

async function metricValue(
  registry: ReturnType<typeof createMetricsRegistry>,
  name: string,
  labels = '',
): Promise<number> {
  const text = await registry.getSingleMetricAsString(name);
  const re = new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

const tick = () => new Promise((r) => setImmediate(r));

describe('spools on a full disk (real tmpfs)', { timeout: 120_000 }, () => {
  let root: string;
  let mnt: string;
  let skip: string | undefined;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'mujo-diskfull-'));
    mnt = join(root, 'mnt');
    mkdirSync(mnt);
    skip = tryMount(mnt);
  });
  after(() => {
    if (!skip) execFileSync('umount', ['-l', mnt]);
    rmSync(root, { recursive: true, force: true });
  });

  it('MQTT: no crash, memory bounded, evictions counted by reason, /health degraded with a code, one log line, recovery', async (t) => {
    if (skip) return t.skip(skip);
    const spoolDir = join(mnt, 'mqtt');
    mkdirSync(spoolDir);
    const filler = join(mnt, 'filler-mqtt');
    fillDisk(filler);
    const cap = captureLogger();
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const health = new HealthRegistry();
    const sink = new MqttSink({
      url: `mqtt://127.0.0.1:${await closedPort()}`,
      gatewayId: 'gw-full',
      queue: { spoolDir, memoryMessages: 200, spillAfterMs: 100, syncIntervalMs: 200 },
      reconnectPeriodMs: 1000,
      logger: cap.logger,
      registry,
      health,
    });
    let uncaught: unknown;
    const onUncaught = (err: unknown) => (uncaught = err);
    process.on('uncaughtException', onUncaught);
    try {
      await sink.start();
      // Phase 1: the disk is full from the start.
      for (let i = 1; i <= 3000; i++) {
        sink.publishActivity(activityEventFor('gw-full', 's1', i));
        if (i % 50 === 0) await tick();
      }
      await until(
        'the disk-full state in /health',
        () => health.get('mqtt')?.error?.code === 'MQTT_SPOOL_DISK_FULL',
      );
      assert.equal(uncaught, undefined, `uncaught: ${String(uncaught)}`);
      assert.equal(health.get('mqtt')?.status, 'degraded');
      const stats = sink.stats();
      assert.ok(stats.inMemory <= 200, `memory bounded: ${stats.inMemory} messages held`);
      assert.ok(
        (await metricValue(registry, 'mujo_mqtt_spool_dropped_total', '{reason="disk_full"}')) > 2000,
        'messages that fit nowhere are counted, reason disk_full',
      );
      assert.equal(await metricValue(registry, 'mujo_mqtt_spool_disk_full'), 1);
      assert.deepEqual(emptySegments(spoolDir), [], 'no empty segment files');
      const fullLines = cap.lines.filter((l) => l['code'] === 'MQTT_SPOOL_DISK_FULL');
      assert.equal(fullLines.length, 1, 'one rate-limited log line');

      // Phase 2: space returns; the next spill (after the retry pause) writes again.
      unlinkSync(filler);
      for (let i = 3001; i <= 3100; i++) sink.publishActivity(activityEventFor('gw-full', 's1', i));
      await until('recovery', () => health.get('mqtt')?.error?.code !== 'MQTT_SPOOL_DISK_FULL', 10_000);
      await until('messages on disk again', () => sink.stats().spoolBytes > SEGMENT_HEADER_BYTES, 10_000);
      assert.equal(await metricValue(registry, 'mujo_mqtt_spool_disk_full'), 0);
      assert.ok(
        cap.lines.some((l) => l['code'] === 'MQTT_SPOOL_DISK_OK'),
        'recovery is logged',
      );

      // Phase 3: the spool alone outgrows the 2 MiB disk: oldest evicted (reason disk_full), it keeps going.
      const before = await metricValue(registry, 'mujo_mqtt_spool_dropped_total', '{reason="disk_full"}');
      for (let i = 3101; i <= 12000; i++) {
        sink.publishActivity(activityEventFor('gw-full', 's1', i));
        if (i % 50 === 0) await tick();
      }
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(uncaught, undefined, `uncaught: ${String(uncaught)}`);
      assert.ok(
        (await metricValue(registry, 'mujo_mqtt_spool_dropped_total', '{reason="disk_full"}')) > before,
        'oldest segments evicted for the full disk, counted',
      );
      assert.ok(sink.stats().spoolBytes <= 2 * MiB);
      // Segments are at most 1/16 of the disk: an eviction drops a slice of the oldest, not all.
      assert.ok(
        sink.stats().spoolBytes >= MiB,
        `the spool keeps most of the disk: ${sink.stats().spoolBytes} bytes`,
      );
      assert.deepEqual(emptySegments(spoolDir), []);
      assert.equal(
        cap.lines.filter((l) => l['code'] === 'MQTT_SPOOL_WRITE').length,
        0,
        'no error line per attempt',
      );
      t.diagnostic(
        `MQTT: 12000 events on a 2 MiB tmpfs: dropped{disk_full} ${await metricValue(registry, 'mujo_mqtt_spool_dropped_total', '{reason="disk_full"}')}, spool ${sink.stats().spoolBytes} bytes, MQTT_SPOOL_DISK_FULL log lines ${cap.lines.filter((l) => l['code'] === 'MQTT_SPOOL_DISK_FULL').length}`,
      );
    } finally {
      await sink.stop();
      process.off('uncaughtException', onUncaught);
    }
  });

  it('InfluxDB: no empty files, one log line, /health degraded with a code, memory bounded, stop() tells the truth', async (t) => {
    if (skip) return t.skip(skip);
    const spoolDir = join(mnt, 'influx');
    mkdirSync(spoolDir);
    const filler = join(mnt, 'filler-influx');
    fillDisk(filler);
    const cap = captureLogger();
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const health = new HealthRegistry();
    const sink = new InfluxSink({
      gatewayId: 'gw-full',
      url: `http://127.0.0.1:${await closedPort()}`,
      target: { flavour: '2.x/3.x', org: 'o', bucket: 'b', token: undefined },
      spoolDir,
      memoryQueuePoints: 200,
      syncIntervalMs: 200,
      minRetryDelayMs: 100,
      maxRetryDelayMs: 200,
      drainTimeoutMs: 200,
      logger: cap.logger,
      registry,
      health,
    });
    const line = (i: number) =>
      `activity,gateway=gw-full,subject=s1 confidence=0.9,latency_ms=${i} ${1_717_000_000_000_000_000 + i * 1_000_000}`;
    await sink.start();
    try {
      for (let i = 1; i <= 3000; i++) {
        sink.writeLines([line(i)]);
        if (i % 50 === 0) await tick();
      }
      await until(
        'the disk-full state in /health',
        () => health.get('influx')?.error?.code === 'INFLUX_SPOOL_DISK_FULL',
      );
      // Attempts go on for a while (durability ticks, memory bound): still one line, no files.
      await new Promise((r) => setTimeout(r, 1500));
      for (let i = 3001; i <= 3500; i++) sink.writeLines([line(i)]);
      assert.equal(health.get('influx')?.status, 'degraded');
      assert.deepEqual(emptySegments(spoolDir), [], 'no empty segment files');
      assert.equal(readdirSync(spoolDir).filter((n) => n.endsWith('.seg')).length, 0);
      assert.equal(cap.lines.filter((l) => l['code'] === 'INFLUX_SPOOL_DISK_FULL').length, 1, 'one log line');
      assert.equal(cap.lines.filter((l) => l['code'] === 'INFLUX_SPOOL_WRITE').length, 0);
      assert.ok(sink.queued <= 5000 + 200 + 1, `memory bounded: ${sink.queued} points queued`);
      assert.ok((await metricValue(registry, 'mujo_influx_spool_dropped_total', '{reason="disk_full"}')) > 0);

      unlinkSync(filler);
      await new Promise((r) => setTimeout(r, 1100));
      for (let i = 3501; i <= 3600; i++) sink.writeLines([line(i)]);
      await until('recovery', () => health.get('influx')?.error?.code !== 'INFLUX_SPOOL_DISK_FULL', 10_000);
      await until('points on disk', () => sink.spoolBytes > SEGMENT_HEADER_BYTES, 10_000);

      // Full again, then stop: what the stop line says is on disk is on disk.
      fillDisk(filler);
      for (let i = 3601; i <= 4000; i++) sink.writeLines([line(i)]);
    } finally {
      await sink.stop();
    }
    const stopLine = cap.lines.find(
      (l) => l['code'] === 'INFLUX_STOP_SPOOLED' || l['code'] === 'INFLUX_STOP_LOST',
    );
    assert.ok(stopLine, 'stop reports what it kept');
    unlinkSync(filler);
    const reopened = new SegmentLog({
      dir: spoolDir,
      prefix: 'influx',
      maxBytes: 256 * MiB,
      segmentBytes: MiB,
      codePrefix: 'INFLUX',
      maxBytesKey: 'influx.maxSpoolBytes',
      logger: silentLogger(),
    });
    const found = reopened.open();
    assert.equal(found.records, stopLine['points'], 'the points stop() says are in the spool are there');
    t.diagnostic(
      `InfluxDB: stop line ${String(stopLine['code'])} points=${String(stopLine['points'])} lost=${String(stopLine['lost'] ?? 0)}; on disk ${found.records}; INFLUX_SPOOL_DISK_FULL lines ${cap.lines.filter((l) => l['code'] === 'INFLUX_SPOOL_DISK_FULL').length}`,
    );
    assert.deepEqual(emptySegments(spoolDir), []);
  });
});
