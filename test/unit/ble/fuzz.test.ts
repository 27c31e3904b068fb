/*
 * Fuzz every BLE decoder with ≥ 100,000 random and mutated notifications (fast-check,
 * fixed seeds so a failure reproduces). Each run feeds a sequence of packets through ONE
 * decoder instance, so state (Polar time bases and multi-part responses, Movesense
 * reassembly, WitMotion carry-over) is exercised too. Checked for every packet:
 * - decode returns (never throws) and never reports INTERNAL (a caught decoder bug);
 * - a rejection carries a known code and a message;
 * - samples are well-formed: n ≥ 1, xyz arrays of 3n finite values, finite ascending times;
 * and, where the format makes validity decidable per packet, an independent oracle written
 * from the document agrees on which packets are bad.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type {
  DecodeResult,
  DeviceDriver,
  StreamDecoder,
  StreamRequest,
} from '../../../gateway/sources/ble/driver.ts';
import { BATTERY_LEVEL, batteryDriver } from '../../../gateway/sources/ble/devices/battery.ts';
import { createGenericDriver } from '../../../gateway/sources/ble/devices/generic-gatt.ts';
import { METAWEAR_NOTIFY, metawearDriver } from '../../../gateway/sources/ble/devices/metawear.ts';
import { GSP_DATA, movesenseDriver } from '../../../gateway/sources/ble/devices/movesense.ts';
import {
  PMD_CONTROL_POINT,
  PMD_DATA,
  polarPmdDriver,
} from '../../../gateway/sources/ble/devices/polar-pmd.ts';
import { THINGY_RAW, thingy52Driver } from '../../../gateway/sources/ble/devices/thingy52.ts';
import { WIT_NOTIFY, witmotionDriver } from '../../../gateway/sources/ble/devices/witmotion.ts';
import {
  concatBytes,
  deltaWidth,
  fromHex,
  gspNotifications,
  gspPayload,
  metawearSamples,
  pmdCompressedFrame,
  pmdFactorParam,
  pmdRawFrame,
  pmdResponse,
  thingyRaw,
  witPacket,
  witRegisterReply,
} from './devices/encoders.ts';

const REASONS = new Set([
  'EMPTY',
  'TRUNCATED',
  'BAD_LENGTH',
  'TRAILING_BYTES',
  'BAD_MEASUREMENT_TYPE',
  'BAD_FRAME_TYPE',
  'BAD_HEADER',
  'BAD_DELTA_BLOCK',
  'NON_FINITE',
  'OUT_OF_RANGE',
  'TIME_NOT_ASCENDING',
  'UNKNOWN_CHARACTERISTIC',
  'UNEXPECTED_CONTROL',
  'RESYNC',
]);

const PACKETS_PER_RUN = 25;
const RUNS = 4000; // × 25 = 100,000 packets per decoder

function checkWellFormed(r: DecodeResult, what: string): void {
  if (!r.ok) {
    assert.ok(REASONS.has(r.reason), `${what}: unknown or internal reason ${r.reason}: ${r.message}`);
    assert.equal(typeof r.message, 'string');
  }
  if (r.ok && r.battery !== undefined)
    assert.ok(
      Number.isInteger(r.battery) && r.battery >= 0 && r.battery <= 100,
      `${what}: battery ${r.battery}`,
    );
  const imu = r.imu;
  if (!imu) return;
  assert.ok(Number.isInteger(imu.n) && imu.n >= 1, `${what}: n = ${imu.n}`);
  assert.ok(imu.acc || imu.gyro || imu.mag, `${what}: samples without channels`);
  for (const a of [imu.acc, imu.gyro, imu.mag]) {
    if (!a) continue;
    assert.equal(a.length, 3 * imu.n, `${what}: channel length`);
    for (let i = 0; i < a.length; i++) assert.ok(Number.isFinite(a[i]!), `${what}: non-finite value`);
  }
  if (imu.deviceTimeNs) {
    assert.equal(imu.deviceTimeNs.length, imu.n);
    for (let i = 0; i < imu.n; i++) {
      assert.ok(Number.isFinite(imu.deviceTimeNs[i]!), `${what}: non-finite time`);
      if (i > 0) assert.ok(imu.deviceTimeNs[i]! >= imu.deviceTimeNs[i - 1]!, `${what}: times not ascending`);
    }
  }
}

/** Mutations of a valid packet: flip a bit, set a byte, truncate, append, insert, splice. */
type Op = [kind: number, pos: number, value: number];
function mutate(seed: Uint8Array, ops: Op[], other: Uint8Array): Uint8Array {
  let b: Uint8Array = Uint8Array.from(seed);
  for (const [kind, pos, value] of ops) {
    const p = b.length === 0 ? 0 : pos % b.length;
    switch (kind) {
      case 0:
        if (b.length) b[p] = b[p]! ^ (1 << (value & 7));
        break;
      case 1:
        if (b.length) b[p] = value;
        break;
      case 2:
        b = b.slice(0, p);
        break;
      case 3:
        b = concatBytes(
          b,
          Array.from({ length: (value % 24) + 1 }, (_, i) => (value * 31 + i * 7) & 0xff),
        );
        break;
      case 4:
        b = concatBytes(b.subarray(0, p), [value], b.subarray(p));
        break;
      default:
        b = concatBytes(b.subarray(0, p), other.subarray(pos % (other.length + 1)));
    }
  }
  return b;
}

