import { Subject, type Observable, type Subscription } from 'rxjs';
import type { NobleBindings } from '@abandonware/noble/with-bindings';
import { PAYLOAD_VERSION, type DeviceState } from '../../domain/events.ts';
import type { ImuChunk, Placement } from '../../domain/samples.ts';
import { nsToIso, type Clock } from '../../domain/time.ts';
import { GatewayError, errorCode, errorMessage } from '../../observability/errors.ts';
import type { HealthRegistry } from '../../observability/health.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Registry } from '../../observability/metrics.ts';
import { openBleAdapter, parseAdapterName, type BleAdapter, type Discovery } from './adapter.ts';
import { StreamClockAligner } from './clock-align.ts';
import {
  ConnectionManager,
  type ConnectionManagerOptions,
  type DecodedPacket,
  type DeviceStatus,
  type DeviceTarget,
} from './connection-manager.ts';
import { COMPANION_DRIVERS, buildDriverRegistry, type DriverRegistry } from './devices/index.ts';
import type { ImuSamples } from './driver.ts';
import { bleMetrics, type BleMetrics } from './metrics.ts';
import { NearbyList, type NearbyDevice } from './nearby.ts';
import { deviceIdFor, type BleConfig, type BleDeviceConfig } from './options.ts';
import { StreamMerger } from './stream-merge.ts';
import { realTimers, type Timers } from '../../clock/timers.ts';

/*
 * Long file: the BLE source's wiring (config → manager → decoders → clock alignment → device
 *   state) in one place; the parts it wires live in their own files.
 *
 * BLE wearables as a sample source: config → connection manager → decoders → clock
 * alignment → 6-channel ImuChunks on the gateway clock, plus the retained device state.
 */

export type BleSourceOptions = Pick<BleConfig, 'devices'> & Partial<Omit<BleConfig, 'devices'>>;

export interface BleSourceDeps {
  readonly gatewayId: string;
  readonly clock: Clock;
  readonly registry: Registry;
  readonly health: HealthRegistry;
  readonly logger?: Logger;
  /** Default: real timers. Tests pass virtual ones that agree with `clock`. */
  readonly timers?: Timers;
  /** Fake bindings for tests; absent → the platform's, loaded only in start(). */
  readonly bindings?: NobleBindings;
  readonly drivers?: DriverRegistry;
  readonly random?: () => number;
  /** Connection-manager tuning beyond what the config exposes. */
  readonly manager?: Partial<ConnectionManagerOptions>;
}

export interface Assignment {
  readonly subject?: string | null;
  readonly placement?: Placement;
}

/** Whether the operator's scan (or auto-detection) keeps the radio listening for new wearables. */
export interface ScanStatus {
  readonly scanning: boolean;
  /** When an operator's scan ends (ISO 8601, gateway clock); null when none runs. */
  readonly until: string | null;
  /** `ble.autoDetect`: the radio listens all the time and supported devices are added by themselves. */
  readonly autoDetect: boolean;
  /** Adapter power state (poweredOn, poweredOff, unauthorized, unknown…). */
  readonly adapterState: string;
}

/** A configured wearable as the onboarding panel lists it (to assign it, whether it advertises or not). */
export interface ConfiguredWearable {
  readonly id: string;
  readonly family: string;
  readonly address: string | null;
  readonly namePattern: string | null;
  readonly subject: string | null;
  readonly placement: Placement;
}

/** The scan list: every device heard lately, with the family detected. */
export interface NearbyReport extends ScanStatus {
  readonly devices: readonly NearbyDevice[];
  /** Every configured wearable (connected ones stop advertising, so they leave `devices`). */
  readonly configured: readonly ConfiguredWearable[];
  /** Rows pushed out of the list by its size bound since start. */
  readonly evicted: number;
}

/** Longest operator scan, s: scanning costs radio time the connected wearables need. */
export const MAX_SCAN_S = 300;

