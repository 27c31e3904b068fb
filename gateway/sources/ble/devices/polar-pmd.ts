// Long file: one vendor protocol (PMD control point, settings, every frame type and delta compression) proved by one set of recorded bytes; split by frame type would scatter it.
/*
 * Polar Measurement Data (PMD): Polar H10 (accelerometer), OH1 (accelerometer) and Verity
 * Sense (accelerometer + gyroscope, optionally in SDK mode for other rates/ranges).
 *
 * Follows Polar's "Online measurement" PDF v1.0 (2024) and "Polar Measurement Data
 * Specification" (polarofficial/polar-ble-sdk technical_documentation/), cross-checked with
 * the SDK parser (BlePMDClient.kt, PmdDataFrame.kt, model/{AccData,GyrData,MagData,
 * PmdTimeStampUtils}.kt) as summarised in docs/ble-protocols.md §1.
 *
 * Frame: [type & 0x3F][u64 LE ns since 2000-01-01, time of the LAST sample][frame type:
 * bit 7 = delta-compressed][content]. Times are reconstructed as the SDK does, except that a
 * frame whose implied period is far above the running estimate is treated as a loss gap
 * (anchored at its own last sample) rather than stretched over the gap.
 */
import {
  DEG_TO_RAD,
  STANDARD_GRAVITY,
  nearest,
  type Advertisement,
  type ControlEvent,
  type DecodeResult,
  type DeviceDriver,
  type GattStep,
  type ImuSamples,
  type ImuStream,
  type ResponseExpectation,
  type StepCheck,
  type StreamDecoder,
  type StreamRequest,
  type StreamSettings,
} from '../driver.ts';
import { OK_EMPTY, STEP_OK, guard, hex, readIntLE, reject, stepFail, view } from './bytes.ts';

export const PMD_SERVICE = 'fb005c8002e7f3871cad8acd2d8df0c8';
export const PMD_CONTROL_POINT = 'fb005c8102e7f3871cad8acd2d8df0c8';
export const PMD_DATA = 'fb005c8202e7f3871cad8acd2d8df0c8';
/** Polar's company id in manufacturer data (Bluetooth SIG assigned numbers: 0x006B). */
export const POLAR_COMPANY_ID = 0x006b;

/** PMD time zero (2000-01-01T00:00:00Z) in Unix ns (TimeSystemExplained.md). */
export const PMD_EPOCH_UNIX_NS = 946_684_800_000_000_000;

export const PmdType = { ACC: 2, GYRO: 5, MAG: 6, SDK_MODE: 9 } as const;
export const PmdOp = { GET_SETTINGS: 1, START: 2, STOP: 3 } as const;
export const PmdSettingType = {
  SAMPLE_RATE: 0,
  RESOLUTION: 1,
  RANGE: 2,
  RANGE_MILLIUNIT: 3,
  CHANNELS: 4,
  FACTOR: 5,
  SECURITY: 6,
} as const;

/** Control-point response status codes (PmdControlPointResponse.kt), index = status. */
export const PMD_STATUS_CODES = [
  'SUCCESS',
  'INVALID_OP_CODE',
  'INVALID_MEASUREMENT_TYPE',
  'NOT_SUPPORTED',
  'INVALID_LENGTH',
  'INVALID_PARAMETER',
  'ALREADY_IN_STATE',
  'INVALID_RESOLUTION',
  'INVALID_SAMPLE_RATE',
  'INVALID_RANGE',
  'INVALID_MTU',
  'INVALID_NUMBER_OF_CHANNELS',
  'INVALID_STATE',
  'DEVICE_IN_CHARGER',
  'DISK_FULL',
] as const;
const STATUS_ALREADY_IN_STATE = 6;

export function pmdStatusCode(status: number): string {
  return `POLAR_${PMD_STATUS_CODES[status] ?? `STATUS_${status}`}`;
}

type Variant = 'h10' | 'oh1' | 'verity' | 'verity-sdk';

interface VariantSpec {
  readonly streams: readonly ImuStream[];
  readonly ratesHz: readonly number[];
  readonly accRangesG: readonly number[];
  readonly gyroRangesDps: readonly number[];
}

