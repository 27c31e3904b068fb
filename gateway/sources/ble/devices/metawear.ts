// Long file: one vendor protocol (module discovery, ranges and rates, packed and unpacked BMI160/BMI270 streams) checked against one set of the SDK's test vectors; split by register it would scatter them.
/*
 * MbientLab MetaWear / MetaMotion boards (BMI160 or BMI270 accelerometer + gyroscope).
 *
 * Follows MbientLab's MetaWear C++ SDK documentation and register definitions
 * (mbientlab/MetaWear-SDK-Cpp: cppdocs/source/{accelerometer,gyro,settings}.rst,
 * src/metawear/sensor/cpp/{accelerometer_bosch,gyro_bosch}{.cpp,_register.h},
 * src/metawear/core/cpp/responseheader.cpp) and its test vectors
 * (test/test_{accelerometer_bmi160,accelerometer_bmi270,gyro_bmi160}.py).
 * See docs/ble-protocols.md §3.
 *
 * Every message is [module][register][data]. Samples are int16 x,y,z scaled by the range
 * the gateway configured (the data carry no scale), so the decoder must be created with the
 * same settings as the start sequence. Packed registers carry 3 samples per notification;
 * they are used at ≥ 100 Hz on boards whose module revision is ≥ 1 (as the vendor SDK does).
 * Streamed data carry no device time: all samples are stamped from arrival.
 */
import {
  DEG_TO_RAD,
  STANDARD_GRAVITY,
  nearest,
  type Advertisement,
  type DecodeResult,
  type DeviceDriver,
  type GattStep,
  type ImuStream,
  type ResponseExpectation,
  type StreamDecoder,
  type StreamRequest,
  type StreamSettings,
} from '../driver.ts';
import { STEP_OK, guard, hex, reject, stepFail, view } from './bytes.ts';

export const METAWEAR_SERVICE = '326a900085cb9195d9dd464cfbbae75a';
export const METAWEAR_COMMAND = '326a900185cb9195d9dd464cfbbae75a';
export const METAWEAR_NOTIFY = '326a900685cb9195d9dd464cfbbae75a';

export const Module = { ACC: 0x03, GYRO: 0x13, SETTINGS: 0x11 } as const;
const READ = 0x80;

type Chip = 'bmi160' | 'bmi270';

interface ChipRegisters {
  /** Implementation byte of the module-info reply (SDK constants). */
  accImpl: number;
  gyroImpl: number;
  accData: number;
  accPacked: number;
  gyroData: number;
  gyroPacked: number;
  accRangeCode: Record<number, number>;
  /** Bit 7 of accelerometer config byte 0: BMI160 "us" (undersampling) 0, BMI270 filter_perf 1. */
  accConfigBit7: number;
}

const CHIPS: Record<Chip, ChipRegisters> = {
  bmi160: {
    accImpl: 1,
    gyroImpl: 0,
    accData: 0x04,
    accPacked: 0x1c,
    gyroData: 0x05,
    gyroPacked: 0x07,
    accRangeCode: { 2: 0x03, 4: 0x05, 8: 0x08, 16: 0x0c },
    accConfigBit7: 0,
  },
  bmi270: {
    accImpl: 4,
    gyroImpl: 1,
    accData: 0x04,
    accPacked: 0x05,
    gyroData: 0x04,
    gyroPacked: 0x05,
    accRangeCode: { 2: 0, 4: 1, 8: 2, 16: 3 },
    accConfigBit7: 0x80,
  },
};

/** Output data rate → config code (enum + 1). */
const ACC_ODR: Record<number, number> = { 12.5: 5, 25: 6, 50: 7, 100: 8, 200: 9, 400: 10, 800: 11, 1600: 12 };
const GYRO_ODR: Record<number, number> = {
  25: 6,
  50: 7,
  100: 8,
  200: 9,
  400: 10,
  800: 11,
  1600: 12,
  3200: 13,
};
/** Gyro range → config code and LSB per °/s. */
const GYRO_RANGE: Record<number, { code: number; lsbPerDps: number }> = {
  2000: { code: 0, lsbPerDps: 16.4 },
  1000: { code: 1, lsbPerDps: 32.8 },
  500: { code: 2, lsbPerDps: 65.6 },
  250: { code: 3, lsbPerDps: 131.2 },
  125: { code: 4, lsbPerDps: 262.4 },
};
const ACC_RANGES = [2, 4, 8, 16];
const GYRO_RANGES = [125, 250, 500, 1000, 2000];
/** Rates both sensors support, so acc and gyro run at the same rate. */
const RATES_HZ = [25, 50, 100, 200, 400, 800];
/** At and above this rate, packed registers (3 samples per notification) keep the link from saturating. */
export const PACKED_FROM_HZ = 100;
/**
 * On BMI160 boards the packed registers exist only from this module revision on: the vendor
 * SDK creates the packed signal only when `module_info.revision >= PACKED_ACC_REVISION` (= 1)
 * for the accelerometer and `>= PACKED_ROT_REVISION` (= 1) for the gyroscope
 * (MetaWear-SDK-Cpp src/metawear/sensor/cpp/accelerometer_bosch.cpp, gyro_bosch.cpp). An older
 * BMI160 board streams unpacked, one sample per notification. BMI270 boards always have them
 * (the SDK does not check; its MetaMotion S vectors report revision 0: `03 80 04 00`).
 */
