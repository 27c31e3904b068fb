import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { GatewayError } from '../../../../gateway/observability/errors.ts';
import {
  GenericGattDeviceSchema,
  createGenericDriver,
} from '../../../../gateway/sources/ble/devices/generic-gatt.ts';
import { D2R, G } from './encoders.ts';
import { bytesOf, close, rejected, samples } from './helpers.ts';

// A made-up device: header "AB CD" + u32 ms time of the first record, records of acc int16 (mg) and gyro big-endian int16 (0.1 °/s).
const config = {
  name: 'demo-imu',
  match: { localName: '^DemoIMU', serviceUuid: '0000aa00-0000-1000-8000-00805f9b34fb' },
  service: '0000AA00-0000-1000-8000-00805F9B34FB',
  characteristic: '0xAA01',
  rateHz: 50,
  headerBytes: 6,
  magic: 'AB CD',
  recordBytes: 12,
  fields: [
    { channel: 'ax', offset: 0, type: 'int16le', unit: 'mg' },
    { channel: 'ay', offset: 2, type: 'int16le', unit: 'mg' },
    { channel: 'az', offset: 4, type: 'int16le', unit: 'mg' },
    { channel: 'gx', offset: 6, type: 'int16be', scale: 0.1, unit: 'deg/s' },
    { channel: 'gy', offset: 8, type: 'int16be', scale: 0.1, unit: 'deg/s' },
    { channel: 'gz', offset: 10, type: 'int16be', scale: 0.1, unit: 'deg/s' },
  ],
  timestamp: { offset: 2, type: 'uint32le', unit: 'ms' },
  start: [{ characteristic: 'aa02', hex: '01 32', withoutResponse: true, delayMsAfter: 20 }],
  stop: [{ characteristic: 'aa02', hex: '00' }],
};

function packet(tMs: number, records: number[][]): Uint8Array {
  const out = new Uint8Array(6 + 12 * records.length);
  const dv = new DataView(out.buffer);
  out[0] = 0xab;
  out[1] = 0xcd;
  dv.setUint32(2, tMs >>> 0, true);
  records.forEach((r, i) => {
    for (let c = 0; c < 3; c++) dv.setInt16(6 + 12 * i + 2 * c, r[c]!, true);
    for (let c = 0; c < 3; c++) dv.setInt16(6 + 12 * i + 6 + 2 * c, r[3 + c]!, false);
  });
  return out;
}

