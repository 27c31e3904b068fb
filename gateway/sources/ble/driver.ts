/*
 * The boundary between the BLE adapter/connection manager (which talk to noble) and the
 * device drivers (which only know bytes). A driver is a pure descriptor plus a factory of
 * stateful decoders; it never does I/O, so every driver is testable with byte sequences
 * alone (Home Assistant's BLE parsers follow the same split).
 *
 * UUIDs everywhere in this interface are in noble's form: lowercase hex, no dashes, and
 * 16-bit SIG UUIDs in their short form ('180f', '2a19'). `normalizeUuid` produces that form
 * from any spelling, so config and vendor documents can be copied as printed.
 */

/** What the scanner saw; UUIDs already normalised with `normalizeUuid`. */
export interface Advertisement {
  readonly localName?: string;
  readonly serviceUuids: readonly string[];
  /** Raw manufacturer-specific data: company id (u16 LE) then payload, as noble delivers it. */
  readonly manufacturerData?: Uint8Array;
}

/** Which IMU streams a device can send. */
export type ImuStream = 'acc' | 'gyro' | 'mag';

/** What the user asked for (config or API); drivers map it onto what the device supports. */
export interface StreamRequest {
  readonly rateHz: number;
  readonly accRangeG?: number;
  readonly gyroRangeDps?: number;
  /** Streams wanted; default: every stream the device has among acc and gyro. */
  readonly streams?: readonly ImuStream[];
  /** Advertised name, so one family driver can tell models apart (Polar H10 has no gyro). */
  readonly localName?: string;
  /** Model/chip when the advertisement cannot tell (MetaWear 'bmi160' | 'bmi270'; Polar 'h10' | 'oh1' | 'verity'). */
  readonly variant?: string;
}

/**
 * Settings the driver will actually use: each field a value the device supports, chosen by
 * `resolveSettings` (nearest supported value). The same object goes to `startSequence` and
 * `createDecoder`, so the decoder knows the range (for scale) and rate (for timing).
 */
export interface StreamSettings {
  readonly rateHz: number;
  readonly accRangeG?: number;
  readonly gyroRangeDps?: number;
  readonly streams: readonly ImuStream[];
  /** Model detail a family needs to pick commands (e.g. 'h10', 'verity', 'bmi160'). */
  readonly variant?: string;
  /** Human-readable notes on every adjustment made to the request (logged by the caller). */
  readonly adjustments: readonly string[];
}

/** What a device family can do, for docs, config validation and the stall watchdog. */
export interface DriverCapabilities {
  readonly streams: readonly ImuStream[];
  /** Supported rates; with `rateRangeHz`, typical values of a continuous range. */
  readonly ratesHz: readonly number[];
  /** Any integer rate in [min, max] is accepted (Thingy:52, generic devices). */
  readonly rateRangeHz?: readonly [number, number];
  readonly accRangesG?: readonly number[];
  readonly gyroRangesDps?: readonly number[];
  /** True when notifications carry device timestamps; false → times come from arrival. */
  readonly deviceTime: boolean;
  /** Smallest ATT MTU at which the default configuration's notifications fit, when > 23. */
  readonly minMtu?: number;
}

/** Result of checking a response or read value during a start/stop sequence. */
export type StepCheck =
  { readonly ok: true } | { readonly ok: false; readonly code: string; readonly message: string };

/**
 * A notification the sequence waits for after a write (Polar's control-point indication).
 * `match` sees every notification on `characteristic` while waiting: it returns undefined
 * for ones that are not the response (stream data), or the check of the response.
 */
export interface ResponseExpectation {
  readonly service: string;
  readonly characteristic: string;
  readonly timeoutMs: number;
  match(data: Uint8Array): StepCheck | undefined;
  /** When true a timeout is logged and the sequence continues (Movesense: delivery not guaranteed). */
  readonly optional?: boolean;
}

interface StepBase {
  readonly service: string;
  readonly characteristic: string;
  /** Skip (do not fail) when the characteristic is missing or lacks the property. */
  readonly optional?: boolean;
  /** Why this step exists, for logs ("start ACC 200 Hz ±8 g"). */
  readonly label?: string;
}

/**
 * One step the adapter executes in order. Every value read by a `read` step and every
 * notification/indication on a subscribed characteristic is also handed to the decoder
 * (`decode(characteristic, data, arrivalNs)`), so e.g. a battery read or Polar's
 * start response (which carries the conversion factor) reaches the decoder.
 */
export type GattStep =
  | (StepBase & { readonly op: 'subscribe' | 'unsubscribe' })
  | (StepBase & {
      readonly op: 'write';
      readonly data: Uint8Array;
      /** ATT write command (no response) instead of write request. */
      readonly withoutResponse?: boolean;
      readonly response?: ResponseExpectation;
    })
  | (StepBase & { readonly op: 'read'; check?(value: Uint8Array): StepCheck })
  | { readonly op: 'delay'; readonly ms: number; readonly label?: string };

/**
 * A run of IMU samples decoded from one notification, canonical units.
 * All present arrays describe the same n sample instants.
 */
export interface ImuSamples {
  readonly n: number;
  /**
   * Device-clock sample times (ns, ascending) when the device sends time; undefined when it
   * does not (then the aligner uses arrival time and the nominal rate). Polar times are
   * Unix-epoch ns on the device's clock; Movesense times are ns since the sensor's own zero.
   */
  readonly deviceTimeNs?: Float64Array;
  /** x,y,z interleaved, m/s²; length 3n. */
  readonly acc?: Float32Array;
  /** x,y,z interleaved, rad/s; length 3n. */
  readonly gyro?: Float32Array;
  /** x,y,z interleaved, µT; length 3n. */
  readonly mag?: Float32Array;
}

