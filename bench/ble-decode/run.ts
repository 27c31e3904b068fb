/*
 * BLE decode throughput per device family: samples/s on one core (one Node thread) for each
 * driver's decoder over a realistic stream of notifications built from the documented
 * formats (test/unit/ble/devices/encoders.ts). Prints a table and writes results.json.
 *
 *   node --import tsx bench/ble-decode/run.ts [--seconds 2] [--out bench/ble-decode/results.json]
 *
 * Two figures per family: decode alone, and decode + clock alignment (StreamClockAligner, as
 * the BLE source runs it: device times, or arrival times spaced at the device's rate, mapped
 * onto the gateway clock with drift estimation and gap detection).
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StreamClockAligner } from '../../gateway/sources/ble/clock-align.ts';
import type { DeviceDriver, StreamRequest } from '../../gateway/sources/ble/driver.ts';
import { BATTERY_LEVEL, batteryDriver } from '../../gateway/sources/ble/devices/battery.ts';
import { createGenericDriver } from '../../gateway/sources/ble/devices/generic-gatt.ts';
import { METAWEAR_NOTIFY, metawearDriver } from '../../gateway/sources/ble/devices/metawear.ts';
import { GSP_DATA, movesenseDriver } from '../../gateway/sources/ble/devices/movesense.ts';
import { PMD_CONTROL_POINT, PMD_DATA, polarPmdDriver } from '../../gateway/sources/ble/devices/polar-pmd.ts';
import { THINGY_RAW, thingy52Driver } from '../../gateway/sources/ble/devices/thingy52.ts';
import { WIT_NOTIFY, witmotionDriver } from '../../gateway/sources/ble/devices/witmotion.ts';
import {
  deltaWidth,
  float32Bits,
  gspNotifications,
  gspPayload,
  metawearSamples,
  pmdCompressedFrame,
  pmdFactorParam,
  pmdRawFrame,
  pmdResponse,
  thingyRaw,
  witPacket,
} from '../../test/unit/ble/devices/encoders.ts';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const SECONDS = Number(arg('--seconds', '2'));
const TRIALS = 5;
const OUT = arg('--out', join(dirname(fileURLToPath(import.meta.url)), 'results.json'));

interface Notification {
  readonly characteristic: string;
  readonly data: Uint8Array;
}

interface Case {
  readonly name: string;
  readonly driver: DeviceDriver;
  readonly request: StreamRequest;
  readonly what: string;
  /** Notifications sent once before the stream (e.g. the start response with the factor). */
  readonly setup?: Notification[];
  /** Build the i-th notification of the stream (timestamps must keep increasing across repeats). */
  readonly stream: (i: number) => Notification;
}

/** A smooth motion-like signal in raw units. */
const wave = (t: number, amp: number, phase: number) =>
  Math.round(amp * Math.sin(t / 9 + phase) + (amp / 8) * Math.sin(t / 2.3 + phase * 2));

function rows(start: number, n: number, amp: number): number[][] {
  return Array.from({ length: n }, (_, k) => [
    wave(start + k, amp, 0),
    wave(start + k, amp, 1),
    wave(start + k, amp, 2),
  ]);
}

function polarCompressed(
  type: number,
  frameType: number,
  start: number,
  n: number,
  amp: number,
  tsNs: bigint,
): Uint8Array {
  const s = rows(start, n, amp);
  const blocks: { width: number; count: number }[] = [];
  for (let i = 1; i < n; i += 20) {
    const count = Math.min(20, n - i);
    blocks.push({ width: deltaWidth(s, i, i + count), count });
  }
  return pmdCompressedFrame(type, tsNs, frameType, 2, s, blocks);
}

