/*
 * Movesense sensors running the GATT SensorData Protocol (GSP) firmware sample.
 *
 * Follows Movesense "GATT SensorData Protocol" (movesense.com/docs/esw/gatt_sensordata_protocol,
 * revised from Movesense document GD-77) and the movesense-device-lib sample
 * samples/gatt_sensordata_app (GATTSensorDataClient.cpp, python_client/), with units from the
 * Whiteboard API YAML (meas/imu.yaml, acc.yaml): acc m/s², gyro °/s, magn µT.
 * See docs/ble-protocols.md §2.
 *
 * Command: [cmd][ref ≠ 0][data]; SUBSCRIBE carries the Whiteboard path, e.g. /Meas/IMU6/104.
 * Notification: [type][ref][payload]; type 1 = command result (2-byte status), 2 = data
 * (u32 ms timestamp of the FIRST sample, then acc[n], gyro[n], magn[n] as float32 x,y,z),
 * 3 = continuation of the previous data notification with the same ref.
 */
import {
  DEG_TO_RAD,
  nearest,
  type Advertisement,
  type DecodeResult,
  type DeviceDriver,
  type GattStep,
  type ImuSamples,
  type ImuStream,
  type ResponseExpectation,
  type StreamDecoder,
  type StreamRequest,
  type StreamSettings,
} from '../driver.ts';
import { OK_EMPTY, STEP_OK, guard, reject, stepFail, view } from './bytes.ts';

export const GSP_SERVICE = '3480225271854d5db431630e7050e8f0';
export const GSP_COMMAND = '3480000171854d5db431630e7050e8f0';
export const GSP_DATA = '3480000271854d5db431630e7050e8f0';

export const GspCommand = { HELLO: 0, SUBSCRIBE: 1, UNSUBSCRIBE: 2 } as const;
export const GspMessage = { COMMAND_RESULT: 1, DATA: 2, DATA_PART2: 3 } as const;

/** Client-chosen reference tying replies and data to our subscription (the spec's example uses 99). */
export const GSP_REF = 99;

// Often-quoted IMU rates; the sensor's own list is GET /Meas/IMU/Info, which GSP v1 cannot ask.
const RATES_HZ = [13, 26, 52, 104, 208, 416, 833, 1666];

/** Whiteboard resource for a set of streams, always in the array order acc, gyro, magn. */
export function gspPath(streams: readonly ImuStream[], rateHz: number): string {
  const acc = streams.includes('acc');
  const gyro = streams.includes('gyro');
  const mag = streams.includes('mag');
  let resource: string;
  if (acc && gyro && mag) resource = 'IMU9';
  else if (acc && gyro) resource = 'IMU6';
  else if (acc && mag) resource = 'IMU6m';
  else if (gyro) resource = 'Gyro';
  else if (mag) resource = 'Magn';
  else resource = 'Acc';
  return `/Meas/${resource}/${rateHz}`;
}

/** Streams carried by a resource, in payload order. */
function arraysOf(streams: readonly ImuStream[]): ImuStream[] {
  const order: ImuStream[] = ['acc', 'gyro', 'mag'];
  const chosen = order.filter((s) => streams.includes(s));
  return chosen.length === 0 ? ['acc'] : chosen;
}

function resolveSettings(req: StreamRequest): StreamSettings {
  const adjustments: string[] = [];
  const rateHz = nearest(RATES_HZ, req.rateHz);
  if (rateHz !== req.rateHz) adjustments.push(`rate ${req.rateHz} Hz → ${rateHz} Hz`);
  if (req.accRangeG !== undefined || req.gyroRangeDps !== undefined) {
    adjustments.push(
      'ranges are set with PUT /Meas/*/Config, which GSP v1 cannot send; the sensor keeps its configured ranges',
    );
  }
  const streams = arraysOf(req.streams ?? ['acc', 'gyro']);
  return { rateHz, streams, adjustments };
}

export function gspSubscribeCommand(path: string, ref = GSP_REF): Uint8Array {
  const out = new Uint8Array(2 + path.length);
  out[0] = GspCommand.SUBSCRIBE;
  out[1] = ref;
  for (let i = 0; i < path.length; i++) out[2 + i] = path.charCodeAt(i) & 0x7f;
  return out;
}

/**
 * The firmware sample writes the status high byte first (507 → 01 FB); the spec does not
 * say. Take whichever order gives an HTTP status, preferring big-endian.
 */