// documentation/products/{PolarH10,PolarOH1,PolarVeritySense}.md and SdkModeExplained.md.
const VARIANTS: Record<Variant, VariantSpec> = {
  h10: { streams: ['acc'], ratesHz: [25, 50, 100, 200], accRangesG: [2, 4, 8], gyroRangesDps: [] },
  oh1: { streams: ['acc'], ratesHz: [50], accRangesG: [8], gyroRangesDps: [] },
  verity: { streams: ['acc', 'gyro'], ratesHz: [52], accRangesG: [8], gyroRangesDps: [2000] },
  'verity-sdk': {
    streams: ['acc', 'gyro'],
    ratesHz: [26, 52, 104, 208, 416],
    accRangesG: [2, 4, 8, 16],
    // 245, not 250: the gyro settings the device reports list F5 00 (PmdSettingTest in
    // polar-ble-sdk, Android and iOS); a start asking 250 names a range the device does not have.
    gyroRangesDps: [245, 500, 1000, 2000],
  },
};

function variantFromName(name: string | undefined): Variant | undefined {
  if (!name) return undefined;
  if (/\bH10\b/i.test(name)) return 'h10';
  if (/\bOH1\b/i.test(name)) return 'oh1';
  if (/\bSense\b/i.test(name)) return 'verity';
  return undefined;
}

function resolveSettings(req: StreamRequest): StreamSettings {
  const adjustments: string[] = [];
  const asked = req.variant as Variant | undefined;
  let variant: Variant =
    (asked && asked in VARIANTS ? asked : undefined) ??
    variantFromName(req.localName) ??
    (req.streams?.includes('gyro') ? 'verity' : 'h10');
  if (asked && !(asked in VARIANTS)) adjustments.push(`unknown Polar variant "${asked}", using ${variant}`);
  if (variant === 'verity') {
    // The default Verity mode streams only 52 Hz, ±8 g, ±2000 °/s; anything else needs SDK mode.
    const sdk = VARIANTS['verity-sdk'];
    const wantsOther =
      nearest(sdk.ratesHz, req.rateHz) !== 52 ||
      (req.accRangeG !== undefined && nearest(sdk.accRangesG, req.accRangeG) !== 8) ||
      (req.gyroRangeDps !== undefined && nearest(sdk.gyroRangesDps, req.gyroRangeDps) !== 2000);
    if (wantsOther) variant = 'verity-sdk';
  }
  const spec = VARIANTS[variant];
  const wanted = req.streams ?? ['acc', 'gyro'];
  const streams = spec.streams.filter((s) => wanted.includes(s));
  for (const s of wanted)
    if (!spec.streams.includes(s)) adjustments.push(`Polar ${variant} has no ${s} stream`);
  if (streams.length === 0) {
    streams.push('acc');
    adjustments.push('no supported stream requested; streaming acc');
  }
  const rateHz = nearest(spec.ratesHz, req.rateHz);
  if (rateHz !== req.rateHz) adjustments.push(`rate ${req.rateHz} Hz → ${rateHz} Hz`);
  const accRangeG = nearest(spec.accRangesG, req.accRangeG ?? 8);
  if (req.accRangeG !== undefined && accRangeG !== req.accRangeG)
    adjustments.push(`acc range ±${req.accRangeG} g → ±${accRangeG} g`);
  const settings: StreamSettings = { rateHz, accRangeG, streams, variant, adjustments };
  if (streams.includes('gyro')) {
    const gyroRangeDps = nearest(spec.gyroRangesDps, req.gyroRangeDps ?? 2000);
    if (req.gyroRangeDps !== undefined && gyroRangeDps !== req.gyroRangeDps)
      adjustments.push(`gyro range ±${req.gyroRangeDps} °/s → ±${gyroRangeDps} °/s`);
    return { ...settings, gyroRangeDps };
  }
  return settings;
}

// --- commands --------------------------------------------------------------------------

function u16(v: number): number[] {
  return [v & 0xff, (v >> 8) & 0xff];
}

