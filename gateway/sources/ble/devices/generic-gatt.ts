// Long file: the config-described driver: its schema, layout compiler and decoder share one layout type and are proved together by byte sequences.
/*
 * A BLE IMU described entirely in configuration: which characteristic notifies, how one
 * notification is laid out (optional header with magic bytes and a timestamp, then one or
 * more fixed-size sample records), where each axis sits in a record, its binary type, scale
 * and unit, and the writes that start/stop streaming. Lets users add a device without code.
 *
 * The document it follows is the user's own: the device's vendor description the config
 * was written from. `GenericGattDeviceSchema` is the TypeBox schema of one config entry
 * (for the gateway config schema); `createGenericDriver` validates it and checks what a
 * schema cannot (offsets inside the record, whole axis triples, hex, regex).
 */
import { Type, type Static, type SchemaOptions } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import { GatewayError } from '../../../observability/errors.ts';
import {
  DEG_TO_RAD,
  STANDARD_GRAVITY,
  normalizeUuid,
  type Advertisement,
  type DecodeResult,
  type DeviceDriver,
  type GattStep,
  type ImuStream,
  type StreamDecoder,
  type StreamRequest,
  type StreamSettings,
} from '../driver.ts';
import { guard, reject, view } from './bytes.ts';

function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

export const FIELD_TYPES = [
  'int8',
  'uint8',
  'int16le',
  'int16be',
  'uint16le',
  'uint16be',
  'int24le',
  'int32le',
  'int32be',
  'uint32le',
  'uint32be',
  'float32le',
  'float32be',
] as const;
export type FieldType = (typeof FIELD_TYPES)[number];
export const FIELD_SIZE: Record<FieldType, number> = {
  int8: 1,
  uint8: 1,
  int16le: 2,
  int16be: 2,
  uint16le: 2,
  uint16be: 2,
  int24le: 3,
  int32le: 4,
  int32be: 4,
  uint32le: 4,
  uint32be: 4,
  float32le: 4,
  float32be: 4,
};
export const CHANNELS = ['ax', 'ay', 'az', 'gx', 'gy', 'gz'] as const;
export const UNITS = ['m/s2', 'g', 'mg', 'rad/s', 'deg/s'] as const;
const UNIT_FACTOR: Record<(typeof UNITS)[number], number> = {
  'm/s2': 1,
  g: STANDARD_GRAVITY,
  mg: STANDARD_GRAVITY / 1000,
  'rad/s': 1,
  'deg/s': DEG_TO_RAD,
};
const TIME_TYPES = ['uint16le', 'uint32le', 'uint64le'] as const;
const TIME_UNITS = { s: 1e9, ms: 1e6, us: 1e3, ns: 1 } as const;

const Uuid = (description: string) =>
  Type.String({
    pattern: '^(0x)?[0-9A-Fa-f]{4}$|^[0-9A-Fa-f]{8}(-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12}$',
    description,
  });
const Hex = (description: string) => Type.String({ pattern: '^([0-9A-Fa-f]{2}[ :]?)*$', description });

const WriteStepSchema = Type.Object(
  {
    service: Type.Optional(Uuid('Service of the characteristic; defaults to the device service.')),
    characteristic: Uuid('Characteristic to write.'),
    hex: Hex('Bytes to write, hex ("01 02 0a" or "01020a").'),
    withoutResponse: Type.Boolean({
      default: false,
      description: 'Write command (no ATT response) instead of write request.',
    }),
    delayMsAfter: Type.Integer({
      minimum: 0,
      maximum: 10000,
      default: 0,
      description: 'Pause after this write, ms.',
    }),
  },
  { additionalProperties: false },
);

export const GenericFieldSchema = Type.Object(
  {
    channel: StringEnum(CHANNELS, {
      description:
        'Canonical channel this field feeds: ax, ay, az (acceleration) or gx, gy, gz (angular rate).',
    }),
    offset: Type.Integer({
      minimum: 0,
      maximum: 511,
      description: 'Byte offset of the field inside one sample record.',
    }),
    type: StringEnum(FIELD_TYPES, { description: 'Binary type; le/be = little/big endian.' }),
    scale: Type.Number({ default: 1, description: 'raw × scale = value in `unit`.' }),
    unit: StringEnum(UNITS, { description: 'Unit of raw × scale; converted to m/s² or rad/s.' }),
  },
  { additionalProperties: false },
);

