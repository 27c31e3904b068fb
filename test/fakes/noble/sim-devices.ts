import type { GattServiceDef, SimContext, SimDevice } from './fake-bindings.ts';
import {
  G,
  PMD,
  POLAR_EPOCH_UNIX_NS,
  THINGY,
  WIT,
  encodePmdAccInt16,
  encodePmdCompressed,
  encodePmdFactor,
  encodePmdResponse,
  encodeThingyRaw,
  encodeWitPacket,
  parsePmdCommand,
  parseThingyConfig,
  parseWitCommand,
} from './encoders.ts';

/*
 * Simulated wearables. Each streams at its own (slightly wrong) crystal rate, numbers its
 * samples on its own clock, and answers the commands its vendor documents. Samples come from
 * a signal function so end-to-end tests can feed a recorded movement through the radio.
 */

/** Canonical sample: m/s² and rad/s. */
export interface SimSample {
  readonly acc: readonly [number, number, number];
  readonly gyro: readonly [number, number, number];
}

/** Signal as a function of device time since its power-on, seconds. */
export type SimSignal = (tS: number) => SimSample;

export const defaultSignal =
  (phase = 0): SimSignal =>
  (t) => ({
    acc: [
      Math.sin(2 * Math.PI * 1.3 * t + phase) * 2,
      Math.cos(2 * Math.PI * 0.7 * t + phase),
      G + Math.sin(2 * Math.PI * 2 * t) * 0.5,
    ],
    gyro: [Math.sin(2 * Math.PI * 0.9 * t + phase) * 1.5, 0.2, Math.cos(2 * Math.PI * 1.1 * t) * 0.8],
  });

export interface SimDeviceOptions {
  readonly uuid: string;
  readonly name?: string;
  readonly rssi?: number;
  /** Crystal error: the device's second is (1 + ppm·1e-6) real seconds. Default 0. */
  readonly driftPpm?: number;
  readonly signal?: SimSignal;
  readonly battery?: number;
}

const BATTERY: GattServiceDef = {
  uuid: '180f',
  characteristics: [{ uuid: '2a19', properties: ['read', 'notify'] }],
};

function addressOf(uuid: string): string {
  return (uuid.match(/.{1,2}/g) ?? []).slice(0, 6).join(':');
}

/** One periodic stream on a device's clock. */
class Stream {
  private index = 0;
  private running = false;
  constructor(
    private readonly ctx: SimContext,
    private readonly rateHz: number,
    private readonly perPacket: number,
    private readonly driftPpm: number,
    private readonly emit: (firstIndex: number, count: number) => void,
  ) {}

  start(): void {
    this.running = true;
    this.arm();
  }

  stop(): void {
    this.running = false;
  }

  private arm(): void {
    // The device's notion of the packet period, seen on the true clock.
    const periodMs = (this.perPacket / this.rateHz) * 1000 * (1 + this.driftPpm * 1e-6);
    this.ctx.schedule(() => {
      if (!this.running) return;
      this.emit(this.index, this.perPacket);
      this.index += this.perPacket;
      this.arm();
    }, periodMs);
  }
}

abstract class BaseSim implements SimDevice {
  readonly uuid: string;
  readonly address: string;
  abstract readonly localName: string;
  abstract readonly advertisedServices: readonly string[];
  abstract readonly gatt: readonly GattServiceDef[];
  rssi: number;
  battery: number;
  samplesSent = 0;
  protected readonly driftPpm: number;
  protected readonly signal: SimSignal;
  protected ctx: SimContext | undefined;
  protected streams = new Map<string, Stream>();
  /** Device power-on instant on the test clock, ms (its clock starts here). */
  protected readonly bornMs: number;

  constructor(options: SimDeviceOptions, bornMs = 0) {
    this.uuid = options.uuid;
    this.address = addressOf(options.uuid);
    this.rssi = options.rssi ?? -60;
    this.battery = options.battery ?? 87;
    this.driftPpm = options.driftPpm ?? 0;
    this.signal = options.signal ?? defaultSignal();
    this.bornMs = bornMs;
  }

  onConnect(ctx: SimContext): void {
    this.ctx = ctx;
  }

  onDisconnect(): void {
    for (const s of this.streams.values()) s.stop();
    this.streams.clear();
    this.ctx = undefined;
  }

  onNotify(_service: string, _characteristic: string, _on: boolean): void {}

  read(service: string, characteristic: string): Uint8Array | undefined {
    if (service === '180f' && characteristic === '2a19') return Uint8Array.of(this.battery);
    return undefined;
  }

  abstract onWrite(service: string, characteristic: string, data: Uint8Array): void;

  /** Device time of sample `index` of a stream started at device time `startS`, seconds. */
  protected sampleTimeS(startS: number, rateHz: number, index: number): number {
    return startS + index / rateHz;
  }

  /** Device seconds since power-on, as its crystal counts them. */
  protected deviceNowS(): number {
    const ctx = this.ctx;
    if (!ctx) return 0;
    return (ctx.timers.now() - this.bornMs) / 1000 / (1 + this.driftPpm * 1e-6);
  }