/**
 * Start command `02 type [setting count values…]`. The H10 order (range, rate, resolution)
 * is byte-for-byte the command posted in polar-ble-sdk#360; the Verity order is #331/#443.
 */
export function pmdStartCommand(type: number, variant: string, rateHz: number, range: number): Uint8Array {
  const S = PmdSettingType;
  const rate = [S.SAMPLE_RATE, 1, ...u16(rateHz)];
  const resolution = [S.RESOLUTION, 1, ...u16(16)];
  const rangeSetting = [S.RANGE, 1, ...u16(range)];
  if (variant === 'h10' || variant === 'oh1')
    return Uint8Array.from([PmdOp.START, type, ...rangeSetting, ...rate, ...resolution]);
  return Uint8Array.from([PmdOp.START, type, ...rate, ...resolution, ...rangeSetting, S.CHANNELS, 1, 3]);
}

/** Expect `F0 op type status …`; `tolerateAlready`: ALREADY_IN_STATE is fine (stop of a stopped stream). */
function cpResponse(
  op: number,
  type: number,
  tolerate: readonly number[],
  optional = false,
): ResponseExpectation {
  return {
    service: PMD_SERVICE,
    characteristic: PMD_CONTROL_POINT,
    timeoutMs: 5000,
    optional,
    match(data: Uint8Array): StepCheck | undefined {
      if (data.length < 4 || data[0] !== 0xf0 || data[1] !== op || (data[2]! & 0x3f) !== type)
        return undefined;
      const status = data[3]!;
      if (status === 0 || tolerate.includes(status)) return STEP_OK;
      return stepFail(
        pmdStatusCode(status),
        `Polar PMD ${op === PmdOp.START ? 'start' : 'stop'} of measurement type ${type} refused: ${PMD_STATUS_CODES[status] ?? `status ${status}`}`,
      );
    },
  };
}

const ANY_STATUS = Array.from({ length: 256 }, (_, i) => i);

function streamTypes(settings: StreamSettings): { type: number; range: number; name: ImuStream }[] {
  const out: { type: number; range: number; name: ImuStream }[] = [];
  if (settings.streams.includes('acc'))
    out.push({ type: PmdType.ACC, range: settings.accRangeG ?? 8, name: 'acc' });
  if (settings.streams.includes('gyro'))
    out.push({ type: PmdType.GYRO, range: settings.gyroRangeDps ?? 2000, name: 'gyro' });
  return out;
}

function write(data: Uint8Array, label: string, response: ResponseExpectation): GattStep {
  return { op: 'write', service: PMD_SERVICE, characteristic: PMD_CONTROL_POINT, data, label, response };
}

function startSequence(settings: StreamSettings): GattStep[] {
  const variant = settings.variant ?? 'h10';
  const steps: GattStep[] = [
    // Both before any command: the sensor answers only on an enabled CP (SDK clientReady, #281).
    {
      op: 'subscribe',
      service: PMD_SERVICE,
      characteristic: PMD_CONTROL_POINT,
      label: 'PMD control point indications',
    },
    { op: 'subscribe', service: PMD_SERVICE, characteristic: PMD_DATA, label: 'PMD data notifications' },
  ];
  const streams = streamTypes(settings);
  // A stream left running by an earlier connection (H10 keeps streaming, KnownIssues.md) would
  // answer ALREADY_IN_STATE without the conversion factor, and SDK mode can only be toggled
  // with every stream stopped (SdkModeExplained.md): stop them first, whatever the answer.
  for (const s of streams) {
    steps.push(
      write(
        Uint8Array.from([PmdOp.STOP, s.type]),
        `stop ${s.name} (in case a previous connection left it on)`,
        cpResponse(PmdOp.STOP, s.type, ANY_STATUS, true),
      ),
    );
  }
  if (variant === 'verity-sdk') {
    steps.push(
      write(
        Uint8Array.from([PmdOp.START, PmdType.SDK_MODE]),
        'enter SDK mode',
        cpResponse(PmdOp.START, PmdType.SDK_MODE, [STATUS_ALREADY_IN_STATE]),
      ),
    );
  } else if (variant === 'verity') {
    steps.push(
      write(
        Uint8Array.from([PmdOp.STOP, PmdType.SDK_MODE]),
        'leave SDK mode (in case a previous connection left it on)',
        cpResponse(PmdOp.STOP, PmdType.SDK_MODE, ANY_STATUS, true),
      ),
    );
  }
  for (const s of streams) {
    steps.push(
      write(
        pmdStartCommand(s.type, variant, settings.rateHz, s.range),
        `start ${s.name} ${settings.rateHz} Hz ±${s.range}`,
        cpResponse(PmdOp.START, s.type, []),
      ),
    );
  }
  return steps;
}