export interface BleSource {
  readonly chunks$: Observable<ImuChunk>;
  /** Device state on every change and every 5 s rate window (for MQTT retained state, /api/devices). */
  readonly devices$: Observable<DeviceState>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Adds a device at runtime; returns its id. Throws BLE_UNKNOWN_FAMILY / BLE_DUPLICATE_DEVICE / BLE_BAD_DEVICE. */
  addDevice(entry: BleDeviceConfig): string;
  removeDevice(id: string): Promise<boolean>;
  /** Re-assigns a device to a subject/placement; takes effect from the next chunk. */
  assign(id: string, assignment: Assignment): void;
  /** Current state of every device. */
  devices(): DeviceState[];
  /** Detailed status (phase, settings, last error) for /api/devices. */
  statuses(): DeviceStatus[];
  /** The device list as config entries, to persist after runtime changes. */
  deviceConfigs(): BleDeviceConfig[];
  /**
   * Listens for new wearables for `seconds` (1..MAX_SCAN_S) even when every configured device is
   * connected; a second call extends or shortens the scan. Throws BLE_NOT_READY before the
   * adapter is open.
   */
  scan(seconds: number): ScanStatus;
  /** The scan list (what was heard in the last 30 s). */
  nearby(): NearbyReport;
  /** The adapter and manager once started (tests, diagnostics). */
  readonly adapter: BleAdapter | undefined;
  readonly manager: ConnectionManager | undefined;
}

interface DeviceEntry {
  id: string;
  config: BleDeviceConfig;
  subject: string | null;
  placement: Placement;
  link: number;
  aligners: Map<string, StreamClockAligner>;
  merger: StreamMerger | null;
  lost: number;
  discarded: number;
  decodeErrors: number;
}