  protected startStream(
    key: string,
    rateHz: number,
    perPacket: number,
    emit: (first: number, count: number) => void,
  ): void {
    const ctx = this.ctx;
    if (!ctx) return;
    this.streams.get(key)?.stop();
    const s = new Stream(ctx, rateHz, perPacket, this.driftPpm, (first, count) => {
      this.samplesSent += count;
      emit(first, count);
    });
    this.streams.set(key, s);
    s.start();
  }
}

export interface PolarSimOptions extends SimDeviceOptions {
  readonly model: 'h10' | 'verity';
  /** Device wall clock at power-on, Unix ns (Polar clocks are set by the phone app). */
  readonly clockUnixNs?: bigint;
}

/** Polar H10 (ACC only, uncompressed int16 frames) or Verity Sense (ACC + GYRO, delta-compressed). */
export class PolarSim extends BaseSim {
  readonly localName: string;
  readonly advertisedServices = ['180d'];
  readonly gatt: readonly GattServiceDef[];
  readonly model: 'h10' | 'verity';
  private readonly clockUnixNs: bigint;
  /** °/s per unit (±1000 °/s over int16). */
  static readonly GYRO_FACTOR = 0.030518;
  /** g per unit of a compressed type-0 ACC frame (the decoder multiplies by 1000 for mG). */
  static readonly ACC_FACTOR_G = 1 / 4096;

  constructor(options: PolarSimOptions, bornMs = 0) {
    super(options, bornMs);
    this.model = options.model;
    this.localName =
      options.name ??
      (options.model === 'h10'
        ? `Polar H10 ${options.uuid.slice(-8).toUpperCase()}`
        : `Polar Sense ${options.uuid.slice(-8).toUpperCase()}`);
    this.clockUnixNs = options.clockUnixNs ?? 1_750_000_000_000_000_000n;
    this.gatt = [
      { uuid: '180d', characteristics: [{ uuid: '2a37', properties: ['notify'] }] },
      {
        uuid: PMD.service,
        characteristics: [
          { uuid: PMD.controlPoint, properties: ['read', 'write', 'indicate'] },
          { uuid: PMD.data, properties: ['notify'] },
        ],
      },
      BATTERY,
    ];
  }

  private supported(measurement: number): boolean {
    return (
      measurement === PMD.measurement.acc || (this.model === 'verity' && measurement === PMD.measurement.gyro)
    );
  }

  private rates(measurement: number): number[] {
    if (this.model === 'h10') return [25, 50, 100, 200];
    return measurement === PMD.measurement.acc ? [52] : [26, 52, 104, 208, 416];
  }

  override read(service: string, characteristic: string): Uint8Array | undefined {
    if (service === PMD.service && characteristic === PMD.controlPoint) {
      // Feature bitmap: ECG, PPG, ACC, PPI, -, GYRO, MAG.
      return Uint8Array.of(0x0f, this.model === 'h10' ? 0b0000_0101 : 0x66, 0);
    }
    return super.read(service, characteristic);
  }

  onWrite(service: string, characteristic: string, data: Uint8Array): void {
    if (service !== PMD.service || characteristic !== PMD.controlPoint) return;
    const ctx = this.ctx;
    if (!ctx) return;
    const cmd = parsePmdCommand(data);
    if (!cmd) return;
    const respond = (status: number, params?: Uint8Array): void =>
      ctx.schedule(
        () =>
          ctx.notify(
            PMD.service,
            PMD.controlPoint,
            encodePmdResponse(cmd.op, cmd.measurement, status, params),
          ),
        5,
      );
    if (!this.supported(cmd.measurement)) return respond(0x03); // NOT_SUPPORTED
    if (cmd.op === PMD.op.getSettings) {
      const rates = this.rates(cmd.measurement);
      const p = [0x00, rates.length, ...rates.flatMap((r) => [r & 0xff, r >> 8]), 0x01, 1, 16, 0];
      return respond(0, Uint8Array.from(p));
    }
    if (cmd.op === PMD.op.stop) {
      this.streams.get(String(cmd.measurement))?.stop();
      this.streams.delete(String(cmd.measurement));
      return respond(0);
    }
    if (cmd.op !== PMD.op.start) return respond(0x01);
    const rate = cmd.settings.get(PMD.setting.sampleRate);
    if (rate === undefined || !this.rates(cmd.measurement).includes(rate)) return respond(0x08); // INVALID_SAMPLE_RATE
    if (this.streams.has(String(cmd.measurement))) return respond(0x06); // ALREADY_IN_STATE
    const isAcc = cmd.measurement === PMD.measurement.acc;
    const compressed = this.model === 'verity';
    const factor = isAcc ? PolarSim.ACC_FACTOR_G : PolarSim.GYRO_FACTOR;
    respond(0, compressed ? encodePmdFactor(factor) : new Uint8Array());
    const startS = this.deviceNowS();
    const perPacket = Math.max(1, Math.min(36, Math.round(rate / 10)));
    this.startStream(String(cmd.measurement), rate, perPacket, (first, count) => {
      const raw = new Int32Array(count * 3);
      let lastS = 0;
      for (let k = 0; k < count; k++) {
        lastS = this.sampleTimeS(startS, rate, first + k);
        const s = this.signal(lastS);
        for (let c = 0; c < 3; c++) {
          if (!isAcc) raw[k * 3 + c] = Math.round((s.gyro[c]! * 180) / Math.PI / factor);
          else raw[k * 3 + c] = Math.round(compressed ? s.acc[c]! / G / factor : (s.acc[c]! / G) * 1000);
        }
      }
      const lastNs = this.clockUnixNs + BigInt(Math.round(lastS * 1e9)) - POLAR_EPOCH_UNIX_NS;
      const frame = compressed
        ? encodePmdCompressed(cmd.measurement, lastNs, 0x00, 3, raw)
        : encodePmdAccInt16(lastNs, Int16Array.from(raw));
      ctx.notify(PMD.service, PMD.data, frame);
    });
  }
}