const T0 = 10n ** 17n;
const cases: Case[] = [
  {
    name: 'polar-pmd',
    what: 'H10 ACC raw int16, 36 samples/frame (200 Hz)',
    driver: polarPmdDriver,
    request: { rateHz: 200, localName: 'Polar H10 X' },
    stream: (i) => ({
      characteristic: PMD_DATA,
      data: pmdRawFrame(2, T0 + BigInt(i) * 180_000_000n, 1, 2, rows(i * 36, 36, 1000)),
    }),
  },
  {
    name: 'polar-pmd',
    what: 'Verity ACC delta-compressed, 58 samples/frame',
    driver: polarPmdDriver,
    request: { rateHz: 52, localName: 'Polar Sense X' },
    setup: [{ characteristic: PMD_CONTROL_POINT, data: pmdResponse(2, 2, 0, pmdFactorParam(0.244)) }],
    stream: (i) => ({
      characteristic: PMD_DATA,
      data: polarCompressed(2, 1, i * 58, 58, 1000, T0 + BigInt(i) * 1_115_384_615n),
    }),
  },
  {
    name: 'polar-pmd',
    what: 'Verity GYRO delta-compressed, 40 samples/frame',
    driver: polarPmdDriver,
    request: { rateHz: 52, localName: 'Polar Sense X' },
    setup: [{ characteristic: PMD_CONTROL_POINT, data: pmdResponse(2, 5, 0, pmdFactorParam(0.061)) }],
    stream: (i) => ({
      characteristic: PMD_DATA,
      data: polarCompressed(5, 0, i * 40, 40, 3000, T0 + BigInt(i) * 769_230_769n),
    }),
  },
  {
    name: 'movesense',
    what: 'IMU6 104 Hz, 8 samples in DATA + DATA_PART2',
    driver: movesenseDriver,
    request: { rateHz: 104, streams: ['acc', 'gyro'] },
    stream: (() => {
      // Each message is two notifications; index i maps to message ⌊i/2⌋, part i mod 2.
      let cache: { msg: number; parts: Uint8Array[] } = { msg: -1, parts: [] };
      return (i: number) => {
        const msg = Math.floor(i / 2);
        if (cache.msg !== msg) {
          const acc = rows(msg * 8, 8, 10).map((r) => r.map((v) => v * 0.98));
          const gyro = rows(msg * 8, 8, 200);
          cache = { msg, parts: gspNotifications(99, gspPayload(msg * 77, [acc, gyro])) };
        }
        return { characteristic: GSP_DATA, data: cache.parts[i % 2]! };
      };
    })(),
  },
  {
    name: 'metawear',
    what: 'BMI160 packed acc + packed gyro (3 samples each)',
    driver: metawearDriver,
    request: { rateHz: 200 },
    stream: (i) => ({
      characteristic: METAWEAR_NOTIFY,
      data: metawearSamples(i % 2 ? 0x13 : 0x03, i % 2 ? 0x07 : 0x1c, rows(i * 3, 3, 4000)),
    }),
  },
  {
    name: 'witmotion',
    what: '55 61 packet, 1 sample',
    driver: witmotionDriver,
    request: { rateHz: 100 },
    stream: (i) => ({
      characteristic: WIT_NOTIFY,
      data: witPacket(rows(i, 1, 2048)[0]!, rows(i, 1, 500)[0]!),
    }),
  },
  {
    name: 'thingy52',
    what: 'raw motion 18 B, 1 sample (acc + gyro + compass)',
    driver: thingy52Driver,
    request: { rateHz: 100, streams: ['acc', 'gyro', 'mag'] },
    stream: (i) => ({
      characteristic: THINGY_RAW,
      data: thingyRaw(rows(i, 1, 1024)[0]!, rows(i, 1, 320)[0]!, rows(i, 1, 800)[0]!),
    }),
  },
  {
    name: 'generic-gatt',
    what: '4 records × (3 int16 + 3 float32) + u32 ms header',
    driver: createGenericDriver({
      name: 'bench',
      service: 'aa00',
      characteristic: 'aa01',
      rateHz: 100,
      headerBytes: 4,
      recordBytes: 18,
      timestamp: { offset: 0, type: 'uint32le', unit: 'ms' },
      fields: [
        { channel: 'ax', offset: 0, type: 'int16le', unit: 'mg' },
        { channel: 'ay', offset: 2, type: 'int16le', unit: 'mg' },
        { channel: 'az', offset: 4, type: 'int16le', unit: 'mg' },
        { channel: 'gx', offset: 6, type: 'float32le', unit: 'deg/s' },
        { channel: 'gy', offset: 10, type: 'float32le', unit: 'deg/s' },
        { channel: 'gz', offset: 14, type: 'float32le', unit: 'deg/s' },
      ],
    }),
    request: { rateHz: 100 },
    stream: (i) => {
      const out = new Uint8Array(4 + 4 * 18);
      const dv = new DataView(out.buffer);
      dv.setUint32(0, i * 40, true);
      const a = rows(i * 4, 4, 1000);
      const g = rows(i * 4, 4, 90);
      for (let r = 0; r < 4; r++) {
        for (let c = 0; c < 3; c++) dv.setInt16(4 + r * 18 + 2 * c, a[r]![c]!, true);
        for (let c = 0; c < 3; c++) dv.setInt32(4 + r * 18 + 6 + 4 * c, float32Bits(g[r]![c]! / 3), true);
      }
      return { characteristic: 'aa01', data: out };
    },
  },
  {
    name: 'battery',
    what: 'Battery Level 1 B (values/s)',
    driver: batteryDriver,
    request: { rateHz: 1 },
    stream: (i) => ({ characteristic: BATTERY_LEVEL, data: Uint8Array.of(i % 101) }),
  },
];

