import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PAYLOAD_VERSION, type ActivityEvent, type DeviceState } from '../../gateway/domain/events.ts';
import { HealthRegistry } from '../../gateway/observability/health.ts';
import { createMetricsRegistry } from '../../gateway/observability/metrics.ts';
import { InfluxSink, type InfluxSinkOptions } from '../../gateway/sinks/influx/sink.ts';
import { SEGMENT_HEADER_BYTES } from '../../gateway/spool/segment-log.ts';
import { freePort } from '../helpers/mosquitto.ts';
import {
  startVictoriaMetrics,
  type ExportedSeries,
  type VictoriaMetrics,
} from '../helpers/victoria-metrics.ts';
import { captureLogger, until } from '../unit/influx/helpers.ts';

/*
 * The InfluxDB sink against a real VictoriaMetrics (it accepts the client's /api/v2/write;
 * measurement_field becomes the metric name, tags become labels, time is kept in ms).
 */

const MS = 1_000_000;
/**
 * An hour ago, in ns, half-way into a millisecond: VictoriaMetrics keeps ms, and ns times
 * as float64 are exact to 256 ns only, so points spaced by whole ms stay in distinct ms.
 */
const baseNs = (): number => (Date.now() - 3_600_000) * MS + MS / 2;

const sum = (series: ExportedSeries[]): number => series.reduce((n, s) => n + s.values.length, 0);
const spoolFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .sort();

async function metric(
  registry: ReturnType<typeof createMetricsRegistry>,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  if (!m) return 0;
  return m.values
    .filter((v) =>
      Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val),
    )
    .reduce((n, v) => n + v.value, 0);
}

