import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { DeviceClockMapper } from '../../../gateway/clock/device-clock-mapper.ts';
import type { ImuChunk } from '../../../gateway/domain/samples.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { mqttTopics } from '../../../gateway/sinks/mqtt/topics.ts';
import { encodeImuBinary } from '../../../gateway/sources/mqtt/imu-decode.ts';
import { MqttImuIngest, type IngestedImu } from '../../../gateway/sources/mqtt/ingest.ts';

const GATEWAY_T0_NS = 1_767_225_600_000 * 1e6;
const DEVICE_T0_NS = 5_000_000_000; // the device counts from its own boot
const PERIOD_NS = 20e6; // 50 Hz
const PER_CHUNK = 10;

/** Chunk c of a 50 Hz device: samples c·10 … c·10+9 on the device clock. */
function deviceChunk(c: number, sourceId = 'band'): ImuChunk {
  const tNs = Float64Array.from(
    { length: PER_CHUNK },
    (_, i) => DEVICE_T0_NS + (c * PER_CHUNK + i) * PERIOD_NS,
  );
  return {
    modality: 'imu',
    sourceId,
    subjectId: 's1',
    clockDomain: 'device',
    tNs,
    values: new Float32Array(PER_CHUNK * 6),
  };
}

/** When chunk c reaches the gateway: its last sample's true time plus `delayMs`. */
function arrivalNs(c: number, delayMs = 5): number {
  return GATEWAY_T0_NS + ((c + 1) * PER_CHUNK - 1) * PERIOD_NS + delayMs * 1e6;
}

function spacingsMs(tNs: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 1; i < tNs.length; i++) out.push(((tNs[i] as number) - (tNs[i - 1] as number)) / 1e6);
  return out;
}

describe('DeviceClockMapper', () => {
  it('maps a chunk overtaken in transit to its own times, not onto the newest sample', () => {
    const mapper = new DeviceClockMapper({}, { clock: { nowNs: () => 0 } });
    const mapped = new Map<number, Float64Array>();
    // Chunk 2 overtakes chunk 1 on the way (two connections, a retransmission …).
    for (const [c, delayMs] of [
      [0, 5],
      [2, 5],
      [1, 230],
    ] as const)
      mapped.set(c, mapper.map(deviceChunk(c), true, arrivalNs(c, delayMs)).tNs);
    const late = mapped.get(1)!;
    // Its 10 samples keep the device's 20 ms spacing (they used to be stacked 1 µs apart
    // after chunk 2's last sample: ten points in one millisecond, nine lost in InfluxDB) …
    for (const s of spacingsMs(late)) assert.ok(Math.abs(s - 20) < 1e-3, `spacing ${s} ms`);
    // … and sit between chunks 0 and 2, where the device took them.
    assert.ok(late[0]! > mapped.get(0)![PER_CHUNK - 1]!, 'after chunk 0');
    assert.ok(late[PER_CHUNK - 1]! < mapped.get(2)![0]!, 'before chunk 2');
    const all = [...mapped.values()].flatMap((t) => [...t].map((ns) => Math.floor(ns / 1e6)));
    assert.equal(new Set(all).size, 3 * PER_CHUNK, 'every sample has a millisecond of its own');
    // The next chunk in order continues after chunk 2, the newest seen.
    const next = mapper.map(deviceChunk(3), true, arrivalNs(3)).tNs;
    assert.ok(Math.abs((next[0]! - mapped.get(2)![PER_CHUNK - 1]!) / 1e6 - 20) < 1e-3);
  });

  it('maps a resent chunk onto the same times again', () => {
    const mapper = new DeviceClockMapper({}, { clock: { nowNs: () => 0 } });
    const first = mapper.map(deviceChunk(0), true, arrivalNs(0)).tNs;
    mapper.map(deviceChunk(1), true, arrivalNs(1));
    const again = mapper.map(deviceChunk(0), true, arrivalNs(1, 50)).tNs;
    assert.deepEqual([...again], [...first]);
  });

  it('slews back onto the fit when a refit moves it earlier, keeping samples apart', () => {
    const mapper = new DeviceClockMapper({}, { clock: { nowNs: () => 0 } });
    // The first chunk was held up 120 ms, the next arrives after 2 ms: within the same fit
    // bucket the offset drops by 118 ms, so the line moves back below what was emitted.
    const first = mapper.map(deviceChunk(0), true, arrivalNs(0, 120)).tNs;
    const times = [...first];
    for (let c = 1; c < 8; c++) times.push(...mapper.map(deviceChunk(c), true, arrivalNs(c, 2)).tNs);
    const spacings = spacingsMs(times);
    for (const s of spacings)
      assert.ok(s >= 10 - 1e-3, `spacing ${s.toFixed(3)} ms is below half the period`);
    // Once caught up it runs on the line again: the device's own spacing, 2 ms after the true time.
    const lastC = 7;
    const lastTrue = arrivalNs(lastC, 0);
    assert.ok(
      Math.abs((times.at(-1)! - lastTrue) / 1e6 - 2) < 1e-3,
      `last sample ${(times.at(-1)! - lastTrue) / 1e6} ms off`,
    );
    assert.ok(Math.abs(spacings.at(-1)! - 20) < 1e-3);
  });

  it('starts a new timeline when the device clock restarts', () => {
    const mapper = new DeviceClockMapper({}, { clock: { nowNs: () => 0 } });
    const before = mapper.map(deviceChunk(50), true, arrivalNs(0)).tNs;
    // Rebooted: its clock counts from the start again; the chunk arrives 200 ms later.
    const after = mapper.map(deviceChunk(0), true, arrivalNs(0) + 200e6).tNs;
    assert.ok(after[0]! > before[PER_CHUNK - 1]!, 'after the samples before the restart');
    for (const s of spacingsMs(after)) assert.ok(Math.abs(s - 20) < 1e-3, `spacing ${s} ms`);
    assert.ok(Math.abs(after[PER_CHUNK - 1]! - (arrivalNs(0) + 200e6)) < 1e3, 'last sample at its arrival');
  });

  it('reports the drift when the estimate changes, not for every chunk', () => {
    const reported: number[] = [];
    const mapper = new DeviceClockMapper(
      {},
      { clock: { nowNs: () => 0 }, onDrift: (_s, ppm) => reported.push(ppm) },
    );
    for (let c = 0; c < 50; c++) mapper.map(deviceChunk(c), true, arrivalNs(c, 3 + (c % 4)));
    assert.ok(reported.length >= 1, 'reported at least once');
    assert.ok(reported.length < 50 / 5, `${reported.length} reports for 50 chunks (10 s)`);
    for (let i = 1; i < reported.length; i++) assert.notEqual(reported[i], reported[i - 1]);
  });
  it('forgets the least recently used source when the table is full', () => {
    const reported: string[] = [];
    const mapper = new DeviceClockMapper(
      { maxSources: 2 },
      { clock: { nowNs: () => 0 }, onDrift: (source) => reported.push(source) },
    );
    mapper.map(deviceChunk(0, 'a'), true, arrivalNs(0));
    mapper.map(deviceChunk(0, 'b'), true, arrivalNs(0));
    mapper.map(deviceChunk(1, 'a'), true, arrivalNs(1));
    mapper.map(deviceChunk(1, 'c'), true, arrivalNs(1)); // b was used least recently
    assert.equal(mapper.size, 2);
    reported.length = 0;
    // A source still tracked reports its (unchanged) drift no more; a forgotten one starts afresh.
    mapper.map(deviceChunk(2, 'a'), true, arrivalNs(2));
    mapper.map(deviceChunk(2, 'b'), true, arrivalNs(2));
    assert.deepEqual(reported, ['b']);
  });
});