interface Row {
  family: string;
  what: string;
  notifications: number;
  bytesPerNotification: number;
  samplesPerNotification: number;
  medianSamplesPerSecond: number;
  samplesPerSecond: number;
  notificationsPerSecond: number;
  nsPerNotification: number;
  rejected: number;
  /** Decode + clock alignment, samples/s (best trial). */
  alignedSamplesPerSecond: number;
}

// Pre-build enough distinct notifications that the decoder cannot benefit from repeats.
const STREAM_LENGTH = 4000;

function run(c: Case): Row {
  const stream = Array.from({ length: STREAM_LENGTH }, (_, i) => c.stream(i));
  const settings = c.driver.resolveSettings(c.request);
  let decoder = c.driver.createDecoder(settings);
  const restart = () => {
    decoder = c.driver.createDecoder(settings);
    for (const n of c.setup ?? []) decoder.decode(n.characteristic, n.data, 0);
  };
  // Warm-up, and count samples/rejects of one pass.
  restart();
  let samplesPerPass = 0;
  let rejected = 0;
  for (const n of stream) {
    const r = decoder.decode(n.characteristic, n.data, 0);
    if (!r.ok) rejected++;
    samplesPerPass += r.imu?.n ?? (r.ok && r.battery !== undefined ? 1 : 0);
  }
  // Several trials; the best one is the least disturbed by other processes on a shared machine.
  const trialRates: number[] = [];
  let passes = 0;
  let elapsedNs = 0;
  for (let trial = 0; trial < TRIALS; trial++) {
    let trialPasses = 0;
    let trialNs = 0;
    while (trialNs < (SECONDS / TRIALS) * 1e9) {
      // A fresh decoder per pass: the stream's timestamps start again.
      restart();
      const t0 = process.hrtime.bigint();
      for (let k = 0; k < stream.length; k++) decoder.decode(stream[k]!.characteristic, stream[k]!.data, 0);
      trialNs += Number(process.hrtime.bigint() - t0);
      trialPasses++;
    }
    trialRates.push((trialPasses * samplesPerPass) / (trialNs / 1e9));
    if ((trialPasses * samplesPerPass) / trialNs >= (passes * samplesPerPass) / (elapsedNs || Infinity)) {
      passes = trialPasses;
      elapsedNs = trialNs;
    }
  }
  trialRates.sort((a, b) => a - b);
  const alignedSamplesPerSecond = measureAligned(c, stream, settings, samplesPerPass);
  const notes = passes * stream.length;
  const seconds = elapsedNs / 1e9;
  return {
    medianSamplesPerSecond: Math.round(trialRates[Math.floor(trialRates.length / 2)]!),
    family: c.name,
    what: c.what,
    notifications: notes,
    bytesPerNotification: Math.round(stream.reduce((a, n) => a + n.data.length, 0) / stream.length),
    samplesPerNotification: +(samplesPerPass / stream.length).toFixed(2),
    samplesPerSecond: Math.round((passes * samplesPerPass) / seconds),
    notificationsPerSecond: Math.round(notes / seconds),
    nsPerNotification: Math.round(elapsedNs / notes),
    rejected,
    alignedSamplesPerSecond,
  };
}

