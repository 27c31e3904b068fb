/*
 * WitMotion WT901BLE / BWT901BLECL5.0 (BLE 5.0 modules).
 *
 * Follows the WT901BLECL datasheet v20-0707 (WitMotion wiki, pp. 12–16) and WitMotion's
 * official SDKs (WITMOTION/WitBluetooth_BWT901BLE5_0: Python device_model.py, Android
 * DeviceModel.java). See docs/ble-protocols.md §4.
 *
 * The sensor streams 20-byte packets `55 61` + 9 × int16 LE (acc ±16 g, gyro ±2000 °/s,
 * angles ±180°) as soon as notifications are on; register replies are `55 71 reg…`. There is
 * no checksum, timestamp or counter. The SDKs treat the notifications as a byte stream and
 * resynchronise on `55 61|71`; so does this decoder, but a packet cut short is dropped when
 * the next notification starts with a fresh header instead of being glued to it.
 */
import {
  DEG_TO_RAD,
  STANDARD_GRAVITY,
  nearest,
  type Advertisement,
  type DecodeResult,
  type DeviceDriver,
  type GattStep,
  type ImuSamples,
  type StreamDecoder,
  type StreamRequest,
  type StreamSettings,
} from '../driver.ts';
import { guard, reject, view } from './bytes.ts';

// Vendor base …805F9A34FB (not the SIG base …805F9B34FB): every official SDK uses it.
export const WIT_SERVICE = '0000ffe500001000800000805f9a34fb';
export const WIT_NOTIFY = '0000ffe400001000800000805f9a34fb';
export const WIT_WRITE = '0000ffe900001000800000805f9a34fb';

export const WIT_PACKET = 20;
const SYNC = 0x55;
export const WitFlag = { DATA: 0x61, REGISTER: 0x71 } as const;
export const WitRegister = { RATE: 0x03, MAG: 0x3a, QUATERNION: 0x51, BATTERY: 0x64 } as const;

/** Return-rate codes of register 0x03 (Android SDK). */
export const WIT_RATE_CODES: Record<number, number> = {
  1: 0x03,
  5: 0x05,
  10: 0x06,
  50: 0x08,
  100: 0x09,
  200: 0x0b,
};
const RATES_HZ = Object.keys(WIT_RATE_CODES).map(Number);

const ACC_SCALE = (16 * STANDARD_GRAVITY) / 32768;
const GYRO_SCALE = (2000 * DEG_TO_RAD) / 32768;

function resolveSettings(req: StreamRequest): StreamSettings {
  const adjustments: string[] = [];
  const rateHz = nearest(RATES_HZ, req.rateHz);
  if (rateHz !== req.rateHz) adjustments.push(`rate ${req.rateHz} Hz → ${rateHz} Hz`);
  if (
    (req.accRangeG !== undefined && req.accRangeG !== 16) ||
    (req.gyroRangeDps !== undefined && req.gyroRangeDps !== 2000)
  ) {
    adjustments.push('WitMotion ranges are fixed at ±16 g and ±2000 °/s');
  }
  return { rateHz, accRangeG: 16, gyroRangeDps: 2000, streams: ['acc', 'gyro'], adjustments };
}

export function witWrite(reg: number, value: number): Uint8Array {
  return Uint8Array.from([0xff, 0xaa, reg, value & 0xff, (value >> 8) & 0xff]);
}
export function witReadRegister(reg: number): Uint8Array {
  return Uint8Array.from([0xff, 0xaa, 0x27, reg, 0x00]);
}
export const WIT_UNLOCK = Uint8Array.from([0xff, 0xaa, 0x69, 0x88, 0xb5]);

function write(data: Uint8Array, label: string): GattStep {
  // The SDKs' ffe9 writes go out as ATT write commands on the modules we know of.
  return { op: 'write', service: WIT_SERVICE, characteristic: WIT_WRITE, data, withoutResponse: true, label };
}

function startSequence(settings: StreamSettings): GattStep[] {
  return [
    {
      op: 'subscribe',
      service: WIT_SERVICE,
      characteristic: WIT_NOTIFY,
      label: 'WitMotion data notifications',
    },
    // Unlock is valid ~10 s; the Python SDK waits 100 ms before the register write. No save:
    // the rate is set on every connection instead of wearing the flash.
    write(WIT_UNLOCK, 'unlock registers'),
    { op: 'delay', ms: 100 },
    write(
      witWrite(WitRegister.RATE, WIT_RATE_CODES[settings.rateHz] ?? 0x09),
      `return rate ${settings.rateHz} Hz`,
    ),
    // The reply (55 71 64 00 …) carries the battery voltage; it arrives among the data packets.
    write(witReadRegister(WitRegister.BATTERY), 'read battery voltage'),
  ];
}

function stopSequence(): GattStep[] {
  return [{ op: 'unsubscribe', service: WIT_SERVICE, characteristic: WIT_NOTIFY, optional: true }];
}

class WitMotionDecoder implements StreamDecoder {
  /** Start of a packet cut off at the end of the previous notification. */
  private carry: Uint8Array | undefined;