export const PACKED_FROM_REVISION = 1;

/** What the module-info replies said during one start, so later steps (and stop) use the registers the board has. */
interface BoardRevisions {
  acc?: number;
  gyro?: number;
}
/** The registers chosen at start, per settings object (the connection keeps it until stop). */
const chosenRegisters = new WeakMap<StreamSettings, { acc: number; gyro: number }>();

function resolveSettings(req: StreamRequest): StreamSettings {
  const adjustments: string[] = [];
  let variant: Chip = 'bmi160';
  if (req.variant === 'bmi270' || req.variant === 'bmi160') variant = req.variant;
  else if (req.variant !== undefined)
    adjustments.push(`unknown MetaWear variant "${req.variant}", using bmi160`);
  const rateHz = nearest(RATES_HZ, req.rateHz);
  if (rateHz !== req.rateHz) adjustments.push(`rate ${req.rateHz} Hz → ${rateHz} Hz`);
  const accRangeG = nearest(ACC_RANGES, req.accRangeG ?? 8);
  if (req.accRangeG !== undefined && accRangeG !== req.accRangeG)
    adjustments.push(`acc range ±${req.accRangeG} g → ±${accRangeG} g`);
  const gyroRangeDps = nearest(GYRO_RANGES, req.gyroRangeDps ?? 2000);
  if (req.gyroRangeDps !== undefined && gyroRangeDps !== req.gyroRangeDps)
    adjustments.push(`gyro range ±${req.gyroRangeDps} °/s → ±${gyroRangeDps} °/s`);
  const wanted = req.streams ?? ['acc', 'gyro'];
  const streams: ImuStream[] = (['acc', 'gyro'] as const).filter((s) => wanted.includes(s));
  if (wanted.includes('mag')) adjustments.push('magnetometer streaming is not implemented for MetaWear');
  if (streams.length === 0) streams.push('acc');
  return { rateHz, accRangeG, gyroRangeDps, streams, variant, adjustments };
}

export function accConfig(chip: Chip, rateHz: number, rangeG: number): Uint8Array {
  const c = CHIPS[chip];
  // bwp = 2 (normal filter) in bits 4–6, as the SDK's defaults and test vectors use.
  return Uint8Array.from([
    Module.ACC,
    0x03,
    (ACC_ODR[rateHz] ?? 8) | 0x20 | c.accConfigBit7,
    c.accRangeCode[rangeG] ?? 0x08,
  ]);
}

export function gyroConfig(rateHz: number, rangeDps: number): Uint8Array {
  return Uint8Array.from([
    Module.GYRO,
    0x03,
    (GYRO_ODR[rateHz] ?? 8) | 0x20,
    GYRO_RANGE[rangeDps]?.code ?? 0,
  ]);
}

function cmd(data: number[] | Uint8Array, label: string, response?: ResponseExpectation): GattStep {
  const base = {
    op: 'write',
    service: METAWEAR_SERVICE,
    characteristic: METAWEAR_COMMAND,
    data: Uint8Array.from(data),
    withoutResponse: true,
    label,
  } as const;
  return response ? { ...base, response } : base;
}

/**
 * Module-info reply `[module, 0x80, implementation, revision…]`: refuse a board whose chip is
 * not the configured one, and note its revision (which decides packed or unpacked data).
 */
function expectChip(
  module: number,
  impl: number,
  chip: Chip,
  onRevision: (revision: number) => void = () => undefined,
): ResponseExpectation {
  return {
    service: METAWEAR_SERVICE,
    characteristic: METAWEAR_NOTIFY,
    timeoutMs: 3000,
    match(data) {
      if (data.length < 2 || data[0] !== module || data[1] !== READ) return undefined;
      if (data.length <= 2)
        return stepFail('METAWEAR_MODULE_ABSENT', `MetaWear board has no module 0x${module.toString(16)}`);
      if (data[2] === impl) {
        // A reply without a revision byte comes from a board older than revision 1.
        onRevision(data[3] ?? 0);
        return STEP_OK;
      }
      const other = (Object.keys(CHIPS) as Chip[]).find(
        (c) => (module === Module.ACC ? CHIPS[c].accImpl : CHIPS[c].gyroImpl) === data[2],
      );
      return stepFail(
        'METAWEAR_VARIANT_MISMATCH',
        `MetaWear module 0x${module.toString(16)} reports implementation ${data[2]} (${other ?? 'unknown chip'}), the device is configured as ${chip}${other ? `; set variant: ${other}` : ''}`,
      );
    },
  };
}