/**
 * Decode + align: arrivals are spaced as the device would send them (samples per
 * notification / nominal rate), so arrival-time families exercise the same path as live.
 */
function measureAligned(
  c: Case,
  stream: readonly Notification[],
  settings: ReturnType<DeviceDriver['resolveSettings']>,
  samplesPerPass: number,
): number {
  if (samplesPerPass === 0 || c.name === 'battery') return 0;
  const rateHz = c.request.rateHz;
  const periodNs = 1e9 / rateHz;
  let best = 0;
  for (let trial = 0; trial < TRIALS; trial++) {
    let samples = 0;
    let elapsed = 0;
    let arrivalNs = 1e18;
    while (elapsed < (SECONDS / TRIALS) * 1e9) {
      const decoder = c.driver.createDecoder(settings);
      for (const n of c.setup ?? []) decoder.decode(n.characteristic, n.data, 0);
      const aligner = new StreamClockAligner({ nominalRateHz: rateHz });
      const t0 = process.hrtime.bigint();
      for (let k = 0; k < stream.length; k++) {
        const r = decoder.decode(stream[k]!.characteristic, stream[k]!.data, arrivalNs);
        const imu = r.ok ? r.imu : undefined;
        if (!imu) continue;
        arrivalNs += imu.n * periodNs;
        aligner.align(imu.n, arrivalNs, imu.deviceTimeNs);
        samples += imu.n;
      }
      elapsed += Number(process.hrtime.bigint() - t0);
    }
    best = Math.max(best, samples / (elapsed / 1e9));
  }
  return Math.round(best);
}

const results = cases.map(run);
const fmt = (n: number) => n.toLocaleString('en-US');
const header = [
  'family',
  'stream',
  'B/notif',
  'samples/notif',
  'samples/s (1 core, best)',
  'median',
  'notif/s',
  'ns/notif',
  'decode+align samples/s',
];
const table = results.map((r) => [
  r.family,
  r.what,
  String(r.bytesPerNotification),
  String(r.samplesPerNotification),
  fmt(r.samplesPerSecond),
  fmt(r.medianSamplesPerSecond),
  fmt(r.notificationsPerSecond),
  fmt(r.nsPerNotification),
  r.alignedSamplesPerSecond ? fmt(r.alignedSamplesPerSecond) : '—',
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
const line = (cells: string[]) =>
  '| ' + cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ') + ' |';
console.log(line(header));
console.log(
  '|' + widths.map((w, i) => (i >= 2 ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|',
);
for (const row of table) console.log(line(row));
for (const r of results)
  if (r.rejected > 0)
    console.error(
      `warning: ${r.family} (${r.what}) rejected ${r.rejected} of ${STREAM_LENGTH} benchmark notifications`,
    );

writeFileSync(
  OUT,
  JSON.stringify(
    {
      benchmark: 'ble-decode',
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      secondsPerCase: SECONDS,
      trialsPerCase: TRIALS,
      loadAverageAtEnd: loadavg().map((l) => +l.toFixed(2)),
      note: 'one thread; alignedSamplesPerSecond = decode + StreamClockAligner (best trial); samplesPerSecond = best of the trials, medianSamplesPerSecond = their median; samples/s counts IMU sample instants (acc and gyro of one instant = 1 sample)',
      results,
    },
    null,
    2,
  ) + '\n',
);
console.log(`\nwrote ${OUT}`);