export const GenericGattDeviceSchema = Type.Object(
  {
    name: Type.String({
      pattern: '^[A-Za-z0-9_-]+$',
      minLength: 1,
      maxLength: 64,
      description: 'Driver name; the family id is generic-gatt:<name>.',
    }),
    displayName: Type.Optional(Type.String({ description: 'Human-readable device name.' })),
    document: Type.Optional(Type.String({ description: 'The vendor document this layout was taken from.' })),
    match: Type.Optional(
      Type.Object(
        {
          localName: Type.Optional(
            Type.String({ description: 'Regular expression the advertised name must match.' }),
          ),
          serviceUuid: Type.Optional(Uuid('A service UUID the advertisement must list.')),
        },
        {
          additionalProperties: false,
          description:
            'How auto-detection recognises the device; without it the device must be configured by address/name.',
        },
      ),
    ),
    service: Uuid('GATT service holding the data characteristic.'),
    characteristic: Uuid('Characteristic that notifies sample data.'),
    rateHz: Type.Number({
      exclusiveMinimum: 0,
      maximum: 10000,
      description: 'Sample rate the device streams at, Hz.',
    }),
    headerBytes: Type.Integer({
      minimum: 0,
      maximum: 64,
      default: 0,
      description: 'Bytes before the first sample record.',
    }),
    magic: Type.Optional(Hex('Bytes every notification starts with (inside the header).')),
    recordBytes: Type.Integer({
      minimum: 1,
      maximum: 512,
      description: 'Size of one sample record; a notification holds one or more.',
    }),
    fields: Type.Array(GenericFieldSchema, {
      minItems: 3,
      maxItems: 6,
      description: 'Where each axis sits in a record; give all three axes of each sensor.',
    }),
    timestamp: Type.Optional(
      Type.Object(
        {
          offset: Type.Integer({
            minimum: 0,
            maximum: 63,
            description: 'Byte offset of the device timestamp inside the header.',
          }),
          type: StringEnum(TIME_TYPES),
          unit: StringEnum(['s', 'ms', 'us', 'ns'] as const),
          sample: StringEnum(['first', 'last'] as const, {
            default: 'first',
            description: 'Which record of the notification the timestamp belongs to.',
          }),
        },
        { additionalProperties: false },
      ),
    ),
    start: Type.Array(WriteStepSchema, {
      default: [],
      description: 'Writes that start streaming, after notifications are enabled.',
    }),
    stop: Type.Array(WriteStepSchema, { default: [], description: 'Writes that stop streaming.' }),
  },
  { additionalProperties: false },
);

export type GenericGattDeviceConfig = Static<typeof GenericGattDeviceSchema>;

function invalid(name: string, key: string, message: string): GatewayError {
  return new GatewayError('BLE_GENERIC_CONFIG_INVALID', `generic BLE device "${name}": ${key}: ${message}`, {
    details: { device: name, key },
  });
}