export function createBleSource(options: BleSourceOptions, deps: BleSourceDeps): BleSource {
  const timers = deps.timers ?? realTimers;
  const logger = deps.logger?.child({ component: 'ble' });
  const metrics: BleMetrics = bleMetrics(deps.registry);
  const drivers = deps.drivers ?? buildDriverRegistry(options.generic ?? []);
  const chunks$ = new Subject<ImuChunk>();
  const devices$ = new Subject<DeviceState>();
  const entries = new Map<string, DeviceEntry>();
  const subs: Subscription[] = [];
  let adapter: BleAdapter | undefined;
  let manager: ConnectionManager | undefined;
  let adapterState = 'unknown';
  const heard = new NearbyList((advert) => drivers.detect(advert));
  let scanTimer: ReturnType<Timers['setTimeout']> | undefined;
  let scanUntilMs: number | null = null;

  function target(entry: DeviceEntry): DeviceTarget {
    const c = entry.config;
    const driver = drivers.get(c.family);
    if (!driver) {
      throw new GatewayError(
        'BLE_UNKNOWN_FAMILY',
        `ble device '${entry.id}': unknown family '${c.family}' (known: ${drivers.families().join(', ')})`,
        {
          details: { device: entry.id, family: c.family },
        },
      );
    }
    let namePattern: RegExp | undefined;
    if (c.namePattern !== undefined) {
      try {
        namePattern = new RegExp(c.namePattern);
      } catch (err) {
        throw new GatewayError(
          'BLE_BAD_DEVICE',
          `ble device '${entry.id}': namePattern '${c.namePattern}' is not a regular expression: ${errorMessage(err)}`,
        );
      }
    }
    if (!c.address && !namePattern)
      throw new GatewayError('BLE_BAD_DEVICE', `ble device '${entry.id}' needs an address or a namePattern`);
    return {
      key: entry.id,
      driver,
      ...(c.address ? { address: c.address } : {}),
      ...(namePattern ? { namePattern } : {}),
      request: {
        rateHz: c.rateHz,
        ...(c.accRangeG !== undefined ? { accRangeG: c.accRangeG } : {}),
        ...(c.gyroRangeDps !== undefined ? { gyroRangeDps: c.gyroRangeDps } : {}),
        ...(c.streams ? { streams: c.streams } : {}),
      },
    };
  }

  function addDevice(config: BleDeviceConfig): string {
    const id = deviceIdFor(config, entries.size);
    if (entries.has(id))
      throw new GatewayError('BLE_DUPLICATE_DEVICE', `ble device '${id}' is already configured`);
    const entry: DeviceEntry = {
      id,
      config: { ...config, id },
      subject: config.subject ?? null,
      placement: (config.placement ?? 'unknown') as Placement,
      link: -1,
      aligners: new Map(),
      merger: null,
      lost: 0,
      discarded: 0,
      decodeErrors: 0,
    };
    const t = target(entry); // validates before anything is registered
    entries.set(id, entry);
    manager?.add(t);
    return id;
  }

  async function removeDevice(id: string): Promise<boolean> {
    if (!entries.delete(id)) return false;
    await manager?.remove(id);
    return true;
  }

  function assign(id: string, a: Assignment): void {
    const entry = entries.get(id);
    if (!entry) throw new GatewayError('BLE_UNKNOWN_DEVICE', `no ble device '${id}'`);
    if (a.subject !== undefined) entry.subject = a.subject;
    if (a.placement !== undefined) entry.placement = a.placement;
    const { subject: _s, placement: _p, ...rest } = entry.config;
    entry.config = {
      ...rest,
      ...(entry.subject ? { subject: entry.subject } : {}),
      placement: entry.placement,
    };
    const status = manager?.statusOf(id);
    if (status) devices$.next(toState(entry, status));
  }

  function onPacket(p: DecodedPacket): void {
    const entry = entries.get(p.key);
    if (!entry) return;
    if (entry.link !== p.link) {
      entry.link = p.link;
      for (const a of entry.aligners.values()) a.newLink();
      entry.merger = new StreamMerger({ hasGyro: p.settings.streams.includes('gyro') });
    }
    if (!p.result.ok) {
      entry.decodeErrors++;
      metrics.dropped.inc({ device: entry.id, reason: 'decode' });
    }
    const imu = p.result.imu;
    if (!imu || imu.n === 0 || !entry.merger) return;
    emitRun(entry, imu, p.arrivalNs, p.settings.rateHz);
  }

  function aligner(entry: DeviceEntry, stream: string, rateHz: number): StreamClockAligner {
    let a = entry.aligners.get(stream);
    if (!a) {
      a = new StreamClockAligner({ nominalRateHz: rateHz });
      entry.aligners.set(stream, a);
    }
    return a;
  }

  function pick(values: Float32Array, kept: Int32Array | null): Float32Array {
    if (!kept) return values;
    const out = new Float32Array(kept.length * 3);
    for (let k = 0; k < kept.length; k++)
      out.set(values.subarray((kept[k] as number) * 3, (kept[k] as number) * 3 + 3), k * 3);
    return out;
  }

  function emitRun(entry: DeviceEntry, imu: ImuSamples, arrivalNs: number, rateHz: number): void {
    const merger = entry.merger as StreamMerger;
    const stream = imu.acc && imu.gyro ? 'both' : imu.acc ? 'acc' : imu.gyro ? 'gyro' : null;
    if (!stream) return;
    const run = aligner(entry, stream, rateHz).align(imu.n, arrivalNs, imu.deviceTimeNs);
    if (run.lost > 0) {
      entry.lost += run.lost;
      metrics.dropped.inc({ device: entry.id, reason: 'gap' }, run.lost);
    }
    if (run.notAscending > 0) {
      entry.discarded += run.notAscending;
      metrics.dropped.inc({ device: entry.id, reason: 'not_ascending' }, run.notAscending);
    }
    if (run.tNs.length === 0) return;
    const merged =
      stream === 'both'
        ? merger.combined(
            run.tNs,
            pick(imu.acc as Float32Array, run.kept),
            pick(imu.gyro as Float32Array, run.kept),
          )
        : stream === 'acc'
          ? merger.addAcc(run.tNs, pick(imu.acc as Float32Array, run.kept))
          : merger.addGyro(run.tNs, pick(imu.gyro as Float32Array, run.kept));
    if (merged.tNs.length === 0) return;
    chunks$.next({
      modality: 'imu',
      sourceId: entry.id,
      ...(entry.subject ? { subjectId: entry.subject } : {}),
      placement: entry.placement,
      tNs: merged.tNs,
      values: merged.values,
    });
  }

  function toState(entry: DeviceEntry, s: DeviceStatus): DeviceState {
    const nowMs = timers.now();
    return {
      v: PAYLOAD_VERSION,
      gateway: deps.gatewayId,
      device: entry.id,
      kind: 'imu',
      subject: entry.subject,
      connected: s.connected,
      battery: s.battery,
      rssi: s.rssi,
      rateHz: s.rateHz === null ? null : Math.round(s.rateHz * 10) / 10,
      dropped: entry.lost + entry.discarded + entry.decodeErrors,
      reconnects: s.reconnects,
      lastSeen: s.lastSeenMs === null ? null : nsToIso(deps.clock.nowNs() - (nowMs - s.lastSeenMs) * 1e6),
    };
  }

  function updateHealth(): void {
    const statuses = manager?.statuses() ?? [];
    const streaming = statuses.filter((s) => s.connected).length;
    const details = {
      adapter: adapter?.name ?? null,
      adapterState,
      streaming,
      devices: Object.fromEntries(statuses.map((s) => [s.key, s.phase])),
      resets: manager?.adapterResets ?? 0,
    };
    if (adapterState !== 'poweredOn') {
      deps.health.set('ble', {
        status: adapterState === 'unknown' ? 'starting' : 'down',
        ...(adapterState === 'unknown'
          ? {}
          : {
              error: {
                code: 'BLE_ADAPTER_OFF',
                message: `adapter ${adapter?.name ?? '?'} is ${adapterState}`,
                at: nsToIso(deps.clock.nowNs()),
              },
            }),
        details,
      });
      return;
    }
    const notStreaming = statuses.filter((s) => !s.connected);
    const worst = notStreaming.find((s) => s.lastError)?.lastError;
    deps.health.set('ble', {
      status: notStreaming.length === 0 ? 'up' : 'degraded',
      ...(worst && notStreaming.length > 0
        ? { error: { code: worst.code, message: worst.message, at: nsToIso(deps.clock.nowNs()) } }
        : {}),
      details,
    });
  }

  function onSeen(d: Discovery): void {
    if (!options.autoDetect || !manager) return;
    if (options.rssiFloor !== undefined && d.rssi < options.rssiFloor) return;
    const addr = d.address.toLowerCase();
    for (const e of entries.values()) {
      if (e.config.address?.toLowerCase().replace(/-/g, ':') === addr) return;
      if (
        e.config.namePattern &&
        d.advertisement.localName &&
        new RegExp(e.config.namePattern).test(d.advertisement.localName)
      )
        return;
    }
    if (manager.statuses().some((s) => s.address?.toLowerCase() === addr)) return;
    const driver = drivers.detect(d.advertisement);
    if (!driver) return;
    const id = addDevice({ address: d.address, family: driver.family, placement: 'unknown', rateHz: 50 });
    logger?.info(
      { device: id, family: driver.family, name: d.advertisement.localName },
      'BLE device auto-detected',
    );
  }

  async function start(): Promise<void> {
    if (manager) return;
    for (const d of options.devices) addDevice(d);
    deps.health.set('ble', { status: 'starting' });
    try {
      adapter = await openBleAdapter({
        hciDeviceId: parseAdapterName(options.adapter),
        ...(deps.bindings ? { bindings: deps.bindings } : {}),
        timers,
        ...(options.operationTimeoutMs !== undefined ? { opTimeoutMs: options.operationTimeoutMs } : {}),
        ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
        ...(logger ? { logger } : {}),
      });
    } catch (err) {
      deps.health.set('ble', {
        status: 'down',
        error: { code: errorCode(err), message: errorMessage(err), at: nsToIso(deps.clock.nowNs()) },
      });
      throw err;
    }
    manager = new ConnectionManager(
      {
        maxConnections: options.maxConnections ?? 5,
        ...(options.rssiFloor !== undefined ? { rssiFloor: options.rssiFloor } : {}),
        ...(options.stallPeriods !== undefined ? { stallPeriods: options.stallPeriods } : {}),
        companions: COMPANION_DRIVERS,
        ...(deps.random ? { random: deps.random } : {}),
        ...deps.manager,
      },
      { adapter, timers, nowNs: () => deps.clock.nowNs(), metrics, ...(logger ? { logger } : {}) },
    );
    manager.keepScanning = options.autoDetect ?? false;
    const m = manager;
    subs.push(
      m.decoded$.subscribe(onPacket),
      m.status$.subscribe((s) => {
        const entry = entries.get(s.key);
        if (entry) devices$.next(toState(entry, s));
        updateHealth();
      }),
      m.seen$.subscribe((d) => {
        heard.observe(d);
        onSeen(d);
      }),
      adapter.state$.subscribe((s) => {
        adapterState = s;
        updateHealth();
      }),
    );
    for (const e of entries.values()) m.add(target(e));
    m.start();
  }

  function scanStatus(): ScanStatus {
    return {
      scanning: scanUntilMs !== null || (options.autoDetect ?? false),
      until: scanUntilMs === null ? null : nsToIso(deps.clock.nowNs() + (scanUntilMs - timers.now()) * 1e6),
      autoDetect: options.autoDetect ?? false,
      adapterState,
    };
  }

  function scan(seconds: number): ScanStatus {
    if (!manager) {
      throw new GatewayError(
        'BLE_NOT_READY',
        'the BLE adapter is not open (see /health, component ble); cannot scan',
      );
    }
    if (!Number.isFinite(seconds) || seconds < 1 || seconds > MAX_SCAN_S) {
      throw new GatewayError('BLE_BAD_SCAN', `scan seconds must be 1..${MAX_SCAN_S}, got ${String(seconds)}`);
    }
    const m = manager;
    if (scanTimer !== undefined) timers.clearTimeout(scanTimer);
    scanUntilMs = timers.now() + seconds * 1000;
    m.keepScanning = true;
    scanTimer = timers.setTimeout(() => {
      scanTimer = undefined;
      scanUntilMs = null;
      m.keepScanning = options.autoDetect ?? false;
    }, seconds * 1000);
    logger?.info({ seconds }, 'BLE scan for new wearables');
    return scanStatus();
  }

  function nearby(): NearbyReport {
    const known = [...entries.values()].map((e) => ({
      id: e.id,
      address: e.config.address,
      namePattern: e.config.namePattern,
    }));
    const configured = [...entries.values()].map((e): ConfiguredWearable => ({
      id: e.id,
      family: e.config.family,
      address: e.config.address ?? null,
      namePattern: e.config.namePattern ?? null,
      subject: e.subject,
      placement: e.placement,
    }));
    return {
      ...scanStatus(),
      devices: heard.list(timers.now(), known),
      configured,
      evicted: heard.evicted,
    };
  }

  async function stop(): Promise<void> {
    if (scanTimer !== undefined) timers.clearTimeout(scanTimer);
    scanTimer = undefined;
    scanUntilMs = null;
    const m = manager;
    if (m) await m.stop();
    for (const s of subs.splice(0)) s.unsubscribe();
    adapter?.close();
    deps.health.set('ble', { status: 'stopped' });
    chunks$.complete();
    devices$.complete();
  }

  return {
    chunks$: chunks$.asObservable(),
    devices$: devices$.asObservable(),
    start,
    stop,
    addDevice,
    removeDevice,
    assign,
    scan,
    nearby,
    devices: () => {
      const out: DeviceState[] = [];
      for (const e of entries.values()) {
        const s = manager?.statusOf(e.id);
        if (s) out.push(toState(e, s));
      }
      return out;
    },
    statuses: () => manager?.statuses() ?? [],
    deviceConfigs: () => [...entries.values()].map((e) => e.config),
    get adapter() {
      return adapter;
    },
    get manager() {
      return manager;
    },
  };
}