function stopSequence(settings: StreamSettings): GattStep[] {
  const steps: GattStep[] = streamTypes(settings).map((s) =>
    write(
      Uint8Array.from([PmdOp.STOP, s.type]),
      `stop ${s.name}`,
      cpResponse(PmdOp.STOP, s.type, [STATUS_ALREADY_IN_STATE]),
    ),
  );
  if (settings.variant === 'verity-sdk')
    steps.push(
      write(
        Uint8Array.from([PmdOp.STOP, PmdType.SDK_MODE]),
        'leave SDK mode',
        cpResponse(PmdOp.STOP, PmdType.SDK_MODE, [STATUS_ALREADY_IN_STATE]),
      ),
    );
  steps.push({ op: 'unsubscribe', service: PMD_SERVICE, characteristic: PMD_DATA, optional: true });
  steps.push({ op: 'unsubscribe', service: PMD_SERVICE, characteristic: PMD_CONTROL_POINT, optional: true });
  return steps;
}

// --- settings TLV ----------------------------------------------------------------------

export interface PmdSettings {
  sampleRates?: number[];
  resolutions?: number[];
  ranges?: number[];
  channels?: number[];
  factor?: number;
}

const SETTING_SIZE: Record<number, number> = { 0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4, 6: 16 };

/** Parse `[type u8][count u8][count × value]…` (PmdSetting.kt); undefined when malformed. */
export function parsePmdSettings(data: Uint8Array, offset = 0): PmdSettings | undefined {
  const dv = view(data);
  const out: PmdSettings = {};
  let i = offset;
  while (i < data.length) {
    if (i + 2 > data.length) return undefined;
    const type = data[i]!;
    const count = data[i + 1]!;
    const size = SETTING_SIZE[type];
    if (size === undefined) return undefined;
    i += 2;
    if (i + count * size > data.length) return undefined;
    const values: number[] = [];
    for (let k = 0; k < count; k++, i += size) {
      if (size === 2) values.push(dv.getUint16(i, true));
      else if (size === 1) values.push(dv.getUint8(i));
      else if (type === PmdSettingType.FACTOR) values.push(dv.getFloat32(i, true));
      else if (size === 4) values.push(dv.getUint32(i, true));
    }
    if (type === 0) out.sampleRates = values;
    else if (type === 1) out.resolutions = values;
    else if (type === 2) out.ranges = values;
    else if (type === 4) out.channels = values;
    else if (type === 5 && values.length > 0) out.factor = values[0]!;
  }
  return out;
}

// --- data frames -----------------------------------------------------------------------

const HEADER = 10;
const NS_PER_S = 1e9;

interface TimeState {
  prevTs: number | undefined;
  periodNs: number;
  /** A period implied by a frame that looked like a gap; confirmed as a rate change if the next frame agrees. */
  candidatePeriodNs: number | undefined;
}

/**
 * Delta-compressed content → raw integer samples (channels interleaved). LSB-first bit
 * stream, each delta sign-extended at its width; returns the count or a reject reason.
 */