interface Packet {
  readonly characteristic: string;
  readonly data: Uint8Array;
}

function packetArbitrary(seeds: Packet[], characteristics: string[]): fc.Arbitrary<Packet> {
  const op = fc.tuple(fc.integer({ min: 0, max: 5 }), fc.nat(), fc.integer({ min: 0, max: 255 }));
  const mutated = fc
    .tuple(fc.constantFrom(...seeds), fc.array(op, { minLength: 1, maxLength: 4 }), fc.constantFrom(...seeds))
    .map(([s, ops, o]) => ({ characteristic: s.characteristic, data: mutate(s.data, ops, o.data) }));
  const random = fc
    .tuple(fc.constantFrom(...characteristics, 'ffff'), fc.uint8Array({ maxLength: 240 }))
    .map(([characteristic, data]) => ({ characteristic, data }));
  return fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(...seeds) },
    { weight: 4, arbitrary: mutated },
    { weight: 2, arbitrary: random },
  );
}

/** Runs RUNS sequences of PACKETS_PER_RUN packets through fresh decoders; `oracle` (optional) says which packets must be rejected. */
function fuzz(
  name: string,
  makeDecoder: () => StreamDecoder,
  seeds: Packet[],
  characteristics: string[],
  oracle?: (p: Packet) => boolean | undefined,
): string {
  let count = 0;
  let rejectedCount = 0;
  let withSamples = 0;
  let oracleChecks = 0;
  fc.assert(
    fc.property(
      fc.array(packetArbitrary(seeds, characteristics), {
        minLength: PACKETS_PER_RUN,
        maxLength: PACKETS_PER_RUN,
      }),
      (packets) => {
        const d = makeDecoder();
        for (const p of packets) {
          const r = d.decode(p.characteristic, p.data, 0);
          count++;
          if (!r.ok) rejectedCount++;
          if (r.imu || (r.ok && r.battery !== undefined)) withSamples++;
          checkWellFormed(r, name);
          const bad = oracle?.(p);
          if (bad !== undefined) oracleChecks++;
          if (bad !== undefined)
            assert.equal(
              r.ok,
              !bad,
              `${name}: oracle says ${bad ? 'bad' : 'good'}: ${Buffer.from(p.data).toString('hex')} → ${r.ok ? 'ok' : r.reason}`,
            );
        }
      },
    ),
    { numRuns: RUNS, seed: [...name].reduce((a, c) => (a * 31 + c.charCodeAt(0)) | 0, 7) },
  );
  assert.ok(count >= 100_000, `${name}: ${count} packets`);
  assert.ok(rejectedCount > count / 10, `${name}: the fuzz reaches rejections (${rejectedCount})`);
  assert.ok(withSamples > count / 20, `${name}: the fuzz reaches valid packets (${withSamples})`);
  return `${name}: ${count} packets, ${rejectedCount} rejected, ${withSamples} with samples or a battery level, ${oracleChecks} checked by the oracle`;
}