  decode(characteristic: string, data: Uint8Array): DecodeResult {
    return guard(() => {
      if (characteristic !== WIT_NOTIFY)
        return reject('UNKNOWN_CHARACTERISTIC', `WitMotion decoder got data for ${characteristic}`);
      if (data.length === 0) return reject('EMPTY', 'empty WitMotion notification');
      let buf = data;
      let droppedCarry = false;
      if (this.carry) {
        if (isHeader(data, 0)) droppedCarry = true;
        else {
          buf = new Uint8Array(this.carry.length + data.length);
          buf.set(this.carry, 0);
          buf.set(data, this.carry.length);
        }
        this.carry = undefined;
      }
      return this.parse(buf, droppedCarry);
    });
  }

  private parse(buf: Uint8Array, droppedCarry: boolean): DecodeResult {
    const dv = view(buf);
    const maxPackets = Math.floor(buf.length / WIT_PACKET);
    // One allocation: acc in the first half, gyro in the second.
    const values = new Float32Array(6 * maxPackets);
    const acc = values.subarray(0, 3 * maxPackets);
    const gyro = values.subarray(3 * maxPackets);
    let n = 0;
    let skipped = 0;
    let battery: number | undefined;
    let registerReplies = 0;
    let i = 0;
    while (i < buf.length) {
      if (!isHeader(buf, i)) {
        // A lone 0x55 at the very end may be the start of the next packet.
        if (i === buf.length - 1 && buf[i] === SYNC) break;
        i++;
        skipped++;
        continue;
      }
      if (i + WIT_PACKET > buf.length) break;
      if (buf[i + 1] === WitFlag.DATA) {
        for (let c = 0; c < 3; c++) {
          acc[n * 3 + c] = dv.getInt16(i + 2 + 2 * c, true) * ACC_SCALE;
          gyro[n * 3 + c] = dv.getInt16(i + 8 + 2 * c, true) * GYRO_SCALE;
        }
        n++;
      } else {
        registerReplies++;
        // Register reply: 55 71 regL regH + 8 × int16 starting at that register.
        const reg = dv.getUint16(i + 2, true);
        if (reg <= WitRegister.BATTERY && reg + 8 > WitRegister.BATTERY) {
          const volts = dv.getInt16(i + 4 + 2 * (WitRegister.BATTERY - reg), true) / 100;
          battery = batteryPercent(volts);
        }
      }
      i += WIT_PACKET;
    }
    if (i < buf.length) this.carry = buf.slice(i);
    const imu: ImuSamples | undefined =
      n > 0 ? { n, acc: acc.subarray(0, 3 * n), gyro: gyro.subarray(0, 3 * n) } : undefined;
    if (droppedCarry)
      return reject('TRUNCATED', 'a WitMotion packet cut short was followed by a new packet; dropped', imu);
    if (skipped > 0)
      return reject('RESYNC', `skipped ${skipped} bytes that were not part of a 55 61/55 71 packet`, imu);
    const out: { ok: true; imu?: ImuSamples; battery?: number; control?: { kind: string; ok: boolean } } = {
      ok: true,
    };
    if (imu) out.imu = imu;
    if (battery !== undefined) out.battery = battery;
    if (registerReplies > 0) out.control = { kind: 'witmotion.register', ok: true };
    return out;
  }
}

/**
 * The module reports only the cell voltage (register 0x64, V × 100). WitMotion's own app
 * shows a step table, not a line: `GetBatteryPercent` in the vendor SDK
 * (WITMOTION/WitBluetooth_BWT901BLE5_0, Android_Java/wit-example-ble5/WitSDK/…/Device/
 * DeviceModel.java): above each voltage, that percentage (strictly above: 3.70 V is 15 %).
 * Using the vendor's table means the gateway and the WitMotion app agree on the same device.
 */
export const WITMOTION_BATTERY_STEPS: readonly (readonly [volts: number, percent: number])[] = [
  [3.96, 100],
  [3.93, 90],
  [3.87, 75],
  [3.82, 60],
  [3.79, 50],
  [3.77, 40],
  [3.73, 30],
  [3.7, 20],
  [3.68, 15],
  [3.5, 10],
  [3.4, 5],
];

export function batteryPercent(volts: number): number {
  // Compared in centivolts, as the register carries them: 3.70 must not read as 3.7000001.
  const centivolts = Math.round(volts * 100);
  for (const [threshold, percent] of WITMOTION_BATTERY_STEPS)
    if (centivolts > Math.round(threshold * 100)) return percent;
  return 0;
}

function isHeader(buf: Uint8Array, i: number): boolean {
  return buf[i] === SYNC && (buf[i + 1] === WitFlag.DATA || buf[i + 1] === WitFlag.REGISTER);
}

function matches(advert: Advertisement): boolean {
  return advert.serviceUuids.includes(WIT_SERVICE) || /^(WT|BWT)\d+/i.test(advert.localName ?? '');
}

export const witmotionDriver: DeviceDriver = {
  family: 'witmotion',
  displayName: 'WitMotion WT901BLE / BWT901BLECL5.0',
  document:
    'WitMotion WT901BLECL datasheet v20-0707 and WITMOTION/WitBluetooth_BWT901BLE5_0 SDKs (device_model.py, DeviceModel.java)',
  role: 'imu',
  capabilities: {
    streams: ['acc', 'gyro'],
    ratesHz: RATES_HZ,
    accRangesG: [16],
    gyroRangesDps: [2000],
    deviceTime: false,
  },
  services: [WIT_SERVICE],
  dataCharacteristics: [WIT_NOTIFY],
  matches,
  resolveSettings,
  startSequence,
  stopSequence,
  createDecoder: () => new WitMotionDecoder(),
};