export function unpackDeltaFrame(
  data: Uint8Array,
  start: number,
  channels: number,
  refBytes: number,
  out: Int32Array | number[],
): number | { reason: 'TRUNCATED' | 'BAD_DELTA_BLOCK'; message: string } {
  const refEnd = start + channels * refBytes;
  if (refEnd > data.length)
    return {
      reason: 'TRUNCATED',
      message: `compressed frame shorter than its reference sample (${data.length - start} < ${channels * refBytes} bytes)`,
    };
  const dv = view(data);
  const prev = new Array<number>(channels);
  for (let c = 0; c < channels; c++) {
    const v = readIntLE(dv, start + c * refBytes, refBytes);
    prev[c] = v;
    out[c] = v;
  }
  let n = 1;
  let i = refEnd;
  while (i < data.length) {
    if (i + 2 > data.length)
      return { reason: 'TRUNCATED', message: `delta block header cut off at byte ${i}` };
    const width = data[i]!;
    const count = data[i + 1]!;
    i += 2;
    // Width 0 would make the SDK silently drop `count` samples; wider than 32 cannot be an int32 delta.
    if (width === 0 || width > 32)
      return { reason: 'BAD_DELTA_BLOCK', message: `delta width ${width} bits at byte ${i - 2}` };
    const blockBytes = Math.ceil((count * channels * width) / 8);
    if (i + blockBytes > data.length)
      return {
        reason: 'BAD_DELTA_BLOCK',
        message: `delta block of ${count}×${width} bits needs ${blockBytes} bytes, ${data.length - i} left`,
      };
    if ((n + count) * channels > out.length)
      return { reason: 'BAD_DELTA_BLOCK', message: 'more samples than the output buffer holds' };
    // LSB-first: bytes enter the accumulator above the bits still unread. Doubles hold it
    // exactly (< 2^40), so widths up to 32 need no special case.
    const pow = 2 ** width;
    const half = pow / 2;
    let acc = 0;
    let bits = 0;
    let weight = 1;
    let p = i;
    for (let s = 0; s < count; s++) {
      for (let c = 0; c < channels; c++) {
        while (bits < width) {
          acc += data[p++]! * weight;
          weight *= 256;
          bits += 8;
        }
        let value = acc % pow;
        acc = (acc - value) / pow;
        weight /= pow;
        bits -= width;
        if (value >= half) value -= pow;
        const next = (prev[c]! + value) | 0;
        prev[c] = next;
        out[n * channels + c] = next;
      }
      n++;
    }
    i += blockBytes;
  }
  return n;
}

interface StreamScale {
  channels: number;
  /** Bytes per reference value / uncompressed value. */
  size: number;
  float: boolean;
  /** Multiplier from raw (after factor) to canonical units. */
  toCanonical: number;
  /** Extra multiplier applied with the factor (ACC compressed type 0: ×1000). */
  factorScale: number;
  useFactor: boolean;
}

const MG_TO_MS2 = STANDARD_GRAVITY / 1000;
const GAUSS_TO_UT = 100;

/** What the frame's (type, compressed, frame type) means; undefined when undocumented. */
function frameLayout(type: number, compressed: boolean, frameType: number): StreamScale | undefined {
  if (type === PmdType.ACC) {
    if (!compressed) {
      if (frameType > 2) return undefined;
      return {
        channels: 3,
        size: frameType + 1,
        float: false,
        toCanonical: MG_TO_MS2,
        factorScale: 1,
        useFactor: false,
      };
    }
    if (frameType === 0)
      return {
        channels: 3,
        size: 2,
        float: false,
        toCanonical: MG_TO_MS2,
        factorScale: 1000,
        useFactor: true,
      };
    if (frameType === 1)
      return { channels: 3, size: 2, float: false, toCanonical: MG_TO_MS2, factorScale: 1, useFactor: true };
    return undefined;
  }
  if (type === PmdType.GYRO) {
    // Uncompressed gyro type 1 (3 × float32 °/s) is in the PDF; the SDK parses no raw gyro frame.
    if (!compressed)
      return frameType === 1
        ? { channels: 3, size: 4, float: true, toCanonical: DEG_TO_RAD, factorScale: 1, useFactor: false }
        : undefined;
    if (frameType === 0)
      return { channels: 3, size: 2, float: false, toCanonical: DEG_TO_RAD, factorScale: 1, useFactor: true };
    if (frameType === 1)
      return { channels: 3, size: 4, float: true, toCanonical: DEG_TO_RAD, factorScale: 1, useFactor: true };
    return undefined;
  }
  if (type === PmdType.MAG && compressed) {
    if (frameType === 0)
      return {
        channels: 3,
        size: 2,
        float: false,
        toCanonical: GAUSS_TO_UT,
        factorScale: 1,
        useFactor: true,
      };
    // Type 1: x, y, z, calibration status; ×factor gives mG.
    if (frameType === 1)
      return {
        channels: 4,
        size: 2,
        float: false,
        toCanonical: GAUSS_TO_UT / 1000,
        factorScale: 1,
        useFactor: true,
      };
  }
  return undefined;
}

