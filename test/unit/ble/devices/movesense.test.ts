import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  GSP_COMMAND,
  GSP_DATA,
  gspPath,
  gspStatus,
  gspSubscribeCommand,
  movesenseDriver as driver,
} from '../../../../gateway/sources/ble/devices/movesense.ts';
import { D2R, concatBytes, fromHex, gspNotifications, gspPayload } from './encoders.ts';
import { bytesOf, close, rejected, samples } from './helpers.ts';

const rows = (n: number, base: number) =>
  Array.from({ length: n }, (_, i) => [base + i, -(base + i) / 2, i * 0.125]);

describe('Movesense GSP', () => {
  it('encodes the documented SUBSCRIBE /Meas/IMU9/104 (ref 99) and UNSUBSCRIBE commands', () => {
    assert.deepEqual(
      bytesOf(gspSubscribeCommand('/Meas/IMU9/104')),
      bytesOf(fromHex('01 63 2F 4D 65 61 73 2F 49 4D 55 39 2F 31 30 34')),
    );
    const s = driver.resolveSettings({ rateHz: 100, streams: ['acc', 'gyro'] });
    assert.equal(s.rateHz, 104);
    const steps = driver.startSequence(s);
    const sub = steps.find((x) => x.op === 'write' && x.data[0] === 1);
    assert.ok(sub && sub.op === 'write' && sub.characteristic === GSP_COMMAND);
    assert.equal(String.fromCharCode(...sub.data.subarray(2)), '/Meas/IMU6/104');
    const unsub = driver.stopSequence(s)[0]!;
    assert.ok(unsub.op === 'write' && bytesOf(unsub.data).join() === '2,99');
  });

  it('picks the resource from the streams', () => {
    assert.equal(gspPath(['acc'], 13), '/Meas/Acc/13');
    assert.equal(gspPath(['gyro'], 52), '/Meas/Gyro/52');
    assert.equal(gspPath(['acc', 'gyro', 'mag'], 208), '/Meas/IMU9/208');
  });

  it('reads /Meas/Acc/13 x, y, z as float32 at offsets 6, 10, 14 (older client) and times from the first sample', () => {
    const s = driver.resolveSettings({ rateHz: 13, streams: ['acc'] });
    const d = driver.createDecoder(s);
    const payload = gspPayload(1234, [
      [
        [0.5, -9.81, 1.25],
        [0.75, -9.5, 1],
      ],
    ]);
    const msg = concatBytes([2, 99], payload);
    assert.equal(new DataView(msg.buffer).getFloat32(6, true), 0.5);
    assert.equal(new DataView(msg.buffer).getFloat32(14, true), 1.25);
    const imu = samples(d.decode(GSP_DATA, msg, 0));
    close(imu.acc, [
      [0.5, -9.81, 1.25],
      [0.75, -9.5, 1],
    ]);
    assert.equal(imu.gyro, undefined);
    assert.deepEqual(Array.from(imu.deviceTimeNs!), [1234e6, 1234e6 + 1e9 / 13]);
  });

  it('reassembles a 294-byte IMU9 message split into DATA + DATA_PART2 at a 158-byte buffer (n = 8)', () => {
    const s = driver.resolveSettings({ rateHz: 104, streams: ['acc', 'gyro', 'mag'] });
    const d = driver.createDecoder(s);
    const acc = rows(8, 1);
    const gyro = rows(8, 100);
    const mag = rows(8, 40);
    const parts = gspNotifications(99, gspPayload(5000, [acc, gyro, mag]));
    assert.deepEqual(
      parts.map((p) => p.length),
      [158, 138],
    );
    assert.equal(parts[0]!.length + parts[1]!.length - 2, 294);
    assert.deepEqual(d.decode(GSP_DATA, parts[0]!, 0), { ok: true });
    const imu = samples(d.decode(GSP_DATA, parts[1]!, 0));
    assert.equal(imu.n, 8);
    close(imu.acc, acc);
    close(
      imu.gyro,
      gyro.map((r) => r.map((v) => v * D2R)),
    );
    close(imu.mag, mag);
    assert.ok(Math.abs(imu.deviceTimeNs![7]! - (5000e6 + (7 * 1e9) / 104)) < 1);
  });

  it('unwraps the u32 ms timestamp and rejects a step back', () => {
    const d = driver.createDecoder(driver.resolveSettings({ rateHz: 52, streams: ['acc'] }));
    const one = (ms: number) => concatBytes([2, 99], gspPayload(ms, [[[0, 0, 9.8]]]));
    samples(d.decode(GSP_DATA, one(2 ** 32 - 10), 0));
    const t = samples(d.decode(GSP_DATA, one(9), 0)).deviceTimeNs![0]!;
    assert.equal(t, (2 ** 32 + 9) * 1e6);
    rejected(d.decode(GSP_DATA, one(5), 0), 'TIME_NOT_ASCENDING');
  });

  it('reads command results in either byte order and checks the subscribe reply', () => {
    assert.equal(gspStatus(0x01, 0xfb), 507);
    assert.equal(gspStatus(0x00, 0xc8), 200);
    assert.equal(gspStatus(0xc8, 0x00), 200);
    const d = driver.createDecoder(driver.resolveSettings({ rateHz: 52 }));
    const r = d.decode(GSP_DATA, fromHex('01 63 01 FB'), 0);
    assert.ok(r.ok && r.control && !r.control.ok && r.control.code === 'MOVESENSE_STATUS_507');
    const sub = driver
      .startSequence(driver.resolveSettings({ rateHz: 52 }))
      .find((x) => x.op === 'write' && x.response);
    assert.ok(sub && sub.op === 'write' && sub.response);
    assert.deepEqual(sub.response.match(fromHex('01 63 00 C8')), { ok: true });
    assert.equal(sub.response.match(fromHex('02 63 00 00 00 00')), undefined);
    assert.equal(sub.response.optional, true);
  });

  it('rejects malformed messages with coded reasons', () => {
    const d = driver.createDecoder(driver.resolveSettings({ rateHz: 52, streams: ['acc'] }));
    rejected(d.decode(GSP_DATA, new Uint8Array(0), 0), 'EMPTY');
    rejected(d.decode(GSP_DATA, fromHex('02'), 0), 'TRUNCATED');
    rejected(d.decode(GSP_DATA, fromHex('02 63 00'), 0), 'TRUNCATED');
    rejected(d.decode(GSP_DATA, concatBytes([2, 7], gspPayload(1, [[[0, 0, 0]]])), 0), 'BAD_HEADER');
    rejected(d.decode(GSP_DATA, fromHex('03 63 00 00'), 0), 'BAD_HEADER');
    rejected(d.decode(GSP_DATA, fromHex('09 63 00 00'), 0), 'BAD_HEADER');
    rejected(d.decode(GSP_DATA, concatBytes([2, 99], gspPayload(1, [[[NaN, 0, 0]]])), 0), 'NON_FINITE');
    // A DATA that is not whole waits for its continuation; a new DATA reports it as truncated and still decodes.
    assert.deepEqual(
      d.decode(GSP_DATA, concatBytes([2, 99], gspPayload(100, [[[0, 0, 0]]]).subarray(0, 10)), 0),
      { ok: true },
    );
    const r = d.decode(GSP_DATA, concatBytes([2, 99], gspPayload(200, [[[1, 2, 3]]])), 0);
    rejected(r, 'TRUNCATED');
    assert.ok(!r.ok && r.imu?.n === 1);
    rejected(d.decode('2a19', fromHex('01'), 0), 'UNKNOWN_CHARACTERISTIC');
  });
});