/** WitMotion WT901BLE: one 20-byte packet per sample on FFE4; rate set by FF AA 03 <code> 00. */
export class WitMotionSim extends BaseSim {
  readonly localName: string;
  readonly advertisedServices = [WIT.service];
  readonly gatt: readonly GattServiceDef[] = [
    {
      uuid: WIT.service,
      characteristics: [
        { uuid: WIT.notify, properties: ['notify'] },
        { uuid: WIT.write, properties: ['write', 'writeWithoutResponse'] },
      ],
    },
  ];
  rateHz = 10;

  constructor(options: SimDeviceOptions, bornMs = 0) {
    super(options, bornMs);
    this.localName = options.name ?? `WT901BLE68`;
  }

  override onConnect(ctx: SimContext): void {
    super.onConnect(ctx);
    // The sensor streams as soon as the link is up; notifications reach us once enabled.
    this.restart();
  }

  private restart(): void {
    const startS = this.deviceNowS();
    const rate = this.rateHz;
    this.startStream('imu', rate, 1, (first) => {
      const s = this.signal(this.sampleTimeS(startS, rate, first));
      this.ctx?.notify(WIT.service, WIT.notify, encodeWitPacket(s.acc, s.gyro));
    });
  }

  onWrite(service: string, characteristic: string, data: Uint8Array): void {
    if (service !== WIT.service || characteristic !== WIT.write) return;
    const cmd = parseWitCommand(data);
    if (!cmd || cmd.register !== 0x03) return;
    const rate = WIT.rates.get(cmd.value);
    if (rate === undefined || rate === this.rateHz) return;
    this.rateHz = rate;
    this.restart();
  }
}

/** Nordic Thingy:52: raw motion notifications at the configured motion-processing frequency. */
export class ThingySim extends BaseSim {
  readonly localName: string;
  readonly advertisedServices = ['ef6801009b3549339b1052ffa9740042'];
  readonly gatt: readonly GattServiceDef[] = [
    {
      uuid: THINGY.motionService,
      characteristics: [
        { uuid: THINGY.config, properties: ['read', 'write'] },
        { uuid: THINGY.raw, properties: ['notify'] },
      ],
    },
    {
      uuid: 'ef6801009b3549339b1052ffa9740042',
      characteristics: [{ uuid: 'ef6801049b3549339b1052ffa9740042', properties: ['read', 'write'] }],
    },
    BATTERY,
  ];
  motionHz = 10;
  private rawOn = false;

  constructor(options: SimDeviceOptions, bornMs = 0) {
    super(options, bornMs);
    this.localName = options.name ?? 'Thingy';
  }

  override read(service: string, characteristic: string): Uint8Array | undefined {
    if (service === THINGY.motionService && characteristic === THINGY.config) {
      return Uint8Array.of(0xe8, 0x03, 0xf4, 0x01, 0xf4, 0x01, this.motionHz & 0xff, this.motionHz >> 8, 1);
    }
    return super.read(service, characteristic);
  }

  override onNotify(service: string, characteristic: string, on: boolean): void {
    if (service !== THINGY.motionService || characteristic !== THINGY.raw) return;
    this.rawOn = on;
    if (on) this.restart();
    else this.streams.get('raw')?.stop();
  }

  override onDisconnect(): void {
    super.onDisconnect();
    this.rawOn = false;
  }

  private restart(): void {
    const startS = this.deviceNowS();
    const rate = this.motionHz;
    this.startStream('raw', rate, 1, (first) => {
      const s = this.signal(this.sampleTimeS(startS, rate, first));
      this.ctx?.notify(THINGY.motionService, THINGY.raw, encodeThingyRaw(s.acc, s.gyro));
    });
  }

  onWrite(service: string, characteristic: string, data: Uint8Array): void {
    if (service !== THINGY.motionService || characteristic !== THINGY.config) return;
    const cfg = parseThingyConfig(data);
    if (!cfg || cfg.motionHz < 5 || cfg.motionHz > 200) return;
    this.motionHz = cfg.motionHz;
    if (this.rawOn) this.restart();
  }
}