const STREAM_OF: Record<number, ImuStream> = {
  [PmdType.ACC]: 'acc',
  [PmdType.GYRO]: 'gyro',
  [PmdType.MAG]: 'mag',
};

/** Largest sample count a frame can hold: 255 blocks of 255 samples is far above any MTU. */
const MAX_SAMPLES = 4096;
const MAX_CP_RESPONSE = 4096;

class PolarDecoder implements StreamDecoder {
  private readonly factors = new Map<number, number>();
  private readonly times = new Map<number, TimeState>();
  private readonly scratch = new Int32Array(MAX_SAMPLES * 4);
  private readonly f32 = new Float32Array(1);
  private readonly i32 = new Int32Array(this.f32.buffer);
  private cpPending: { head: Uint8Array; parts: Uint8Array[] } | undefined;

  constructor(private readonly settings: StreamSettings) {}

  decode(characteristic: string, data: Uint8Array): DecodeResult {
    return guard(() => {
      if (characteristic === PMD_DATA) return this.decodeData(data);
      if (characteristic === PMD_CONTROL_POINT) return this.decodeControl(data);
      return reject('UNKNOWN_CHARACTERISTIC', `Polar PMD decoder got data for ${characteristic}`);
    });
  }

  /** Factor the sensor reported for a measurement type (1.0 until it does, as in the SDK). */
  factor(type: number): number {
    return this.factors.get(type) ?? 1;
  }

  private decodeControl(data: Uint8Array): DecodeResult {
    if (data.length === 0) return reject('EMPTY', 'empty control-point indication');
    const first = data[0]!;
    if (first === 0xf0) {
      if (data.length < 5)
        return reject('TRUNCATED', `control-point response of ${data.length} bytes, need ≥ 5: ${hex(data)}`);
      const more = data[4]!;
      const pending = this.cpPending;
      if (pending) {
        // Continuation indications repeat the 5-byte header; their bytes from offset 5 continue the parameters.
        pending.parts.push(data.slice(5));
        const size = pending.head.length + pending.parts.reduce((a, p) => a + p.length, 0);
        if (size > MAX_CP_RESPONSE) {
          this.cpPending = undefined;
          return reject('UNEXPECTED_CONTROL', `control-point response over ${MAX_CP_RESPONSE} bytes`);
        }
        if (more !== 0) return OK_EMPTY;
        this.cpPending = undefined;
        const full = new Uint8Array(size);
        full.set(pending.head, 0);
        let at = pending.head.length;
        for (const p of pending.parts) {
          full.set(p, at);
          at += p.length;
        }
        return this.controlResponse(full);
      }
      if (more !== 0) {
        this.cpPending = { head: data.slice(), parts: [] };
        return OK_EMPTY;
      }
      return this.controlResponse(data);
    }
    if (this.cpPending) {
      this.cpPending = undefined;
      return reject('UNEXPECTED_CONTROL', `control-point response interrupted by: ${hex(data)}`);
    }
    if (first === 0x0f) {
      const features = data[1] ?? 0;
      return {
        ok: true,
        control: {
          kind: 'polar.features',
          ok: true,
          detail: {
            acc: (features & 0x04) !== 0,
            gyro: (features & 0x20) !== 0,
            mag: (features & 0x40) !== 0,
          },
        },
      };
    }
    if (first === 0x01) {
      // Unsolicited: the device stopped these measurement types.
      const types = Array.from(data.subarray(1));
      for (const t of types) this.times.delete(t & 0x3f);
      return {
        ok: true,
        control: { kind: 'polar.cp.stopped', ok: false, code: 'POLAR_STREAM_STOPPED', detail: { types } },
      };
    }
    return reject('UNEXPECTED_CONTROL', `unknown control-point indication: ${hex(data)}`);
  }