describe('InfluxDB sink → real VictoriaMetrics', () => {
  let vm: VictoriaMetrics;
  let tmp: string;
  const sinks: InfluxSink[] = [];

  before(async () => {
    vm = await startVictoriaMetrics({ dedup: true });
    tmp = mkdtempSync(join(tmpdir(), 'mujo-influx-it-'));
  });
  after(async () => {
    for (const s of sinks) await s.stop();
    await vm.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  function makeSink(name: string, over: Partial<InfluxSinkOptions> & { url?: string } = {}) {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const health = new HealthRegistry();
    const log = captureLogger();
    const spoolDir = over.spoolDir ?? join(tmp, name);
    const sink = new InfluxSink({
      gatewayId: 'gw-test',
      url: vm.url,
      target: { org: 'mujo', bucket: name, token: 'test-token', flavour: '2.x/3.x' },
      batchSize: 500,
      flushIntervalMs: 50,
      minRetryDelayMs: 50,
      maxRetryDelayMs: 250,
      drainTimeoutMs: 10000,
      logger: log.logger,
      registry,
      health,
      ...over,
      spoolDir,
    });
    sinks.push(sink);
    return { sink, registry, health, log, spoolDir };
  }

  it('writes N points and exactly N come back, per series, with their values', async () => {
    const { sink, registry, health, spoolDir } = makeSink('exact');
    await sink.start();
    const t0 = baseNs();
    const activities = ['squat', 'lunge', 'jog'];
    const expected = new Map<string, number[]>(); // series key → values in time order
    const expect = (key: string, v: number): void =>
      void (expected.get(key) ?? expected.set(key, []).get(key)!).push(v);
    let written = 0;
    for (const subject of ['s1', 's2', 's3', 's4']) {
      for (let k = 0; k < 300; k++) {
        const activity = activities[k % 3]!;
        const startNs = t0 + k * 10 * MS;
        const confidence = 0.5 + ((k * 7) % 50) / 100;
        const base = {
          v: PAYLOAD_VERSION,
          gateway: 'gw-test',
          subject,
          activity,
          activityName: activity,
          confidence,
          topK: [],
          start: new Date(startNs / MS).toISOString(),
          startNs,
          model: 'mujo',
          modelVersion: '1',
          latencyMs: 12.5,
          seq: k,
          modalities: k % 2 ? (['imu'] as const) : (['imu', 'pose'] as const),
          sources: ['d1'],
        } satisfies Omit<ActivityEvent, 'transition'>;
        sink.writeActivity({ ...base, transition: 'started' });
        sink.writeActivity({ ...base, transition: 'ended', endNs: startNs + 5 * MS, end: '' });
        expect(`activity_confidence/${subject}/${activity}`, confidence);
        expect(`activity_confidence/${subject}/${activity}`, 0);
        expect(`activity_window_s/${subject}/${activity}`, 0);
        expect(`activity_window_s/${subject}/${activity}`, 0.005);
        written += 2;
      }
    }
    for (const device of ['imu-a', 'imu-b']) {
      for (let k = 0; k < 500; k++) {
        const d: DeviceState = {
          v: PAYLOAD_VERSION,
          gateway: 'gw-test',
          device,
          kind: 'imu',
          subject: 's1',
          connected: k % 10 !== 0,
          battery: 100 - k / 10,
          rssi: -40 - (k % 30),
          rateHz: 50 + (k % 3) / 10,
          dropped: k,
          reconnects: Math.floor(k / 10),
          lastSeen: null,
        };
        sink.writeDevice(d, t0 + k * MS);
        expect(`device_rssi/${device}`, d.rssi!);
        written++;
      }
    }
    for (let k = 0; k < 2000; k++) {
      sink.writePipeline({
        stage: `stage-${k % 4}`,
        timeNs: t0 + k * MS,
        queueDepth: k,
        inferenceUs: 100 + k,
      });
      expect(`pipeline_queue_depth/stage-${k % 4}`, k);
      written++;
    }
    assert.ok(await sink.flush(20000), 'the sink drains');

    const series = [
      ...(await vm.exportSettled(
        '{__name__=~"activity_(confidence|window_s)", gateway="gw-test"}',
        4 * 300 * 2 * 2,
      )),
      ...(await vm.exportSettled('{__name__="device_rssi", gateway="gw-test"}', 1000)),
      ...(await vm.exportSettled('{__name__="pipeline_queue_depth", gateway="gw-test"}', 2000)),
    ];
    const got = new Map<string, number[]>();
    for (const s of series) {
      const m = s.metric;
      const key = m['__name__']!.startsWith('activity')
        ? `${m['__name__']}/${m['subject']}/${m['activity']}`
        : m['__name__'] === 'device_rssi'
          ? `device_rssi/${m['device']}`
          : `${m['__name__']}/${m['stage']}`;
      const order = s.timestamps.map((t, i) => [t, s.values[i]!] as const).sort((a, b) => a[0] - b[0]);
      got.set(
        key,
        order.map(([, v]) => v),
      );
    }
    assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort());
    for (const [key, values] of expected) {
      const back = got.get(key)!;
      assert.equal(back.length, values.length, `${key}: ${back.length} read back, ${values.length} written`);
      // ns timestamps are float64 (256 ns steps near 2026), so durations carry ~1e-7 s of noise.
      back.forEach((v, i) =>
        assert.ok(Math.abs(v - values[i]!) < 1e-6, `${key}[${i}]: ${v} != ${values[i]}`),
      );
    }
    assert.equal(await metric(registry, 'mujo_influx_points_written_total'), written);
    assert.equal(await metric(registry, 'mujo_influx_points_failed_total'), 0);
    assert.ok(
      (await metric(registry, 'mujo_influx_requests_total', { outcome: 'ok' })) >= Math.ceil(written / 500),
    );
    assert.equal(health.get('influx')?.status, 'up');
    assert.deepEqual(spoolFiles(spoolDir), []);
  });

  it('keeps writing through a server outage: every point arrives and the spool files are removed', async () => {
    const { sink, registry, health, spoolDir } = makeSink('outage', {
      memoryQueuePoints: 300,
      batchSize: 200,
      segmentBytes: 8192,
      statsIntervalMs: 0,
    });
    await sink.start();
    const t0 = baseNs();
    let k = 0;
    const tick = (n: number): void => {
      for (let i = 0; i < n; i++, k++)
        sink.writePipeline({ stage: `out-${k % 3}`, timeNs: t0 + k * MS, queueDepth: k });
    };
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const load = async (ticks: number): Promise<void> => {
      for (let i = 0; i < ticks; i++) {
        tick(150);
        await pause(40);
      }
    };
    await load(5);
    await vm.stop();
    await load(20);
    await until('points spooled while the server is away', () => spoolFiles(spoolDir).length > 0);
    assert.ok((await metric(registry, 'mujo_influx_spool_bytes')) > 0);
    assert.equal(health.get('influx')?.status, 'degraded');
    assert.equal(health.get('influx')?.error?.code, 'INFLUX_UNREACHABLE');
    assert.ok((await metric(registry, 'mujo_influx_retries_total')) > 0);
    await vm.start();
    await load(5);
    assert.ok(await sink.flush(30000), 'the backlog drains once the server is back');

    const series = await vm.exportSettled('{__name__="pipeline_queue_depth", stage=~"out-.*"}', k);
    assert.equal(sum(series), k, `${sum(series)} of ${k} points arrived`);
    const values = series.flatMap((s) => s.values).sort((a, b) => a - b);
    assert.deepEqual(
      values,
      Array.from({ length: k }, (_, i) => i),
    );
    assert.equal(await metric(registry, 'mujo_influx_points_written_total'), k);
    assert.equal(await metric(registry, 'mujo_influx_evicted_total'), 0);
    assert.equal(await metric(registry, 'mujo_influx_points_failed_total'), 0);
    assert.deepEqual(spoolFiles(spoolDir), []);
    assert.equal(await metric(registry, 'mujo_influx_spool_bytes'), 0);
    assert.equal(health.get('influx')?.status, 'up');
  });

  it('survives a restart while the server is away: the spool is delivered by the next run', async () => {
    const deadPort = await freePort();
    const spoolDir = join(tmp, 'restart');
    const first = makeSink('restart-1', {
      url: `http://127.0.0.1:${deadPort}`,
      spoolDir,
      drainTimeoutMs: 100,
      memoryQueuePoints: 100,
    });
    await first.sink.start();
    const t0 = baseNs();
    for (let k = 0; k < 1200; k++)
      first.sink.writePipeline({ stage: 'restart', timeNs: t0 + k * MS, queueDepth: k });
    await first.sink.stop();
    assert.ok(spoolFiles(spoolDir).length > 0);
    const second = makeSink('restart-2', {
      spoolDir,
      target: { org: 'mujo', bucket: 'restart-2', token: 't', flavour: '2.x/3.x' },
    });
    await second.sink.start();
    assert.ok(await second.sink.flush(20000));
    const series = await vm.exportSettled('{__name__="pipeline_queue_depth", stage="restart"}', 1200);
    assert.deepEqual(
      series.flatMap((s) => s.values).sort((a, b) => a - b),
      Array.from({ length: 1200 }, (_, i) => i),
    );
    assert.deepEqual(spoolFiles(spoolDir), []);
  });

  it('skips a corrupt spool segment with a coded error and delivers the rest', async () => {
    const deadPort = await freePort();
    const spoolDir = join(tmp, 'corrupt');
    const first = makeSink('corrupt-1', {
      url: `http://127.0.0.1:${deadPort}`,
      spoolDir,
      drainTimeoutMs: 50,
      memoryQueuePoints: 50,
      segmentBytes: 4096,
    });
    await first.sink.start();
    const t0 = baseNs();
    const total = 600;
    for (let k = 0; k < total; k++)
      first.sink.writePipeline({ stage: 'corrupt', timeNs: t0 + k * MS, queueDepth: k });
    await first.sink.stop();
    const files = spoolFiles(spoolDir);
    assert.ok(files.length >= 4, `expected several segments, got ${files.length}`);

    // Walk the framing of the second segment, damage the payload of its 4th record.
    const victim = join(spoolDir, files[1]!);
    const buf = readFileSync(victim);
    const records: Array<{ offset: number; payload: string }> = [];
    for (let o = SEGMENT_HEADER_BYTES; o < buf.length;) {
      const len = buf.readUInt32LE(o);
      records.push({ offset: o, payload: buf.toString('utf8', o + 8, o + 8 + len) });
      o += 8 + len;
    }
    assert.ok(records.length > 5);
    const hit = records[3]!;
    buf[hit.offset + 8 + 2] = buf[hit.offset + 8 + 2]! ^ 0x55;
    writeFileSync(victim, buf);
    const lost = new Set(records.slice(3).map((r) => Number(/queue_depth=(\d+)i/.exec(r.payload)![1])));

    const second = makeSink('corrupt-2', { spoolDir });
    await second.sink.start();
    assert.ok(await second.sink.flush(20000));
    const expected = Array.from({ length: total }, (_, i) => i).filter((i) => !lost.has(i));
    const series = await vm.exportSettled(
      '{__name__="pipeline_queue_depth", stage="corrupt"}',
      expected.length,
    );
    assert.deepEqual(
      series.flatMap((s) => s.values).sort((a, b) => a - b),
      expected,
    );
    assert.ok(second.log.codes().includes('INFLUX_SPOOL_CORRUPT'), 'INFLUX_SPOOL_CORRUPT is logged');
    assert.equal(second.log.lines.find((l) => l['code'] === 'INFLUX_SPOOL_CORRUPT')!['level'], 50);
    assert.equal(await metric(second.registry, 'mujo_influx_spool_corrupt_total', { reason: 'bad_crc' }), 1);
    assert.equal(second.health.get('influx')?.error?.code, 'INFLUX_SPOOL_CORRUPT');
    assert.deepEqual(spoolFiles(spoolDir), []);
  });

  it('holds the spool cap while the server is away, evicting the oldest points and counting them', async () => {
    const deadPort = await freePort();
    const spoolDir = join(tmp, 'cap');
    const maxSpoolBytes = 64 * 1024;
    const segmentBytes = 4096;
    const batchSize = 50;
    const { sink, registry, log } = makeSink('cap-1', {
      url: `http://127.0.0.1:${deadPort}`,
      spoolDir,
      memoryQueuePoints: 100,
      batchSize,
      maxSpoolBytes,
      segmentBytes,
      drainTimeoutMs: 50,
    });
    await sink.start();
    const t0 = baseNs();
    const total = 5000;
    let peak = 0;
    for (let k = 0; k < total; k++) {
      sink.writePipeline({ stage: 'cap', timeNs: t0 + k * MS, queueDepth: k });
      if (k % 100 === 99) {
        const onDisk = spoolFiles(spoolDir).reduce((n, f) => n + statSync(join(spoolDir, f)).size, 0);
        peak = Math.max(peak, onDisk);
        await new Promise((r) => setImmediate(r));
      }
    }
    await sink.stop();
    // The batch in flight when the server went away is held for delivery and cannot be
    // evicted: the cap may be exceeded by the segments holding it, never by more.
    const lineBytes = 80;
    const allowance = batchSize * lineBytes + 2 * segmentBytes;
    assert.ok(
      peak <= maxSpoolBytes + allowance,
      `spool peaked at ${peak} bytes, cap ${maxSpoolBytes} + ${allowance}`,
    );
    const evicted = await metric(registry, 'mujo_influx_evicted_total');
    assert.ok(evicted > 0, 'evictions are counted');
    assert.ok(log.codes().includes('INFLUX_SPOOL_EVICTED'));

    const next = makeSink('cap-2', { spoolDir });
    await next.sink.start();
    assert.ok(await next.sink.flush(20000));
    const arrived = (
      await vm.exportSettled('{__name__="pipeline_queue_depth", stage="cap"}', total - evicted)
    )
      .flatMap((s) => s.values)
      .sort((a, b) => a - b);
    assert.equal(
      arrived.length + evicted,
      total,
      `${arrived.length} arrived + ${evicted} evicted != ${total}`,
    );
    // Oldest first: apart from the segments holding the batch that was in flight (the first
    // `batchSize` points and whatever shares their last segment), what survives is the newest.
    let head = 0;
    while (arrived[head] === head) head++;
    assert.ok(head >= batchSize && head <= batchSize + segmentBytes / 40, `held prefix of ${head} points`);
    const tail = arrived.slice(head);
    assert.deepEqual(
      tail,
      Array.from({ length: tail.length }, (_, i) => total - tail.length + i),
    );
  });
});
