import { Type, type Static } from '@sinclair/typebox';
import { Identifier as Id, StringEnum } from '../../domain/option-schema.ts';
import { PLACEMENTS } from '../../domain/placement.ts';
import { GenericGattDeviceSchema } from './devices/index.ts';

/*
 * The `ble` block of the gateway config. gateway/config composes `BleSection` into the main schema;
 * keys with a default are filled in by validation (see gateway/domain/option-schema.ts).
 */

export const BleDeviceSchema = Type.Object(
  {
    id: Type.Optional(
      Id(
        'Device id: the <device> level of MQTT topics and the stream id. Default: derived from the address or name pattern.',
      ),
    ),
    address: Type.Optional(
      Type.String({
        pattern: '^([0-9A-Fa-f]{2}[:-]?){5}[0-9A-Fa-f]{2}$',
        description: 'Bluetooth address (AA:BB:CC:DD:EE:FF).',
      }),
    ),
    namePattern: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Regular expression matched against the advertised name (first match binds).',
      }),
    ),
    family: Type.String({
      minLength: 1,
      description:
        'Driver family: polar-pmd, movesense, metawear, witmotion, thingy52, or generic-gatt:<name> for a device in ble.generic.',
    }),
    placement: StringEnum(PLACEMENTS, { default: 'unknown', description: 'Where the sensor is worn.' }),
    subject: Type.Optional(Id('Subject (person) the device is assigned to.')),
    rateHz: Type.Number({
      exclusiveMinimum: 0,
      maximum: 2000,
      default: 50,
      description: 'Requested sample rate; the driver snaps it to one the device supports.',
    }),
    accRangeG: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Accelerometer range, ±g.' })),
    gyroRangeDps: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Gyroscope range, ±°/s.' })),
    streams: Type.Optional(
      Type.Array(StringEnum(['acc', 'gyro', 'mag'] as const), { minItems: 1, uniqueItems: true }),
    ),
  },
  {
    additionalProperties: false,
    // `properties: { key: true }` only restates the key for ajv's strictRequired, which checks
    // `required` against the same schema object's properties.
    anyOf: [
      { required: ['address'], properties: { address: true } },
      { required: ['namePattern'], properties: { namePattern: true } },
    ],
    description:
      'One wearable: how to find it (address or name pattern), which driver, and whom it belongs to.',
  },
);
export type BleDeviceConfig = Static<typeof BleDeviceSchema>;

export const BleSection = Type.Object(
  {
    enabled: Type.Boolean({
      default: false,
      description: 'Connect to BLE wearables (needs a Bluetooth adapter; noble is loaded only when true).',
    }),
    adapter: Type.Optional(
      Type.String({
        pattern: '^(hci)?[0-9]+$',
        description: 'HCI adapter (hci0, hci1 …). Default: env NOBLE_HCI_DEVICE_ID, else hci0.',
      }),
    ),
    maxConnections: Type.Integer({
      minimum: 1,
      maximum: 20,
      default: 5,
      description:
        'Concurrent links on the adapter. Most USB dongles hold 5–7; the Pi 3/4 internal adapter fewer under notification load.',
    }),
    rssiFloor: Type.Optional(
      Type.Number({ maximum: 0, description: 'Ignore devices advertising weaker than this, dBm.' }),
    ),
    autoDetect: Type.Boolean({
      default: false,
      description:
        'Also connect to unconfigured devices of a supported family (unassigned until a subject is set).',
    }),
    connectTimeoutMs: Type.Integer({
      minimum: 1000,
      default: 8000,
      description: 'Time a connection attempt may take.',
    }),
    operationTimeoutMs: Type.Integer({
      minimum: 500,
      default: 5000,
      description: 'Time one GATT operation may take before it counts against the adapter.',
    }),
    stallPeriods: Type.Number({
      minimum: 2,
      default: 5,
      description: 'Missing notification intervals before a silent stream is reconnected.',
    }),
    devices: Type.Array(BleDeviceSchema, { default: [], description: 'Configured wearables.' }),
    generic: Type.Array(GenericGattDeviceSchema, {
      default: [],
      description: 'Devices defined entirely in config (generic-gatt:<name> families).',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'BLE wearables (IMU) through a local Bluetooth adapter.',
  },
);
export type BleConfig = Static<typeof BleSection>;

/** A stable device id for a config entry without one. */
export function deviceIdFor(
  entry: Pick<BleDeviceConfig, 'id' | 'address' | 'namePattern' | 'family'>,
  index: number,
): string {
  if (entry.id) return entry.id;
  if (entry.address) return `ble-${entry.address.toLowerCase().replace(/[^0-9a-f]/g, '')}`;
  const fromName = (entry.namePattern ?? '')
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return fromName ? `ble-${fromName}` : `ble-${entry.family.replace(/[^A-Za-z0-9_-]+/g, '-')}-${index}`;
}