  private controlResponse(data: Uint8Array): DecodeResult {
    const op = data[1]!;
    const type = data[2]! & 0x3f;
    const status = data[3]!;
    const control: ControlEvent = {
      kind: 'polar.cp.response',
      ok: status === 0 || status === STATUS_ALREADY_IN_STATE,
      detail: { op, type, status: PMD_STATUS_CODES[status] ?? status },
    };
    if (status !== 0 && status !== STATUS_ALREADY_IN_STATE)
      return { ok: true, control: { ...control, code: pmdStatusCode(status) } };
    // A (re)started or stopped stream begins a new time base.
    if (op === PmdOp.START || op === PmdOp.STOP) this.times.delete(type);
    if (op === PmdOp.START && data.length > 5) {
      const params = parsePmdSettings(data, 5);
      if (!params)
        return reject('UNEXPECTED_CONTROL', `start response parameters are not valid settings: ${hex(data)}`);
      if (params.factor !== undefined) {
        if (!Number.isFinite(params.factor) || params.factor === 0)
          return reject('NON_FINITE', `conversion factor ${params.factor} for type ${type}`);
        this.factors.set(type, params.factor);
      }
      return { ok: true, control: { ...control, detail: { ...control.detail, factor: params.factor } } };
    }
    return { ok: true, control };
  }

  private decodeData(data: Uint8Array): DecodeResult {
    if (data.length === 0) return reject('EMPTY', 'empty PMD data notification');
    if (data.length < HEADER)
      return reject('TRUNCATED', `PMD frame of ${data.length} bytes, header needs ${HEADER}`);
    const type = data[0]! & 0x3f;
    const stream = STREAM_OF[type];
    if (stream === undefined)
      return reject('BAD_MEASUREMENT_TYPE', `PMD measurement type ${type} is not an IMU stream`);
    const dv = view(data);
    const tsPmd = dv.getUint32(1, true) + dv.getUint32(5, true) * 4294967296;
    const frameByte = data[9]!;
    const compressed = (frameByte & 0x80) !== 0;
    const frameType = frameByte & 0x7f;
    const layout = frameLayout(type, compressed, frameType);
    if (!layout)
      return reject(
        'BAD_FRAME_TYPE',
        `${stream} ${compressed ? 'compressed' : 'raw'} frame type ${frameType} is not documented`,
      );

    const ch = layout.channels;
    let n: number;
    const raw = this.scratch;
    if (compressed) {
      const r = unpackDeltaFrame(data, HEADER, ch, layout.size, raw);
      if (typeof r !== 'number') return reject(r.reason, r.message);
      n = r;
    } else {
      const sampleBytes = ch * layout.size;
      const content = data.length - HEADER;
      if (content === 0) return reject('TRUNCATED', 'raw frame with no samples');
      if (content % sampleBytes !== 0)
        return reject(
          'BAD_LENGTH',
          `raw ${stream} content of ${content} bytes is not a multiple of ${sampleBytes}`,
        );
      n = content / sampleBytes;
      if (n > MAX_SAMPLES) return reject('BAD_LENGTH', `${n} samples in one frame`);
      for (let k = 0; k < n * ch; k++) {
        const off = HEADER + k * layout.size;
        raw[k] = layout.float ? dv.getInt32(off, true) : readIntLE(dv, off, layout.size);
      }
    }

    const factor = layout.useFactor ? this.factor(type) * layout.factorScale : 1;
    const k = factor * layout.toCanonical;
    const values = new Float32Array(n * 3);
    for (let s = 0; s < n; s++) {
      for (let c = 0; c < 3; c++) {
        let v = raw[s * ch + c]!;
        if (layout.float) {
          this.i32[0] = v;
          v = this.f32[0]!;
        }
        const out = v * k;
        if (!Number.isFinite(out))
          return reject('NON_FINITE', `${stream} sample ${s} channel ${c} is not finite`);
        values[s * 3 + c] = out;
      }
    }

    const times = this.sampleTimes(type * 256 + frameByte, tsPmd, n);
    if (!times)
      return reject(
        'TIME_NOT_ASCENDING',
        `${stream} frame time ${tsPmd} ns is not after the previous frame's`,
      );
    const imu: ImuSamples =
      stream === 'acc'
        ? { n, deviceTimeNs: times, acc: values }
        : stream === 'gyro'
          ? { n, deviceTimeNs: times, gyro: values }
          : { n, deviceTimeNs: times, mag: values };
    return { ok: true, imu };
  }

