import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GattStep } from '../../../../gateway/sources/ble/driver.ts';
import {
  WIT_NOTIFY,
  WIT_SERVICE,
  WIT_WRITE,
  batteryPercent,
  witmotionDriver as driver,
} from '../../../../gateway/sources/ble/devices/witmotion.ts';
import { normalizeUuid } from '../../../../gateway/sources/ble/driver.ts';
import { D2R, G, concatBytes, fromHex, witPacket, witRegisterReply } from './encoders.ts';
import { bytesOf, close, rejected, samples } from './helpers.ts';

const writes = (steps: readonly GattStep[]) =>
  steps.flatMap((s) => (s.op === 'write' ? [bytesOf(s.data)] : []));
const settings = driver.resolveSettings({ rateHz: 100 });

describe('WitMotion WT901BLE', () => {
  it('keeps the vendor base UUID (…805F9A34FB), which is not the SIG base', () => {
    assert.equal(normalizeUuid('0000FFE5-0000-1000-8000-00805F9A34FB'), WIT_SERVICE);
    assert.equal(normalizeUuid('0000FFE5-0000-1000-8000-00805F9B34FB'), 'ffe5');
    assert.notEqual(WIT_SERVICE, 'ffe5');
  });

  it('sets 100 Hz with unlock then register 0x03 = 0x09 (no flash save), then asks for the battery register', () => {
    const w = writes(driver.startSequence(settings));
    assert.deepEqual(w.slice(0, 2), [bytesOf(fromHex('FF AA 69 88 B5')), bytesOf(fromHex('FF AA 03 09 00'))]);
    assert.deepEqual(w[2], bytesOf(fromHex('FF AA 27 64 00')));
    assert.ok(
      driver
        .startSequence(settings)
        .every((s) => s.op === 'delay' || s.op === 'subscribe' || s.characteristic === WIT_WRITE),
    );
    assert.equal(driver.resolveSettings({ rateHz: 150 }).rateHz, 200);
  });

  it('decodes the constructed default packet: 55 61, az = 2048/32768 × 16 g = 1 g', () => {
    const d = driver.createDecoder(settings);
    const imu = samples(
      d.decode(WIT_NOTIFY, concatBytes(fromHex('55 61 00 00 00 00 00 08'), new Uint8Array(12)), 0),
    );
    close(imu.acc, [[0, 0, G]]);
    close(imu.gyro, [[0, 0, 0]]);
    assert.equal(imu.deviceTimeNs, undefined);
  });

  it('scales gyro ±2000 °/s and sign-extends int16', () => {
    const d = driver.createDecoder(settings);
    const imu = samples(d.decode(WIT_NOTIFY, witPacket([-32768, 32767, -1], [16384, -16384, 1]), 0));
    close(imu.acc, [[-16 * G, (32767 / 32768) * 16 * G, (-1 / 32768) * 16 * G]], 1e-6);
    close(imu.gyro, [[1000 * D2R, -1000 * D2R, (2000 / 32768) * D2R]], 1e-6);
  });

  it('decodes several packets in one notification and a packet split across two', () => {
    const d = driver.createDecoder(settings);
    const a = witPacket([1, 2, 3], [4, 5, 6]);
    const b = witPacket([7, 8, 9], [10, 11, 12]);
    assert.equal(samples(d.decode(WIT_NOTIFY, concatBytes(a, b), 0)).n, 2);
    assert.deepEqual(d.decode(WIT_NOTIFY, b.subarray(0, 7), 0), { ok: true });
    const imu = samples(d.decode(WIT_NOTIFY, concatBytes(b.subarray(7), a), 0));
    assert.equal(imu.n, 2);
    close(imu.acc!.subarray(0, 3), [[(7 / 2048) * G, (8 / 2048) * G, (9 / 2048) * G]], 1e-6);
  });

  it('drops a cut-short packet when the next notification starts a new one (TRUNCATED, new packet kept)', () => {
    const d = driver.createDecoder(settings);
    d.decode(WIT_NOTIFY, witPacket([1, 1, 1], [0, 0, 0]).subarray(0, 12), 0);
    const r = d.decode(WIT_NOTIFY, witPacket([2, 2, 2], [0, 0, 0]), 0);
    rejected(r, 'TRUNCATED');
    assert.ok(!r.ok && r.imu?.n === 1);
  });

  it('resynchronises on 55 61 after garbage (RESYNC, salvaged samples)', () => {
    const d = driver.createDecoder(settings);
    const r = d.decode(WIT_NOTIFY, concatBytes([0x00, 0x55, 0x12], witPacket([3, 3, 3], [0, 0, 0])), 0);
    rejected(r, 'RESYNC');
    assert.ok(!r.ok && r.imu?.n === 1);
    rejected(d.decode(WIT_NOTIFY, fromHex('01 02 03'), 0), 'RESYNC');
    rejected(d.decode(WIT_NOTIFY, new Uint8Array(0), 0), 'EMPTY');
  });

  it("turns the battery register reply (int16/100 V) into the vendor app's step percentage", () => {
    const d = driver.createDecoder(settings);
    // 55 71 64 00 7C 01 …: register 0x64 = 0x017C = 380 → 3.80 V → 50 % in the vendor table.
    const bytes = witRegisterReply(0x64, [380]);
    assert.deepEqual([...bytes.subarray(0, 6)], [0x55, 0x71, 0x64, 0x00, 0x7c, 0x01]);
    const r = d.decode(WIT_NOTIFY, bytes, 0);
    assert.ok(r.ok);
    assert.equal(r.battery, 50);
    assert.equal(r.imu, undefined);
    const mag = d.decode(
      WIT_NOTIFY,
      concatBytes(fromHex('55 71 3A 00 68 01 69 00 7A 00'), new Uint8Array(10)),
      0,
    );
    assert.ok(mag.ok && mag.battery === undefined && mag.control?.kind === 'witmotion.register');
  });

  it('matches WitMotion SDK GetBatteryPercent at and around every step (DeviceModel.java)', () => {
    // The vendor's table, written out: [centivolts in register 0x64, percent the vendor app shows].
    const vendor: [number, number][] = [
      [420, 100],
      [400, 100],
      [397, 100],
      [396, 90],
      [394, 90],
      [393, 75],
      [388, 75],
      [387, 60],
      [383, 60],
      [382, 50],
      [380, 50],
      [379, 40],
      [378, 40],
      [377, 30],
      [374, 30],
      [373, 20],
      [371, 20],
      [370, 15],
      [369, 15],
      [368, 10],
      [351, 10],
      [350, 5],
      [341, 5],
      [340, 0],
      [300, 0],
    ];
    for (const [centivolts, percent] of vendor) {
      const r = driver.createDecoder(settings).decode(WIT_NOTIFY, witRegisterReply(0x64, [centivolts]), 0);
      assert.ok(r.ok);
      assert.equal(r.battery, percent, `${centivolts / 100} V`);
    }
    // The two readings the linear mapping got wrong: 4.00 V was 75 %, 3.70 V was 38 %.
    assert.equal(batteryPercent(4.0), 100);
    assert.equal(batteryPercent(3.7), 15);
  });
});