export function parseHex(text: string): Uint8Array {
  const clean = text.replace(/[\s:]/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

interface Compiled {
  readonly cfg: GenericGattDeviceConfig;
  readonly service: string;
  readonly characteristic: string;
  readonly magic: Uint8Array;
  readonly nameRe: RegExp | undefined;
  readonly streams: ImuStream[];
  /** Per output slot (acc x,y,z then gyro x,y,z): field or undefined. */
  readonly slots: { offset: number; type: FieldType; k: number }[];
}

let validator: ValidateFunction | undefined;

function compile(input: unknown): Compiled {
  // The gateway's config loader validates too; checking here keeps the driver safe on its own.
  validator ??= new Ajv({ useDefaults: true, strict: true }).compile(GenericGattDeviceSchema);
  const draft: unknown = structuredClone(input);
  const name =
    typeof (draft as { name?: unknown } | null)?.name === 'string' ? (draft as { name: string }).name : '?';
  if (!validator(draft)) {
    const e = validator.errors?.[0];
    const extra =
      e?.keyword === 'additionalProperties'
        ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})`
        : '';
    throw invalid(name, e?.instancePath || '/', `${e?.message ?? 'invalid'}${extra}`);
  }
  const cfg = draft as GenericGattDeviceConfig;
  const headerBytes = cfg.headerBytes;
  const magic = cfg.magic ? parseHex(cfg.magic) : new Uint8Array(0);
  if (cfg.magic && cfg.magic.replace(/[\s:]/g, '').length % 2 !== 0)
    throw invalid(name, 'magic', `"${cfg.magic}" is not whole bytes`);
  if (magic.length > headerBytes)
    throw invalid(name, 'magic', `${magic.length} bytes do not fit in headerBytes ${headerBytes}`);
  const seen = new Set<string>();
  for (const [i, f] of cfg.fields.entries()) {
    if (seen.has(f.channel)) throw invalid(name, `fields[${i}].channel`, `${f.channel} is given twice`);
    seen.add(f.channel);
    if (f.offset + FIELD_SIZE[f.type] > cfg.recordBytes)
      throw invalid(
        name,
        `fields[${i}].offset`,
        `${f.type} at ${f.offset} ends past recordBytes ${cfg.recordBytes}`,
      );
    if (
      (f.channel.startsWith('a') && !['m/s2', 'g', 'mg'].includes(f.unit)) ||
      (f.channel.startsWith('g') && !['rad/s', 'deg/s'].includes(f.unit))
    ) {
      throw invalid(
        name,
        `fields[${i}].unit`,
        `${f.unit} is not a unit of ${f.channel.startsWith('a') ? 'acceleration' : 'angular rate'}`,
      );
    }
  }
  const streams: ImuStream[] = [];
  for (const [stream, axes] of [
    ['acc', ['ax', 'ay', 'az']],
    ['gyro', ['gx', 'gy', 'gz']],
  ] as const) {
    const present = axes.filter((a) => seen.has(a));
    if (present.length > 0 && present.length < 3)
      throw invalid(name, 'fields', `${stream} needs all of ${axes.join(', ')}; got ${present.join(', ')}`);
    if (present.length === 3) streams.push(stream);
  }
  if (cfg.timestamp) {
    const size = cfg.timestamp.type === 'uint16le' ? 2 : cfg.timestamp.type === 'uint32le' ? 4 : 8;
    if (cfg.timestamp.offset + size > headerBytes)
      throw invalid(
        name,
        'timestamp.offset',
        `${cfg.timestamp.type} at ${cfg.timestamp.offset} ends past headerBytes ${headerBytes}`,
      );
  }
  let nameRe: RegExp | undefined;
  if (cfg.match?.localName) {
    try {
      nameRe = new RegExp(cfg.match.localName);
    } catch (err) {
      throw invalid(name, 'match.localName', `not a regular expression: ${(err as Error).message}`);
    }
  }
  for (const [key, steps] of [
    ['start', cfg.start],
    ['stop', cfg.stop],
  ] as const) {
    for (const [i, s] of steps.entries()) {
      if (s.hex.replace(/[\s:]/g, '').length % 2 !== 0)
        throw invalid(name, `${key}[${i}].hex`, `"${s.hex}" is not whole bytes`);
    }
  }
  const slots: { offset: number; type: FieldType; k: number }[] = [];
  for (const ch of CHANNELS) {
    const f = cfg.fields.find((x) => x.channel === ch);
    if (f) slots.push({ offset: f.offset, type: f.type, k: f.scale * UNIT_FACTOR[f.unit] });
  }
  return {
    cfg,
    service: normalizeUuid(cfg.service),
    characteristic: normalizeUuid(cfg.characteristic),
    magic,
    nameRe,
    streams,
    slots,
  };
}

function readField(dv: DataView, offset: number, type: FieldType): number {
  switch (type) {
    case 'int8':
      return dv.getInt8(offset);
    case 'uint8':
      return dv.getUint8(offset);
    case 'int16le':
      return dv.getInt16(offset, true);
    case 'int16be':
      return dv.getInt16(offset, false);
    case 'uint16le':
      return dv.getUint16(offset, true);
    case 'uint16be':
      return dv.getUint16(offset, false);
    case 'int24le':
      return ((dv.getUint16(offset, true) | (dv.getUint8(offset + 2) << 16)) << 8) >> 8;
    case 'int32le':
      return dv.getInt32(offset, true);
    case 'int32be':
      return dv.getInt32(offset, false);
    case 'uint32le':
      return dv.getUint32(offset, true);
    case 'uint32be':
      return dv.getUint32(offset, false);
    case 'float32le':
      return dv.getFloat32(offset, true);
    case 'float32be':
      return dv.getFloat32(offset, false);
  }
}

class GenericDecoder implements StreamDecoder {
  private lastRaw: number | undefined;
  private wrap = 0;
  private readonly periodNs: number;

  constructor(private readonly c: Compiled) {
    this.periodNs = 1e9 / c.cfg.rateHz;
  }

  decode(characteristic: string, data: Uint8Array): DecodeResult {
    return guard(() => {
      const { cfg, magic, slots } = this.c;
      if (characteristic !== this.c.characteristic)
        return reject('UNKNOWN_CHARACTERISTIC', `${cfg.name} decoder got data for ${characteristic}`);
      if (data.length === 0) return reject('EMPTY', 'empty notification');
      if (data.length < cfg.headerBytes + cfg.recordBytes)
        return reject('TRUNCATED', `${data.length} bytes, need ≥ ${cfg.headerBytes + cfg.recordBytes}`);
      const body = data.length - cfg.headerBytes;
      if (body % cfg.recordBytes !== 0)
        return reject(
          'BAD_LENGTH',
          `${body} bytes after the header is not a multiple of recordBytes ${cfg.recordBytes}`,
        );
      for (let i = 0; i < magic.length; i++)
        if (data[i] !== magic[i])
          return reject(
            'BAD_HEADER',
            `byte ${i} is 0x${data[i]!.toString(16)}, magic says 0x${magic[i]!.toString(16)}`,
          );
      const n = body / cfg.recordBytes;
      const dv = view(data);
      const hasAcc = this.c.streams.includes('acc');
      const acc = hasAcc ? new Float32Array(3 * n) : undefined;
      const gyro = this.c.streams.includes('gyro') ? new Float32Array(3 * n) : undefined;
      for (let s = 0; s < n; s++) {
        const base = cfg.headerBytes + s * cfg.recordBytes;
        for (let j = 0; j < slots.length; j++) {
          const slot = slots[j]!;
          const v = readField(dv, base + slot.offset, slot.type) * slot.k;
          if (!Number.isFinite(v)) return reject('NON_FINITE', `record ${s} field ${j} is ${v}`);
          const target = hasAcc && j < 3 ? acc! : gyro!;
          target[s * 3 + (j % 3)] = v;
        }
      }
      let deviceTimeNs: Float64Array | undefined;
      if (cfg.timestamp) {
        const t = this.timestampNs(dv, cfg.timestamp);
        if (t === undefined) return reject('TIME_NOT_ASCENDING', 'device timestamp went backwards');
        deviceTimeNs = new Float64Array(n);
        const first = cfg.timestamp.sample === 'last' ? t - (n - 1) * this.periodNs : t;
        for (let i = 0; i < n; i++) deviceTimeNs[i] = first + i * this.periodNs;
      }
      return {
        ok: true,
        imu: {
          n,
          ...(deviceTimeNs ? { deviceTimeNs } : {}),
          ...(acc ? { acc } : {}),
          ...(gyro ? { gyro } : {}),
        },
      };
    });
  }

  private timestampNs(
    dv: DataView,
    ts: NonNullable<GenericGattDeviceConfig['timestamp']>,
  ): number | undefined {
    let raw: number;
    let span: number;
    if (ts.type === 'uint16le') {
      raw = dv.getUint16(ts.offset, true);
      span = 65536;
    } else if (ts.type === 'uint32le') {
      raw = dv.getUint32(ts.offset, true);
      span = 4294967296;
    } else {
      raw = dv.getUint32(ts.offset, true) + dv.getUint32(ts.offset + 4, true) * 4294967296;
      span = Infinity;
    }
    const last = this.lastRaw;
    if (last !== undefined && raw < last) {
      if (last - raw > span / 2) this.wrap += span;
      else {
        this.lastRaw = raw;
        return undefined;
      }
    }
    this.lastRaw = raw;
    return (raw + this.wrap) * TIME_UNITS[ts.unit];
  }
}

/** Build a driver from one config entry; throws GatewayError BLE_GENERIC_CONFIG_INVALID naming the key. */
export function createGenericDriver(config: unknown): DeviceDriver {
  const c = compile(config);
  const { cfg } = c;
  const writes = (steps: GenericGattDeviceConfig['start']): GattStep[] =>
    steps.flatMap((s): GattStep[] => {
      const step: GattStep = {
        op: 'write',
        service: s.service ? normalizeUuid(s.service) : c.service,
        characteristic: normalizeUuid(s.characteristic),
        data: parseHex(s.hex),
        withoutResponse: s.withoutResponse,
        label: `write ${s.hex}`,
      };
      return s.delayMsAfter > 0 ? [step, { op: 'delay', ms: s.delayMsAfter }] : [step];
    });
  const serviceMatch = cfg.match?.serviceUuid ? normalizeUuid(cfg.match.serviceUuid) : undefined;
  return {
    family: `generic-gatt:${cfg.name}`,
    displayName: cfg.displayName ?? cfg.name,
    document: cfg.document ?? 'user configuration (generic GATT IMU)',
    role: 'imu',
    capabilities: { streams: c.streams, ratesHz: [cfg.rateHz], deviceTime: cfg.timestamp !== undefined },
    services: [c.service],
    dataCharacteristics: [c.characteristic],
    matches(advert: Advertisement): boolean {
      if (!c.nameRe && !serviceMatch) return false;
      if (c.nameRe && !c.nameRe.test(advert.localName ?? '')) return false;
      if (serviceMatch && !advert.serviceUuids.includes(serviceMatch)) return false;
      return true;
    },
    resolveSettings(req: StreamRequest): StreamSettings {
      const adjustments =
        req.rateHz !== cfg.rateHz
          ? [`${cfg.name} streams at its configured ${cfg.rateHz} Hz, not ${req.rateHz} Hz`]
          : [];
      return { rateHz: cfg.rateHz, streams: c.streams, adjustments };
    },
    startSequence: () => [
      { op: 'subscribe', service: c.service, characteristic: c.characteristic, label: 'data notifications' },
      ...writes(cfg.start),
    ],
    stopSequence: () => [
      ...writes(cfg.stop),
      { op: 'unsubscribe', service: c.service, characteristic: c.characteristic, optional: true },
    ],
    createDecoder: () => new GenericDecoder(c),
  };
}