function registers(settings: StreamSettings) {
  const chip = (settings.variant as Chip | undefined) ?? 'bmi160';
  const c = CHIPS[chip];
  const wantsPacked = settings.rateHz >= PACKED_FROM_HZ;
  return { chip, c, wantsPacked };
}

/**
 * A write whose bytes are decided when it runs: the data-notification register depends on
 * the revision in the module-info reply, which arrives earlier in the same sequence.
 */
function lateCmd(bytes: () => number[], label: string): GattStep {
  return {
    op: 'write',
    service: METAWEAR_SERVICE,
    characteristic: METAWEAR_COMMAND,
    get data() {
      return Uint8Array.from(bytes());
    },
    withoutResponse: true,
    label,
  };
}

function startSequence(settings: StreamSettings): GattStep[] {
  const { chip, c, wantsPacked } = registers(settings);
  const revisions: BoardRevisions = {};
  const chosen = { acc: c.accData, gyro: c.gyroData };
  chosenRegisters.set(settings, chosen);
  const revisionGated = chip === 'bmi160';
  const hasPacked = (revision: number | undefined) =>
    !revisionGated || (revision ?? 0) >= PACKED_FROM_REVISION;
  const accReg = () => {
    const packed = wantsPacked && hasPacked(revisions.acc);
    chosen.acc = packed ? c.accPacked : c.accData;
    return chosen.acc;
  };
  const gyroReg = () => {
    const packed = wantsPacked && hasPacked(revisions.gyro);
    chosen.gyro = packed ? c.gyroPacked : c.gyroData;
    return chosen.gyro;
  };
  const steps: GattStep[] = [
    {
      op: 'subscribe',
      service: METAWEAR_SERVICE,
      characteristic: METAWEAR_NOTIFY,
      label: 'MetaWear notifications',
    },
  ];
  if (settings.streams.includes('acc')) {
    steps.push(
      cmd(
        [Module.ACC, READ],
        'accelerometer module info',
        expectChip(Module.ACC, c.accImpl, chip, (r) => (revisions.acc = r)),
      ),
      cmd(
        accConfig(chip, settings.rateHz, settings.accRangeG ?? 8),
        `accelerometer ${settings.rateHz} Hz ±${settings.accRangeG} g`,
      ),
      lateCmd(() => [Module.ACC, accReg(), 0x01], 'accelerometer data notifications'),
      cmd([Module.ACC, 0x02, 0x01, 0x00], 'accelerometer data interrupt'),
    );
  }
  if (settings.streams.includes('gyro')) {
    steps.push(
      cmd(
        [Module.GYRO, READ],
        'gyroscope module info',
        expectChip(Module.GYRO, c.gyroImpl, chip, (r) => (revisions.gyro = r)),
      ),
      cmd(
        gyroConfig(settings.rateHz, settings.gyroRangeDps ?? 2000),
        `gyroscope ${settings.rateHz} Hz ±${settings.gyroRangeDps} °/s`,
      ),
      lateCmd(() => [Module.GYRO, gyroReg(), 0x01], 'gyroscope data notifications'),
      cmd([Module.GYRO, 0x02, 0x01, 0x00], 'gyroscope data interrupt'),
    );
  }
  // Power on last, so no sample is produced before its notification is enabled.
  if (settings.streams.includes('acc')) steps.push(cmd([Module.ACC, 0x01, 0x01], 'accelerometer on'));
  if (settings.streams.includes('gyro')) steps.push(cmd([Module.GYRO, 0x01, 0x01], 'gyroscope on'));
  return steps;
}

function stopSequence(settings: StreamSettings): GattStep[] {
  // The registers the start enabled; unpacked when no start ran with these settings.
  const { c } = registers(settings);
  const { acc: accReg, gyro: gyroReg } = chosenRegisters.get(settings) ?? {
    acc: c.accData,
    gyro: c.gyroData,
  };
  const steps: GattStep[] = [];
  if (settings.streams.includes('acc'))
    steps.push(
      cmd([Module.ACC, 0x01, 0x00], 'accelerometer off'),
      cmd([Module.ACC, 0x02, 0x00, 0x01], 'accelerometer interrupt off'),
      cmd([Module.ACC, accReg, 0x00], 'accelerometer notifications off'),
    );
  if (settings.streams.includes('gyro'))
    steps.push(
      cmd([Module.GYRO, 0x01, 0x00], 'gyroscope off'),
      cmd([Module.GYRO, 0x02, 0x00, 0x01], 'gyroscope interrupt off'),
      cmd([Module.GYRO, gyroReg, 0x00], 'gyroscope notifications off'),
    );
  steps.push({
    op: 'unsubscribe',
    service: METAWEAR_SERVICE,
    characteristic: METAWEAR_NOTIFY,
    optional: true,
  });
  return steps;
}