const ALL = (driver: DeviceDriver, req: StreamRequest = { rateHz: 100 }) =>
  driver.createDecoder(driver.resolveSettings(req));

describe('BLE decoder fuzz (≥ 100,000 packets per decoder)', () => {
  it('Polar PMD', (t) => {
    const rows = Array.from({ length: 30 }, (_, i) => [
      Math.round(1000 * Math.sin(i / 3)),
      Math.round(800 * Math.cos(i / 5)),
      1000 - i * 3,
    ]);
    const seeds: Packet[] = [
      {
        characteristic: PMD_DATA,
        data: fromHex('02 00 94 35 77 00 00 00 00 01 F7 FF FF FF E7 03 F8 FF FE FF E5 03'),
      },
      {
        characteristic: PMD_DATA,
        data: pmdCompressedFrame(2, 10n ** 15n, 1, 2, rows, [
          { width: deltaWidth(rows, 1, 11), count: 10 },
          { width: 16, count: 19 },
        ]),
      },
      {
        characteristic: PMD_DATA,
        data: pmdCompressedFrame(5, 10n ** 15n, 0, 2, rows.slice(0, 8), [
          { width: deltaWidth(rows, 1, 8), count: 7 },
        ]),
      },
      { characteristic: PMD_DATA, data: pmdRawFrame(5, 10n ** 15n, 1, 4, [[0x41200000, 0xc1200000, 0]]) },
      {
        characteristic: PMD_DATA,
        data: pmdRawFrame(2, 10n ** 15n, 0, 1, [
          [1, -2, 100],
          [3, 4, 5],
        ]),
      },
      { characteristic: PMD_CONTROL_POINT, data: pmdResponse(2, 2, 0, pmdFactorParam(0.25)) },
      { characteristic: PMD_CONTROL_POINT, data: pmdResponse(2, 5, 0, pmdFactorParam(0.01), 1) },
      { characteristic: PMD_CONTROL_POINT, data: fromHex('01 02') },
      { characteristic: PMD_CONTROL_POINT, data: fromHex('0F 25 00') },
    ];
    t.diagnostic(
      fuzz('polar-pmd', () => ALL(polarPmdDriver, { rateHz: 52, localName: 'Polar Sense 1' }), seeds, [
        PMD_DATA,
        PMD_CONTROL_POINT,
      ]),
    );
  });

  it('Polar PMD: a compressed frame cut anywhere but a block boundary is rejected (100,000 cuts)', (t) => {
    const d = ALL(polarPmdDriver, { rateHz: 52, localName: 'Polar Sense 1' });
    let cuts = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: -32768, max: 32767 }),
            fc.integer({ min: -2000, max: 2000 }),
            fc.integer({ min: -5, max: 5 }),
          ),
          { minLength: 2, maxLength: 40 },
        ),
        fc.integer({ min: 1, max: 12 }),
        (rows, blockSize) => {
          const samplesIn = rows.map((r) => [...r]);
          const blocks: { width: number; count: number }[] = [];
          const boundaries = new Set<number>([10 + 6]);
          let at = 16;
          for (let s = 1; s < samplesIn.length; s += blockSize) {
            const count = Math.min(blockSize, samplesIn.length - s);
            const width = deltaWidth(samplesIn, s, s + count);
            blocks.push({ width, count });
            at += 2 + Math.ceil((count * 3 * width) / 8);
            boundaries.add(at);
          }
          const frame = pmdCompressedFrame(2, 0n, 1, 2, samplesIn, blocks);
          const dv = new DataView(frame.buffer);
          for (let len = 10; len <= frame.length; len++) {
            // A later stamp for every frame, so the time base never rejects a structurally valid cut.
            dv.setBigUint64(1, 10n ** 15n + BigInt(++cuts) * 10n ** 8n, true);
            const r = d.decode(PMD_DATA, frame.subarray(0, len), 0);
            assert.equal(
              r.ok,
              boundaries.has(len),
              `cut at ${len} of ${frame.length}: ${r.ok ? 'ok' : r.reason}`,
            );
          }
        },
      ),
      { numRuns: 2000, seed: 42 },
    );
    assert.ok(cuts >= 100_000, `${cuts} cuts`);
    t.diagnostic(`polar-pmd cuts: ${cuts} truncated compressed frames checked against block boundaries`);
  });

  it('Movesense GSP', (t) => {
    const acc = [
      [0.1, 9.8, -0.2],
      [0.2, 9.7, -0.1],
    ];
    const imu6 = gspPayload(1000, [acc, acc, acc].slice(0, 2));
    const seeds: Packet[] = [
      ...gspNotifications(99, imu6).map((data) => ({ characteristic: GSP_DATA, data })),
      ...gspNotifications(
        99,
        gspPayload(
          2000,
          Array.from({ length: 2 }, () => Array.from({ length: 8 }, () => [1, 2, 3])),
        ),
        100,
      ).map((data) => ({ characteristic: GSP_DATA, data })),
      { characteristic: GSP_DATA, data: fromHex('01 63 00 C8') },
      { characteristic: GSP_DATA, data: fromHex('01 63 48 65 6C 6C 6F') },
    ];
    t.diagnostic(
      fuzz('movesense', () => ALL(movesenseDriver, { rateHz: 104, streams: ['acc', 'gyro'] }), seeds, [
        GSP_DATA,
      ]),
    );
  });

  it('MetaWear (oracle: documented register and length)', (t) => {
    const seeds: Packet[] = [
      { characteristic: METAWEAR_NOTIFY, data: fromHex('03 04 16 C4 94 A2 2A D0') },
      {
        characteristic: METAWEAR_NOTIFY,
        data: fromHex('03 1C 62 B7 53 0D E9 FD 16 D0 4D 0E 57 02 8A FF A1 05 0A 01'),
      },
      { characteristic: METAWEAR_NOTIFY, data: metawearSamples(0x13, 0x05, [[100, -100, 3]]) },
      {
        characteristic: METAWEAR_NOTIFY,
        data: metawearSamples(0x13, 0x07, [
          [1, 2, 3],
          [4, 5, 6],
          [7, 8, 9],
        ]),
      },
      { characteristic: METAWEAR_NOTIFY, data: fromHex('03 80 01 01') },
    ];
    const valid = (p: Packet): boolean => {
      const b = p.data;
      if (p.characteristic !== METAWEAR_NOTIFY || b.length < 2) return false;
      if (b[1] === 0x80) return true;
      if (b[0] === 0x03 && b[1] === 0x04) return b.length === 8;
      if (b[0] === 0x03 && b[1] === 0x1c) return b.length === 20;
      if (b[0] === 0x13 && b[1] === 0x05) return b.length === 8;
      if (b[0] === 0x13 && b[1] === 0x07) return b.length === 20;
      return false;
    };
    t.diagnostic(
      fuzz(
        'metawear',
        () => ALL(metawearDriver, { rateHz: 100, variant: 'bmi160' }),
        seeds,
        [METAWEAR_NOTIFY],
        (p) => !valid(p),
      ),
    );
  });

  it('WitMotion (oracle: 20+ bytes without 0x55 cannot all be packet bytes)', (t) => {
    const seeds: Packet[] = [
      { characteristic: WIT_NOTIFY, data: witPacket([0, 0, 2048], [10, -10, 0], [100, 200, 300]) },
      {
        characteristic: WIT_NOTIFY,
        data: concatBytes(witPacket([1, 2, 3], [4, 5, 6]), witPacket([-1, -2, -3], [-4, -5, -6])),
      },
      { characteristic: WIT_NOTIFY, data: witRegisterReply(0x64, [395]) },
      { characteristic: WIT_NOTIFY, data: witPacket([5, 5, 5], [5, 5, 5]).subarray(0, 11) },
    ];
    // Decidable whatever the carry-over: ≥ 20 bytes without any 0x55 cannot all belong to packets
    // (at most 19 of them can complete a packet cut short in the previous notification).
    const oracle = (p: Packet) =>
      p.characteristic === WIT_NOTIFY && p.data.length >= 20 && !p.data.includes(0x55) ? true : undefined;
    t.diagnostic(fuzz('witmotion', () => ALL(witmotionDriver), seeds, [WIT_NOTIFY], oracle));
  });

  it('Thingy:52 (oracle: exactly 18 bytes on the raw characteristic)', (t) => {
    const seeds: Packet[] = [
      { characteristic: THINGY_RAW, data: thingyRaw([0, 0, 1024], [32, -32, 0], [16, 0, -16]) },
    ];
    t.diagnostic(
      fuzz(
        'thingy52',
        () => ALL(thingy52Driver, { rateHz: 100, streams: ['acc', 'gyro', 'mag'] }),
        seeds,
        [THINGY_RAW],
        (p) => !(p.characteristic === THINGY_RAW && p.data.length === 18),
      ),
    );
  });

  it('Battery level (oracle: one byte ≤ 100)', (t) => {
    const seeds: Packet[] = [0, 42, 100].map((v) => ({
      characteristic: BATTERY_LEVEL,
      data: Uint8Array.of(v),
    }));
    t.diagnostic(
      fuzz(
        'battery',
        () => ALL(batteryDriver),
        seeds,
        [BATTERY_LEVEL],
        (p) => !(p.characteristic === BATTERY_LEVEL && p.data.length === 1 && p.data[0]! <= 100),
      ),
    );
  });

  it('generic GATT (oracle: magic, header + whole records)', (t) => {
    const driver = createGenericDriver({
      name: 'fuzz',
      service: 'aa00',
      characteristic: 'aa01',
      rateHz: 100,
      headerBytes: 2,
      magic: 'A5',
      recordBytes: 9,
      fields: [
        { channel: 'ax', offset: 0, type: 'int16le', unit: 'mg' },
        { channel: 'ay', offset: 2, type: 'int16be', unit: 'mg' },
        { channel: 'az', offset: 4, type: 'int24le', scale: 0.001, unit: 'g' },
        { channel: 'gx', offset: 7, type: 'int8', unit: 'deg/s' },
        { channel: 'gy', offset: 8, type: 'uint8', unit: 'deg/s' },
        { channel: 'gz', offset: 1, type: 'uint16le', unit: 'rad/s', scale: 1e-3 },
      ],
    });
    const seeds: Packet[] = [
      { characteristic: 'aa01', data: fromHex('A5 00 01 02 03 04 05 06 07 08 09') },
      {
        characteristic: 'aa01',
        data: fromHex('A5 01 01 02 03 04 05 06 07 08 09 11 12 13 14 15 16 17 18 19'),
      },
    ];
    const oracle = (p: Packet) =>
      !(
        p.characteristic === 'aa01' &&
        p.data.length >= 11 &&
        (p.data.length - 2) % 9 === 0 &&
        p.data[0] === 0xa5
      );
    t.diagnostic(
      fuzz(
        'generic-gatt',
        () => driver.createDecoder(driver.resolveSettings({ rateHz: 100 })),
        seeds,
        ['aa01'],
        oracle,
      ),
    );
  });
});