  /**
   * PmdTimeStampUtils: the frame stamp is the last sample's time. First frame: spacing =
   * 1/rate back from it; later frames: spacing = (ts − prevTs)/n forward from prevTs. A
   * frame implying > 1.5× the running period is a loss gap (anchored at ts with the running
   * period) unless the next frame implies the same period, which confirms a rate change.
   */
  private sampleTimes(key: number, tsPmd: number, n: number): Float64Array | undefined {
    let st = this.times.get(key);
    if (!st) {
      st = { prevTs: undefined, periodNs: NS_PER_S / this.settings.rateHz, candidatePeriodNs: undefined };
      this.times.set(key, st);
    }
    const out = new Float64Array(n);
    const unix = tsPmd + PMD_EPOCH_UNIX_NS;
    if (st.prevTs === undefined) {
      for (let i = 0; i < n; i++) out[i] = unix - (n - 1 - i) * st.periodNs;
      st.prevTs = tsPmd;
      return out;
    }
    if (tsPmd <= st.prevTs) {
      // Device clock stepped back (setLocalTime, H10 reset to 2019): drop this frame, restart from it.
      st.prevTs = tsPmd;
      st.candidatePeriodNs = undefined;
      return undefined;
    }
    const implied = (tsPmd - st.prevTs) / n;
    const candidate = st.candidatePeriodNs;
    st.candidatePeriodNs = undefined;
    let anchorAtEnd = false;
    if (candidate !== undefined && Math.abs(implied - candidate) <= 0.1 * candidate) {
      st.periodNs = implied;
    } else if (implied > 1.5 * st.periodNs) {
      st.candidatePeriodNs = implied;
      anchorAtEnd = true;
    } else {
      // Includes faster-than-expected frames (a rate increase): follow the stamps, as the SDK does.
      st.periodNs = implied;
    }
    const prevUnix = st.prevTs + PMD_EPOCH_UNIX_NS;
    if (anchorAtEnd) for (let i = 0; i < n; i++) out[i] = unix - (n - 1 - i) * st.periodNs;
    else for (let i = 0; i < n; i++) out[i] = prevUnix + (i + 1) * implied;
    st.prevTs = tsPmd;
    return out;
  }
}

function matches(advert: Advertisement): boolean {
  if (advert.serviceUuids.includes(PMD_SERVICE)) return true;
  if (advert.localName && /^Polar (H10|OH1|Sense)\b/i.test(advert.localName)) return true;
  return false;
}

export const polarPmdDriver: DeviceDriver = {
  family: 'polar-pmd',
  displayName: 'Polar H10 / OH1 / Verity Sense (PMD)',
  document:
    'Polar "Online measurement" v1.0 (2024) and Polar Measurement Data Specification, polarofficial/polar-ble-sdk technical_documentation/',
  role: 'imu',
  capabilities: {
    streams: ['acc', 'gyro'],
    ratesHz: [25, 26, 50, 52, 100, 104, 200, 208, 416],
    accRangesG: [2, 4, 8, 16],
    gyroRangesDps: [245, 500, 1000, 2000],
    deviceTime: true,
    // A 227-byte Verity frame (#443) needs ATT MTU ≥ 230; the Android SDK asks for 512.
    minMtu: 232,
  },
  services: [PMD_SERVICE],
  dataCharacteristics: [PMD_DATA],
  matches,
  resolveSettings,
  startSequence,
  stopSequence,
  createDecoder: (settings) => new PolarDecoder(settings),
};
