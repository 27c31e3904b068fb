/*
 * Bluetooth SIG Battery Service (0x180F), Battery Level characteristic (0x2A19), for any
 * device that has it. Follows the Bluetooth SIG service/characteristic definitions
 * (org.bluetooth.service.battery_service, org.bluetooth.characteristic.battery_level; read
 * through the oesmith/gatt-xml copies): a uint8 percentage 0–100, 101–255 reserved; read
 * mandatory, notify optional. See docs/ble-protocols.md §6.
 */
import type {
  Advertisement,
  DecodeResult,
  DeviceDriver,
  GattStep,
  StreamDecoder,
  StreamRequest,
  StreamSettings,
} from '../driver.ts';
import { guard, reject } from './bytes.ts';

export const BATTERY_SERVICE = '180f';
export const BATTERY_LEVEL = '2a19';

function resolveSettings(req: StreamRequest): StreamSettings {
  return { rateHz: req.rateHz, streams: [], adjustments: [] };
}

function startSequence(): GattStep[] {
  return [
    { op: 'read', service: BATTERY_SERVICE, characteristic: BATTERY_LEVEL, label: 'battery level' },
    {
      op: 'subscribe',
      service: BATTERY_SERVICE,
      characteristic: BATTERY_LEVEL,
      optional: true,
      label: 'battery level notifications (optional in the spec)',
    },
  ];
}

function stopSequence(): GattStep[] {
  return [{ op: 'unsubscribe', service: BATTERY_SERVICE, characteristic: BATTERY_LEVEL, optional: true }];
}

export function decodeBatteryLevel(data: Uint8Array): DecodeResult {
  if (data.length === 0) return reject('EMPTY', 'empty battery level');
  if (data.length > 1) return reject('BAD_LENGTH', `battery level of ${data.length} bytes, expected 1`);
  const level = data[0]!;
  if (level > 100) return reject('OUT_OF_RANGE', `battery level ${level} is in the reserved range 101–255`);
  return { ok: true, battery: level };
}

class BatteryDecoder implements StreamDecoder {
  decode(characteristic: string, data: Uint8Array): DecodeResult {
    return guard(() =>
      characteristic === BATTERY_LEVEL
        ? decodeBatteryLevel(data)
        : reject('UNKNOWN_CHARACTERISTIC', `battery decoder got data for ${characteristic}`),
    );
  }
}

export const batteryDriver: DeviceDriver = {
  family: 'battery',
  displayName: 'Battery Service (Bluetooth SIG 0x180F)',
  document:
    'Bluetooth SIG Battery Service / Battery Level (org.bluetooth.service.battery_service, org.bluetooth.characteristic.battery_level)',
  role: 'companion',
  capabilities: { streams: [], ratesHz: [], deviceTime: false },
  services: [BATTERY_SERVICE],
  dataCharacteristics: [],
  matches: (advert: Advertisement) => advert.serviceUuids.includes(BATTERY_SERVICE),
  resolveSettings,
  startSequence,
  stopSequence,
  createDecoder: () => new BatteryDecoder(),
};