describe('MqttImuIngest with device time', () => {
  it('keeps every sample of MJI1 messages that arrive out of order, each in its own millisecond', () => {
    const topics = mqttTopics('mujo', 'gw');
    let nowNs = 0;
    const ingest = new MqttImuIngest({
      subscriber: { subscribe: () => () => undefined },
      topics,
      subjectForDevice: () => 's1',
      maxSamplesPerMessage: 100,
      logger: silentLogger(),
      registry: new Registry(),
      clock: { nowNs: () => nowNs },
    });
    const received: IngestedImu[] = [];
    ingest.samples$.subscribe((m) => received.push(m));
    const message = (c: number): Buffer =>
      encodeImuBinary({
        values: new Float32Array(PER_CHUNK * 6).fill(0.5),
        t0Ns: BigInt(DEVICE_T0_NS + c * PER_CHUNK * PERIOD_NS),
        rateHz: 50,
        encoding: 'float32',
        seq: c,
      });
    // Messages 0 … 9, each pair after the first swapped on the way: 0 2 1 4 3 6 5 8 7 9.
    const order = [0, 2, 1, 4, 3, 6, 5, 8, 7, 9];
    order.forEach((c, p) => {
      // A message arrives a few ms after the newest sample sent so far was taken.
      nowNs = arrivalNs(Math.max(...order.slice(0, p + 1)), 3 + (p % 3));
      ingest.onMessage('mujo/gw/ingest/band/imu', message(c));
    });
    assert.equal(received.length, order.length);
    const ms = received.flatMap((m) => [...m.chunk.tNs].map((t) => Math.floor(t / 1e6)));
    assert.equal(new Set(ms).size, order.length * PER_CHUNK, 'no two samples share a millisecond');
    // In device order the mapped times ascend with the device's 20 ms spacing.
    const byDevice = received
      .flatMap((m) => [...m.chunk.tNs].map((t, i) => ({ device: m.deviceTNs![i]!, t })))
      .sort((a, b) => a.device - b.device);
    for (let i = 1; i < byDevice.length; i++) {
      const gapMs = (byDevice[i]!.t - byDevice[i - 1]!.t) / 1e6;
      assert.ok(gapMs > 10, `samples ${i - 1}→${i}: ${gapMs.toFixed(3)} ms apart`);
    }
    ingest.stop();
  });
});
