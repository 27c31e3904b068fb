/*
 * Nordic Thingy:52, Motion service, raw data characteristic.
 *
 * Follows Nordic's Thingy:52 firmware documentation (NordicSemiconductor/Nordic-Thingy52-FW
 * documentation/firmware_architecture.html, "Motion service") and its sources
 * include/ble_services/ble_tms.h, source/modules/m_motion.c.
 * See docs/ble-protocols.md §5.
 *
 * Raw data (EF680406) is 18 bytes: accel int16 Q6.10 g, gyro int16 Q11.5 °/s, compass
 * int16 Q12.4 µT (the firmware has already remapped the compass axes). There is no
 * timestamp or counter; streaming starts when notifications are enabled, at the motion
 * processing frequency written to the config characteristic (EF680401).
 */
import {
  DEG_TO_RAD,
  STANDARD_GRAVITY,
  type Advertisement,
  type DecodeResult,
  type DeviceDriver,
  type GattStep,
  type StreamDecoder,
  type StreamRequest,
  type StreamSettings,
} from '../driver.ts';
import { guard, reject, view } from './bytes.ts';

const uuid = (short: string) => `ef68${short}9b3549339b1052ffa9740042`;

export const THINGY_MOTION_SERVICE = uuid('0400');
export const THINGY_MOTION_CONFIG = uuid('0401');
export const THINGY_RAW = uuid('0406');
export const THINGY_CONFIG_SERVICE = uuid('0100');
export const THINGY_CONN_PARAMS = uuid('0104');

export const THINGY_RAW_LENGTH = 18;
const MIN_HZ = 5;
const MAX_HZ = 200;

const ACC_SCALE = STANDARD_GRAVITY / 1024;
const GYRO_SCALE = DEG_TO_RAD / 32;
const MAG_SCALE = 1 / 16;

function resolveSettings(req: StreamRequest): StreamSettings {
  const adjustments: string[] = [];
  const rateHz = Math.min(MAX_HZ, Math.max(MIN_HZ, Math.round(req.rateHz)));
  if (rateHz !== req.rateHz)
    adjustments.push(`rate ${req.rateHz} Hz → ${rateHz} Hz (Thingy:52 accepts ${MIN_HZ}–${MAX_HZ})`);
  if (req.accRangeG !== undefined || req.gyroRangeDps !== undefined)
    adjustments.push('Thingy:52 ranges are fixed by its firmware');
  const streams = req.streams?.includes('mag')
    ? (['acc', 'gyro', 'mag'] as const)
    : (['acc', 'gyro'] as const);
  return { rateHz, streams, adjustments };
}

/**
 * Motion config, 9 bytes LE: step-counter interval, temperature-compensation interval,
 * compass-compensation interval (ms), motion processing frequency (Hz), wake-on-motion.
 * The other fields get the firmware defaults, since a write sets all of them.
 */
export function thingyMotionConfig(rateHz: number): Uint8Array {
  const out = new Uint8Array(9);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 1000, true);
  dv.setUint16(2, 500, true);
  dv.setUint16(4, 500, true);
  dv.setUint16(6, rateHz, true);
  out[8] = 1;
  return out;
}

/** Connection parameters: min/max interval 7.5 ms (6 × 1.25 ms), latency 0, timeout 4 s. */
export const THINGY_FAST_CONNECTION = Uint8Array.from([6, 0, 6, 0, 0, 0, 0x90, 0x01]);

function startSequence(settings: StreamSettings): GattStep[] {
  const steps: GattStep[] = [];
  if (settings.rateHz > 50) {
    // Users measured 30–120 Hz at 200 Hz settings with default intervals (Android-Nordic-Thingy#24, #25).
    steps.push({
      op: 'write',
      service: THINGY_CONFIG_SERVICE,
      characteristic: THINGY_CONN_PARAMS,
      data: THINGY_FAST_CONNECTION,
      optional: true,
      label: 'connection interval 7.5 ms',
    });
  }
  steps.push(
    {
      op: 'write',
      service: THINGY_MOTION_SERVICE,
      characteristic: THINGY_MOTION_CONFIG,
      data: thingyMotionConfig(settings.rateHz),
      label: `motion processing ${settings.rateHz} Hz`,
    },
    {
      op: 'subscribe',
      service: THINGY_MOTION_SERVICE,
      characteristic: THINGY_RAW,
      label: 'raw motion notifications',
    },
  );
  return steps;
}

function stopSequence(): GattStep[] {
  return [{ op: 'unsubscribe', service: THINGY_MOTION_SERVICE, characteristic: THINGY_RAW, optional: true }];
}

class ThingyDecoder implements StreamDecoder {
  constructor(private readonly withMag: boolean) {}

  decode(characteristic: string, data: Uint8Array): DecodeResult {
    return guard(() => {
      if (characteristic !== THINGY_RAW)
        return reject('UNKNOWN_CHARACTERISTIC', `Thingy:52 decoder got data for ${characteristic}`);
      if (data.length === 0) return reject('EMPTY', 'empty Thingy:52 raw notification');
      if (data.length < THINGY_RAW_LENGTH)
        return reject('TRUNCATED', `raw motion of ${data.length} bytes, expected ${THINGY_RAW_LENGTH}`);
      if (data.length > THINGY_RAW_LENGTH)
        return reject('BAD_LENGTH', `raw motion of ${data.length} bytes, expected ${THINGY_RAW_LENGTH}`);
      const dv = view(data);
      const acc = new Float32Array(3);
      const gyro = new Float32Array(3);
      for (let c = 0; c < 3; c++) {
        acc[c] = dv.getInt16(2 * c, true) * ACC_SCALE;
        gyro[c] = dv.getInt16(6 + 2 * c, true) * GYRO_SCALE;
      }
      if (!this.withMag) return { ok: true, imu: { n: 1, acc, gyro } };
      const mag = new Float32Array(3);
      for (let c = 0; c < 3; c++) mag[c] = dv.getInt16(12 + 2 * c, true) * MAG_SCALE;
      return { ok: true, imu: { n: 1, acc, gyro, mag } };
    });
  }
}

function matches(advert: Advertisement): boolean {
  // The Thingy advertises its configuration service UUID; the default name is "Thingy".
  return (
    advert.serviceUuids.includes(THINGY_CONFIG_SERVICE) ||
    advert.serviceUuids.includes(THINGY_MOTION_SERVICE) ||
    /^Thingy\b/i.test(advert.localName ?? '')
  );
}

export const thingy52Driver: DeviceDriver = {
  family: 'thingy52',
  displayName: 'Nordic Thingy:52 (motion service, raw data)',
  document:
    'Nordic Thingy:52 firmware documentation, Motion service (NordicSemiconductor/Nordic-Thingy52-FW documentation/firmware_architecture.html, ble_tms.h)',
  role: 'imu',
  capabilities: {
    streams: ['acc', 'gyro', 'mag'],
    ratesHz: [5, 10, 25, 50, 100, 200],
    rateRangeHz: [MIN_HZ, MAX_HZ],
    deviceTime: false,
  },
  services: [THINGY_MOTION_SERVICE, THINGY_CONFIG_SERVICE],
  dataCharacteristics: [THINGY_RAW],
  matches,
  resolveSettings,
  startSequence,
  stopSequence,
  createDecoder: (settings) => new ThingyDecoder(settings.streams.includes('mag')),
};