describe('generic GATT IMU from config', () => {
  const driver = createGenericDriver(config);
  const settings = driver.resolveSettings({ rateHz: 100 });

  it('the config validates against the published TypeBox schema', () => {
    const validate = new Ajv({ useDefaults: true, strict: true }).compile(GenericGattDeviceSchema);
    assert.ok(validate(structuredClone(config)), JSON.stringify(validate.errors));
  });

  it('derives family, UUIDs (noble form), matching and the start/stop writes', () => {
    assert.equal(driver.family, 'generic-gatt:demo-imu');
    assert.deepEqual(driver.services, ['aa00']);
    assert.deepEqual(driver.dataCharacteristics, ['aa01']);
    assert.ok(driver.matches({ localName: 'DemoIMU-7', serviceUuids: ['aa00'] }));
    assert.ok(!driver.matches({ localName: 'DemoIMU-7', serviceUuids: [] }));
    assert.equal(settings.rateHz, 50);
    assert.ok(settings.adjustments.length === 1);
    const steps = driver.startSequence(settings);
    assert.deepEqual(
      steps.map((s) => s.op),
      ['subscribe', 'write', 'delay'],
    );
    const w = steps[1]!;
    assert.ok(
      w.op === 'write' && w.withoutResponse === true && w.characteristic === 'aa02' && w.service === 'aa00',
    );
    assert.ok(w.op === 'write' && bytesOf(w.data).join() === '1,50');
    assert.deepEqual(
      driver.stopSequence(settings).map((s) => s.op),
      ['write', 'unsubscribe'],
    );
  });

  it('decodes records with mixed endianness, scales and units, and times them from the header', () => {
    const d = driver.createDecoder(settings);
    const imu = samples(
      d.decode(
        'aa01',
        packet(1000, [
          [1000, -500, 0, 900, -900, 1],
          [0, 0, -1000, 0, 0, 0],
        ]),
        0,
      ),
    );
    assert.equal(imu.n, 2);
    close(
      imu.acc,
      [
        [G, -G / 2, 0],
        [0, 0, -G],
      ],
      1e-6,
    );
    close(
      imu.gyro,
      [
        [90 * D2R, -90 * D2R, 0.1 * D2R],
        [0, 0, 0],
      ],
      1e-6,
    );
    assert.deepEqual(Array.from(imu.deviceTimeNs!), [1000e6, 1020e6]);
    samples(d.decode('aa01', packet(2 ** 32 - 100, [[0, 0, 0, 0, 0, 0]]), 0));
    const wrapped = samples(d.decode('aa01', packet(2 ** 32 + 5, [[0, 0, 0, 0, 0, 0]]), 0)).deviceTimeNs![0];
    assert.equal(wrapped, (2 ** 32 + 5) * 1e6, 'u32 wrap unwrapped');
    rejected(d.decode('aa01', packet(2 ** 32 + 1, [[0, 0, 0, 0, 0, 0]]), 0), 'TIME_NOT_ASCENDING');
  });

  it('rejects wrong magic, partial records, short packets', () => {
    const d = driver.createDecoder(settings);
    const p = packet(0, [[0, 0, 0, 0, 0, 0]]);
    rejected(d.decode('aa01', new Uint8Array(0), 0), 'EMPTY');
    rejected(d.decode('aa01', p.subarray(0, 10), 0), 'TRUNCATED');
    rejected(d.decode('aa01', Uint8Array.from([...p, 0]), 0), 'BAD_LENGTH');
    rejected(d.decode('aa01', Uint8Array.from([0xab, 0xce, ...p.subarray(2)]), 0), 'BAD_HEADER');
    rejected(d.decode('aa02', p, 0), 'UNKNOWN_CHARACTERISTIC');
  });

  it('accepts float32 fields and a gyro-only device; rejects a non-finite float', () => {
    const g = createGenericDriver({
      name: 'gyro-only',
      service: 'bb00',
      characteristic: 'bb01',
      rateHz: 10,
      recordBytes: 12,
      fields: ['gx', 'gy', 'gz'].map((channel, i) => ({
        channel,
        offset: 4 * i,
        type: 'float32le',
        unit: 'rad/s',
      })),
    });
    const d = g.createDecoder(g.resolveSettings({ rateHz: 10 }));
    const buf = new Uint8Array(12);
    new DataView(buf.buffer).setFloat32(0, 1.5, true);
    const imu = samples(d.decode('bb01', buf, 0));
    close(imu.gyro, [[1.5, 0, 0]]);
    assert.equal(imu.acc, undefined);
    assert.equal(imu.deviceTimeNs, undefined);
    new DataView(buf.buffer).setFloat32(4, Infinity, true);
    rejected(d.decode('bb01', buf, 0), 'NON_FINITE');
  });

  it('refuses invalid configs with BLE_GENERIC_CONFIG_INVALID naming the key', () => {
    const bad = (patch: Record<string, unknown>, key: string) => {
      assert.throws(
        () => createGenericDriver({ ...config, ...patch }),
        (err: unknown) =>
          err instanceof GatewayError &&
          err.code === 'BLE_GENERIC_CONFIG_INVALID' &&
          err.message.includes(key) &&
          err.message.includes('demo-imu'),
        key,
      );
    };
    bad({ recordBytes: 10 }, 'fields[5].offset');
    bad({ fields: config.fields.slice(0, 5) }, 'gyro needs all of');
    bad({ fields: [...config.fields.slice(0, 5), { ...config.fields[0], channel: 'ax' }] }, 'given twice');
    bad({ magic: 'AB CD EF 01 02 03 04' }, 'magic');
    bad({ timestamp: { offset: 4, type: 'uint32le', unit: 'ms' } }, 'timestamp.offset');
    bad({ match: { localName: '(' } }, 'match.localName');
    bad({ fields: [{ ...config.fields[0], unit: 'deg/s' }, ...config.fields.slice(1)] }, 'fields[0].unit');
    bad({ rateHz: 0 }, 'rateHz');
    bad({ service: 'not-a-uuid' }, 'service');
    bad({ extra: 1 }, '/');
  });
});