export function gspStatus(hi: number, lo: number): number {
  const be = hi * 256 + lo;
  if (be >= 100 && be < 600) return be;
  const le = lo * 256 + hi;
  return le >= 100 && le < 600 ? le : be;
}

const subscribeResponse: ResponseExpectation = {
  service: GSP_SERVICE,
  characteristic: GSP_DATA,
  timeoutMs: 3000,
  // "Delivery of responses is not guaranteed" (spec): data arriving is the real proof.
  optional: true,
  match(data) {
    if (data.length < 4 || data[0] !== GspMessage.COMMAND_RESULT || data[1] !== GSP_REF) return undefined;
    const status = gspStatus(data[2]!, data[3]!);
    return status >= 200 && status < 300
      ? STEP_OK
      : stepFail(`MOVESENSE_STATUS_${status}`, `Movesense refused the subscription: status ${status}`);
  },
};

function startSequence(settings: StreamSettings): GattStep[] {
  const path = gspPath(settings.streams, settings.rateHz);
  return [
    { op: 'subscribe', service: GSP_SERVICE, characteristic: GSP_DATA, label: 'GSP data notifications' },
    // A subscription left from a previous connection would make SUBSCRIBE with the same ref fail.
    {
      op: 'write',
      service: GSP_SERVICE,
      characteristic: GSP_COMMAND,
      data: Uint8Array.from([GspCommand.UNSUBSCRIBE, GSP_REF]),
      label: 'drop a stale subscription',
    },
    {
      op: 'write',
      service: GSP_SERVICE,
      characteristic: GSP_COMMAND,
      data: gspSubscribeCommand(path),
      label: `subscribe ${path}`,
      response: subscribeResponse,
    },
  ];
}

function stopSequence(): GattStep[] {
  return [
    {
      op: 'write',
      service: GSP_SERVICE,
      characteristic: GSP_COMMAND,
      data: Uint8Array.from([GspCommand.UNSUBSCRIBE, GSP_REF]),
      label: 'unsubscribe',
    },
    { op: 'unsubscribe', service: GSP_SERVICE, characteristic: GSP_DATA, optional: true },
  ];
}

const MAX_MESSAGE = 4096;
const MS_TO_NS = 1e6;
const U32 = 4294967296;

class MovesenseDecoder implements StreamDecoder {
  private readonly arrays: ImuStream[];
  private readonly periodNs: number;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private lastRawMs: number | undefined;
  private wrapMs = 0;

  constructor(settings: StreamSettings) {
    this.arrays = arraysOf(settings.streams);
    this.periodNs = 1e9 / settings.rateHz;
  }

  decode(characteristic: string, data: Uint8Array): DecodeResult {
    return guard(() => {
      if (characteristic !== GSP_DATA)
        return reject('UNKNOWN_CHARACTERISTIC', `Movesense decoder got data for ${characteristic}`);
      if (data.length === 0) return reject('EMPTY', 'empty GSP notification');
      if (data.length < 2) return reject('TRUNCATED', 'GSP notification shorter than its 2-byte header');
      const type = data[0]!;
      const ref = data[1]!;
      if (type === GspMessage.COMMAND_RESULT) return this.commandResult(data);
      if (ref !== GSP_REF)
        return reject('BAD_HEADER', `GSP message type ${type} for ref ${ref}, ours is ${GSP_REF}`);
      if (type === GspMessage.DATA) {
        const dropped = this.pending.length > 0;
        // The common case, a whole message in one notification, decodes without copying.
        if (!dropped && this.isWhole(data.length - 2)) return this.decodePayload(data.subarray(2));
        this.pending = [data.slice(2)];
        this.pendingBytes = data.length - 2;
        const r = this.tryComplete();
        if (dropped)
          return reject(
            'TRUNCATED',
            'a split GSP data message never got its continuation',
            r.ok ? r.imu : undefined,
          );
        return r;
      }
      if (type === GspMessage.DATA_PART2) {
        if (this.pending.length === 0)
          return reject('BAD_HEADER', 'GSP continuation without a data message to continue');
        this.pending.push(data.slice(2));
        this.pendingBytes += data.length - 2;
        if (this.pendingBytes > MAX_MESSAGE) {
          this.pending = [];
          this.pendingBytes = 0;
          return reject('BAD_LENGTH', `GSP data message over ${MAX_MESSAGE} bytes`);
        }
        return this.tryComplete();
      }
      return reject('BAD_HEADER', `unknown GSP message type ${type}`);
    });
  }