class MetaWearDecoder implements StreamDecoder {
  private readonly accScale: number;
  private readonly gyroScale: number;
  private readonly accDataReg: number;
  private readonly accPackedReg: number;
  private readonly gyroDataReg: number;
  private readonly gyroPackedReg: number;

  constructor(settings: StreamSettings) {
    const c = CHIPS[(settings.variant as Chip | undefined) ?? 'bmi160'];
    const range = settings.accRangeG ?? 8;
    // 16384 LSB/g at ±2 g, halving with each doubling of the range.
    this.accScale = STANDARD_GRAVITY / (32768 / range);
    this.gyroScale = DEG_TO_RAD / (GYRO_RANGE[settings.gyroRangeDps ?? 2000]?.lsbPerDps ?? 16.4);
    this.accDataReg = c.accData;
    this.accPackedReg = c.accPacked;
    this.gyroDataReg = c.gyroData;
    this.gyroPackedReg = c.gyroPacked;
  }

  decode(characteristic: string, data: Uint8Array): DecodeResult {
    return guard(() => {
      if (characteristic !== METAWEAR_NOTIFY)
        return reject('UNKNOWN_CHARACTERISTIC', `MetaWear decoder got data for ${characteristic}`);
      if (data.length === 0) return reject('EMPTY', 'empty MetaWear notification');
      if (data.length < 2)
        return reject('TRUNCATED', 'MetaWear notification shorter than [module][register]');
      const module = data[0]!;
      const reg = data[1]!;
      if (reg === READ) {
        return {
          ok: true,
          control: {
            kind: 'metawear.module-info',
            ok: data.length > 2,
            detail: { module, present: data.length > 2, implementation: data[2], revision: data[3] },
          },
        };
      }
      if (module === Module.ACC && (reg === this.accDataReg || reg === this.accPackedReg))
        return this.samples(data, reg === this.accPackedReg, 'acc');
      if (module === Module.GYRO && (reg === this.gyroDataReg || reg === this.gyroPackedReg))
        return this.samples(data, reg === this.gyroPackedReg, 'gyro');
      return reject(
        'BAD_HEADER',
        `MetaWear message for module 0x${module.toString(16)} register 0x${reg.toString(16)} is not a configured stream: ${hex(data)}`,
      );
    });
  }

  private samples(data: Uint8Array, packed: boolean, stream: 'acc' | 'gyro'): DecodeResult {
    const n = packed ? 3 : 1;
    const expected = 2 + 6 * n;
    if (data.length < expected)
      return reject(
        'TRUNCATED',
        `${packed ? 'packed ' : ''}${stream} message of ${data.length} bytes, expected ${expected}`,
      );
    if (data.length > expected)
      return reject(
        'BAD_LENGTH',
        `${packed ? 'packed ' : ''}${stream} message of ${data.length} bytes, expected ${expected}`,
      );
    const dv = view(data);
    const k = stream === 'acc' ? this.accScale : this.gyroScale;
    const values = new Float32Array(3 * n);
    for (let i = 0; i < 3 * n; i++) values[i] = dv.getInt16(2 + 2 * i, true) * k;
    return { ok: true, imu: stream === 'acc' ? { n, acc: values } : { n, gyro: values } };
  }
}

function matches(advert: Advertisement): boolean {
  return (
    advert.serviceUuids.includes(METAWEAR_SERVICE) || /^(MetaWear|MetaMotion)/i.test(advert.localName ?? '')
  );
}

export const metawearDriver: DeviceDriver = {
  family: 'metawear',
  displayName: 'MbientLab MetaWear / MetaMotion (BMI160, BMI270)',
  document:
    'MbientLab MetaWear C++ SDK docs and registers (mbientlab/MetaWear-SDK-Cpp cppdocs/source/{accelerometer,gyro}.rst, sensor/cpp/*_register.h)',
  role: 'imu',
  capabilities: {
    streams: ['acc', 'gyro'],
    ratesHz: RATES_HZ,
    accRangesG: ACC_RANGES,
    gyroRangesDps: GYRO_RANGES,
    deviceTime: false,
  },
  services: [METAWEAR_SERVICE],
  dataCharacteristics: [METAWEAR_NOTIFY],
  matches,
  resolveSettings,
  startSequence,
  stopSequence,
  createDecoder: (settings) => new MetaWearDecoder(settings),
};