/** A control-channel event the decoder recognised (not sample data). */
export interface ControlEvent {
  /** e.g. 'polar.cp.response', 'polar.cp.stopped', 'movesense.result', 'metawear.module-info'. */
  readonly kind: string;
  readonly ok: boolean;
  /** Stable code when !ok, e.g. 'POLAR_INVALID_SAMPLE_RATE'. */
  readonly code?: string;
  readonly detail?: Record<string, unknown>;
}

/** Stable codes of rejected notifications; counted per device and code in metrics. */
export type DecodeRejectReason =
  | 'EMPTY'
  | 'TRUNCATED' // shorter than the header or than the header says
  | 'BAD_LENGTH' // length not a valid size for this format
  | 'TRAILING_BYTES' // bytes left after the last whole sample
  | 'BAD_MEASUREMENT_TYPE'
  | 'BAD_FRAME_TYPE'
  | 'BAD_HEADER' // wrong sync/module/register/message type byte
  | 'BAD_DELTA_BLOCK' // delta width 0 or > 32, or a block overrunning the frame
  | 'NON_FINITE' // a float field is NaN/±Inf
  | 'OUT_OF_RANGE' // a value outside what the format allows (battery > 100 %)
  | 'TIME_NOT_ASCENDING' // device timestamp went backwards; frame dropped, state kept
  | 'UNKNOWN_CHARACTERISTIC'
  | 'UNEXPECTED_CONTROL' // control-channel data that is not a valid response
  | 'RESYNC' // stream-oriented formats: garbage bytes skipped (salvaged samples in `imu`)
  | 'INTERNAL'; // the decoder threw: a bug, caught so one device cannot crash the gateway

export type DecodeResult =
  | {
      readonly ok: true;
      /** Undefined when the notification carried no samples (control response, partial packet). */
      readonly imu?: ImuSamples;
      /** Battery level 0–100 % when the notification carried one. */
      readonly battery?: number;
      readonly control?: ControlEvent;
    }
  | {
      readonly ok: false;
      readonly reason: DecodeRejectReason;
      readonly message: string;
      /** Samples salvaged from the good part of a bad notification (stream-oriented formats: RESYNC, TRUNCATED). */
      readonly imu?: ImuSamples;
    };

/** Per-connection decoder; stateful where the format needs it (Polar timestamps, stream buffers). */
export interface StreamDecoder {
  /** Decode one notification (or read value) from `characteristic`. Never throws. */
  decode(characteristic: string, data: Uint8Array, arrivalNs: number): DecodeResult;
}

export interface DeviceDriver {
  /** Stable id used in config: 'polar-pmd', 'movesense', 'metawear', 'witmotion', 'thingy52', 'generic-gatt:<name>', 'battery'. */
  readonly family: string;
  readonly displayName: string;
  /** The vendor document the decoder follows. */
  readonly document: string;
  /** 'imu' drivers own a device; 'companion' ones (Battery Service) run next to any imu driver whose device has the service. */
  readonly role: 'imu' | 'companion';
  readonly capabilities: DriverCapabilities;
  /** Services to discover (noble form). Companions list theirs; the adapter adds them when present. */
  readonly services: readonly string[];
  /** Characteristics whose notifications carry stream data (for the stall watchdog). */
  readonly dataCharacteristics: readonly string[];
  /** Whether an advertisement looks like this family (for auto-detection). */
  matches(advert: Advertisement): boolean;
  /** Pure: clamp/snap a request to supported values; never throws. */
  resolveSettings(request: StreamRequest): StreamSettings;
  startSequence(settings: StreamSettings): readonly GattStep[];
  stopSequence(settings: StreamSettings): readonly GattStep[];
  createDecoder(settings: StreamSettings): StreamDecoder;
}

const SIG_BASE_SUFFIX = '00001000800000805f9b34fb';

/**
 * Noble's UUID form: lowercase, no dashes; a 128-bit UUID on the Bluetooth SIG base
 * (0000xxxx-0000-1000-8000-00805f9b34fb) becomes its 16-bit short form. Vendor UUIDs on
 * look-alike bases (WitMotion's …805F9A34FB) are kept whole — they are not SIG UUIDs.
 * Accepts '0x180F', '180F', '0000180f-0000-1000-8000-00805f9b34fb'.
 */
export function normalizeUuid(uuid: string): string {
  let u = uuid.trim().toLowerCase().replace(/-/g, '');
  if (u.startsWith('0x')) u = u.slice(2);
  if (u.length === 32 && u.startsWith('0000') && u.endsWith(SIG_BASE_SUFFIX)) return u.slice(4, 8);
  return u;
}

/** Nearest value of `options` to `wanted` (ties → the higher one). */
export function nearest(options: readonly number[], wanted: number): number {
  let best = options[0]!;
  for (const o of options) {
    const d = Math.abs(o - wanted);
    const bd = Math.abs(best - wanted);
    if (d < bd || (d === bd && o > best)) best = o;
  }
  return best;
}

export const STANDARD_GRAVITY = 9.80665;
export const DEG_TO_RAD = Math.PI / 180;