  private commandResult(data: Uint8Array): DecodeResult {
    if (data.length !== 4) {
      // HELLO answers with text ("Hello"); anything else of another length is not a status.
      return {
        ok: true,
        control: {
          kind: 'movesense.result',
          ok: true,
          detail: { ref: data[1], text: String.fromCharCode(...data.subarray(2, 66)) },
        },
      };
    }
    const status = gspStatus(data[2]!, data[3]!);
    const ok = status >= 200 && status < 300;
    return {
      ok: true,
      control: {
        kind: 'movesense.result',
        ok,
        ...(ok ? {} : { code: `MOVESENSE_STATUS_${status}` }),
        detail: { ref: data[1], status },
      },
    };
  }

  private isWhole(size: number): boolean {
    const unit = 12 * this.arrays.length;
    return size >= 4 + unit && (size - 4) % unit === 0;
  }

  /** Decode the buffered message when its length is whole; otherwise wait for a continuation. */
  private tryComplete(): DecodeResult {
    const unit = 12 * this.arrays.length;
    const size = this.pendingBytes;
    if (size < 4) return this.dropPending('TRUNCATED', `GSP data payload of ${size} bytes has no timestamp`);
    // Not whole yet: the rest comes in DATA_PART2. A malformed message is reported when the next DATA replaces it.
    if (size < 4 + unit || (size - 4) % unit !== 0) return OK_EMPTY;
    const payload = this.pending.length === 1 ? this.pending[0]! : concat(this.pending, size);
    this.pending = [];
    this.pendingBytes = 0;
    return this.decodePayload(payload);
  }

  private dropPending(reason: 'TRUNCATED', message: string): DecodeResult {
    this.pending = [];
    this.pendingBytes = 0;
    return reject(reason, message);
  }

  private decodePayload(p: Uint8Array): DecodeResult {
    const dv = view(p);
    const n = (p.length - 4) / (12 * this.arrays.length);
    const rawMs = dv.getUint32(0, true);
    const t0 = this.unwrap(rawMs);
    if (t0 === undefined) return reject('TIME_NOT_ASCENDING', `GSP timestamp ${rawMs} ms went backwards`);
    const out: { acc?: Float32Array; gyro?: Float32Array; mag?: Float32Array } = {};
    let off = 4;
    for (const stream of this.arrays) {
      const values = new Float32Array(3 * n);
      const k = stream === 'gyro' ? DEG_TO_RAD : 1;
      for (let i = 0; i < 3 * n; i++, off += 4) {
        const v = dv.getFloat32(off, true);
        if (!Number.isFinite(v)) return reject('NON_FINITE', `${stream} value ${i} is ${v}`);
        values[i] = v * k;
      }
      out[stream] = values;
    }
    const deviceTimeNs = new Float64Array(n);
    for (let i = 0; i < n; i++) deviceTimeNs[i] = t0 * MS_TO_NS + i * this.periodNs;
    const imu: ImuSamples = { n, deviceTimeNs, ...out };
    return { ok: true, imu };
  }

  /** u32 ms wraps after ~49.7 days; a small step back is a clock problem, not a wrap. */
  private unwrap(rawMs: number): number | undefined {
    const last = this.lastRawMs;
    if (last !== undefined && rawMs < last) {
      if (last - rawMs > U32 / 2) this.wrapMs += U32;
      else {
        this.lastRawMs = rawMs;
        return undefined;
      }
    }
    this.lastRawMs = rawMs;
    return rawMs + this.wrapMs;
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function matches(advert: Advertisement): boolean {
  return advert.serviceUuids.includes(GSP_SERVICE) || /^Movesense\b/i.test(advert.localName ?? '');
}

export const movesenseDriver: DeviceDriver = {
  family: 'movesense',
  displayName: 'Movesense (GATT SensorData Protocol firmware)',
  document:
    'Movesense "GATT SensorData Protocol" (movesense.com/docs/esw/gatt_sensordata_protocol, from GD-77) and movesense-device-lib samples/gatt_sensordata_app',
  role: 'imu',
  capabilities: { streams: ['acc', 'gyro', 'mag'], ratesHz: RATES_HZ, deviceTime: true, minMtu: 161 },
  services: [GSP_SERVICE],
  dataCharacteristics: [GSP_DATA],
  matches,
  resolveSettings,
  startSequence,
  stopSequence,
  createDecoder: (settings) => new MovesenseDecoder(settings),
};
