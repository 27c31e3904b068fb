import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import { createMetricsRegistry } from '../../gateway/observability/metrics.ts';
import { MqttSink, type MqttSinkOptions } from '../../gateway/sinks/mqtt/index.ts';
import { decodeSpoolRecord } from '../../gateway/sinks/mqtt/spool-record.ts';
import { decodeRecord, SEGMENT_HEADER_BYTES } from '../../gateway/spool/segment-log.ts';
import { observe, startMosquitto, type Mosquitto, type Observer } from '../helpers/mosquitto.ts';
import { spawnChild } from '../helpers/mqtt-child.ts';
import { activityEventFor } from '../helpers/mqtt-payloads.ts';
import { capturingLogger } from '../helpers/capturing-logger.ts';

const seqOf = (payload: Buffer) => (JSON.parse(payload.toString('utf8')) as { seq: number }).seq;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('MQTT disk spool (real mosquitto)', () => {
  let broker: Mosquitto;
  let root: string;
  before(async () => {
    // Persistence keeps the observers' sessions across broker restarts: whatever the gateway
    // delivers while an observer is still reconnecting waits for it in the broker.
    broker = await startMosquitto({ persistence: true });
    root = mkdtempSync(join(tmpdir(), 'mujo-spool-it-'));
  });
  after(async () => {
    await broker.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  function makeSink(
    gatewayId: string,
    spoolDir: string,
    queue: Partial<MqttSinkOptions['queue']>,
    logger: Logger,
    registry = createMetricsRegistry({ defaultMetrics: false }),
  ) {
    return new MqttSink({
      url: broker.url,
      gatewayId,
      queue: { spoolDir, ...queue },
      reconnectPeriodMs: 200,
      logger,
      registry,
    });
  }

  /** Call while the broker is up: a persistent session that survives its restarts. */
  async function watch(gatewayId: string): Promise<Observer> {
    return observe(broker.url, [`mujo/${gatewayId}/subjects/+/activity`], {
      clientId: `observer-${gatewayId}`,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
  }

  it('spills to disk when the memory cap is reached, then delivers all in order', async () => {
    const obs = await watch('gw-cap');
    await broker.stop();
    const spoolDir = join(root, 'cap');
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const sink = makeSink(
      'gw-cap',
      spoolDir,
      { memoryMessages: 50, spillAfterMs: 600000, segmentBytes: 16384 },
      pino({ level: 'silent' }),
      registry,
    );
    await sink.start();
    for (let seq = 0; seq < 400; seq++) sink.publishActivity(activityEventFor('gw-cap', 's1', seq));
    const s = sink.stats();
    assert.equal(s.queued, 400);
    assert.ok(s.inMemory <= 50, `at most memoryMessages in memory (${s.inMemory})`);
    assert.ok(s.spoolSegments > 1 && s.spoolBytes > 0, 'the rest is in spool segments on disk');
    assert.ok(readdirSync(spoolDir).filter((f) => f.endsWith('.seg')).length > 1);
    assert.match(
      await registry.getSingleMetricAsString('mujo_mqtt_queue_messages'),
      /mujo_mqtt_queue_messages 400/,
    );
    await broker.start();
    try {
      assert.ok(await sink.waitIdle(15000));
      const got = await obs.waitFor(() => true, 400);
      assert.deepEqual(
        got.map((m) => seqOf(m.payload)),
        range(0, 400),
      );
      assert.deepEqual(
        readdirSync(spoolDir).filter((f) => f.endsWith('.seg')),
        [],
        'delivered segments are deleted',
      );
    } finally {
      await obs.close();
      await sink.stop();
    }
  });

  it('survives kill -9 while the broker is away: a new process delivers the spool first, then new events', async () => {
    const obs = await watch('gw-r');
    await broker.stop();
    const spoolDir = join(root, 'restart');
    const first = await spawnChild({
      url: broker.url,
      gatewayId: 'gw-r',
      spoolDir,
      spillAfterMs: 100,
      segmentBytes: 8192,
      virtualTime: true,
    });
    try {
      first.send('publish 0 300');
      const published = await first.waitFor((e) => e.event === 'published');
      assert.equal(published['inMemory'], 300, 'nothing spilled before spillAfterMs');
      first.send('advance 100'); // spillAfterMs without the broker: write-through to disk
      const stats = await first.waitFor((e) => e.event === 'advanced');
      assert.equal(stats['inMemory'], 0, 'everything is on disk before the kill');
      assert.equal(stats['queued'], 300);
    } finally {
      first.kill9(); // also when an assertion failed: a live child would keep the test run open
      await first.exited();
    }
    assert.ok(readdirSync(spoolDir).some((f) => f.endsWith('.seg')));

    await broker.start();
    const second = await spawnChild({ url: broker.url, gatewayId: 'gw-r', spoolDir });
    try {
      assert.equal(second.events[0]!['queued'], 300, 'the new process found 300 messages in the spool');
      await second.waitFor((e) => e.event === 'connected');
      second.send('publish 300 20');
      const got = await obs.waitFor(() => true, 320);
      assert.deepEqual(
        got.map((m) => seqOf(m.payload)),
        range(0, 320),
      );
      second.send('stop');
      const stopped = await second.waitFor((e) => e.event === 'stopped');
      assert.equal(stopped['queued'], 0);
    } finally {
      second.kill9();
      await obs.close();
    }
  });

  it('durability bound: kill -9 long before spillAfterMs still loses nothing older than syncIntervalMs (1 s)', async () => {
    const obs = await watch('gw-bound');
    await broker.stop();
    const spoolDir = join(root, 'bound');
    // spillAfterMs far away and memory far from full: only the durability bound writes to disk.
    const first = await spawnChild({
      url: broker.url,
      gatewayId: 'gw-bound',
      spoolDir,
      spillAfterMs: 60_000,
      virtualTime: true,
    });
    try {
      first.send('publish 0 400');
      const published = await first.waitFor((e) => e.event === 'published');
      assert.equal(published['inMemory'], 400, 'accepted into memory first');
      first.send('advance 1000'); // syncIntervalMs: the bound, on the sink's own (virtual) timers
      const advanced = await first.waitFor((e) => e.event === 'advanced');
      assert.equal(advanced['inMemory'], 0, 'nothing older than syncIntervalMs is only in memory');
    } finally {
      first.kill9();
      await first.exited();
    }

    await broker.start();
    const second = await spawnChild({ url: broker.url, gatewayId: 'gw-bound', spoolDir });
    try {
      assert.equal(second.events[0]!['queued'], 400, 'the new process found all 400 messages in the spool');
      const got = await obs.waitFor(() => true, 400);
      assert.deepEqual(
        got.map((m) => seqOf(m.payload)),
        range(0, 400),
      );
    } finally {
      second.kill9();
      await obs.close();
    }
  });

  it('skips a corrupt segment from the bad record on, with a coded error, and delivers the rest', async () => {
    const obs = await watch('gw-x');
    await broker.stop();
    const spoolDir = join(root, 'corrupt');
    const a = makeSink(
      'gw-x',
      spoolDir,
      { memoryMessages: 10, spillAfterMs: 0, segmentBytes: 4096 },
      pino({ level: 'silent' }),
    );
    await a.start();
    for (let seq = 0; seq < 200; seq++) a.publishActivity(activityEventFor('gw-x', 's1', seq));
    await a.stop();
    const segments = readdirSync(spoolDir)
      .filter((f) => f.endsWith('.seg'))
      .sort();
    assert.ok(segments.length >= 5, `several segments (${segments.length})`);
    // Corrupt the third record of the middle segment: it and everything after it in that file are lost.
    const victim = join(spoolDir, segments[Math.floor(segments.length / 2)]!);
    const buf = readFileSync(victim);
    const seqsInVictim: number[] = [];
    const offsets: number[] = [];
    for (let o = SEGMENT_HEADER_BYTES; o < buf.length;) {
      const r = decodeRecord(buf, o);
      assert.ok(r.ok);
      seqsInVictim.push(seqOf(decodeSpoolRecord(r.payload)!.payload));
      offsets.push(o);
      o = r.next;
    }
    assert.ok(seqsInVictim.length >= 3);
    buf[offsets[2]! + 20] = buf[offsets[2]! + 20]! ^ 0xff;
    writeFileSync(victim, buf);
    const lost = new Set(seqsInVictim.slice(2));

    await broker.start();
    const { logger, lines } = capturingLogger();
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const b = makeSink('gw-x', spoolDir, {}, logger, registry);
    try {
      await b.start();
      const corrupt = lines().filter((l) => l['code'] === 'MQTT_SPOOL_CORRUPT');
      assert.equal(corrupt.length, 1, 'one coded error for the damaged segment');
      assert.equal(corrupt[0]!['reason'], 'bad_crc');
      assert.ok(await b.waitIdle(15000));
      const expected = range(0, 200).filter((s) => !lost.has(s));
      const got = await obs.waitFor(() => true, expected.length);
      // A marker published after the spool: once it arrives, anything the spool still had has too
      // (one client, one topic, QoS 1: the broker keeps the order).
      b.publishActivity(activityEventFor('gw-x', 's1', 9999));
      await obs.waitFor((m) => seqOf(m.payload) === 9999);
      assert.deepEqual(
        obs.messages.map((m) => seqOf(m.payload)),
        [...expected, 9999],
      );
      assert.match(
        await registry.getSingleMetricAsString('mujo_mqtt_spool_corrupt_total'),
        /reason="bad_crc"} 1/,
      );
      assert.equal(got.length, expected.length);
    } finally {
      await obs.close();
      await b.stop();
    }
  });

  it('evicts the oldest segments at the size cap, counts and logs them, and delivers the newest in order', async () => {
    const obs = await watch('gw-e');
    await broker.stop();
    const spoolDir = join(root, 'evict');
    const { logger, lines } = capturingLogger();
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const sink = makeSink(
      'gw-e',
      spoolDir,
      { memoryMessages: 10, spillAfterMs: 0, maxSpoolBytes: 64 * 1024, segmentBytes: 8192 },
      logger,
      registry,
    );
    await sink.start();
    for (let seq = 0; seq < 1000; seq++) {
      sink.publishActivity(activityEventFor('gw-e', 's1', seq));
      if (seq % 50 === 49) await new Promise((r) => setImmediate(r)); // let write-through run
    }
    await new Promise((r) => setImmediate(r));
    const evictedText = await registry.getSingleMetricAsString('mujo_mqtt_evicted_total');
    const evicted = Number(/mujo_mqtt_evicted_total (\d+)/.exec(evictedText)![1]);
    assert.ok(evicted > 0, 'some messages were evicted');
    assert.ok(sink.stats().spoolBytes <= 64 * 1024, `spool within its cap (${sink.stats().spoolBytes})`);
    assert.equal(sink.stats().queued, 1000 - evicted);
    const logged = lines().filter((l) => l['code'] === 'MQTT_SPOOL_EVICTED');
    assert.ok(logged.length > 0);
    assert.equal(
      logged.reduce((n, l) => n + (l['records'] as number), 0),
      evicted,
      'every evicted message is in the logs',
    );

    await broker.start();
    try {
      assert.ok(await sink.waitIdle(15000));
      const got = await obs.waitFor(() => true, 1000 - evicted);
      assert.deepEqual(
        got.map((m) => seqOf(m.payload)),
        range(evicted, 1000),
        'the oldest were dropped, the rest arrive in order',
      );
    } finally {
      await obs.close();
      await sink.stop();
    }
  });
});
