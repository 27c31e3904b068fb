import { Subject, type Observable } from 'rxjs';
import { PAYLOAD_VERSION, type DeviceState } from '../domain/events.ts';
import type { SampleChunk } from '../domain/samples.ts';
import { nsToIso, type Clock } from '../domain/time.ts';
import { INGEST_DEFAULTS } from '../sources/mqtt/options.ts';

/** A device (IMU or camera) the gateway expects samples from. */
export interface TrackedDevice {
  readonly id: string;
  readonly kind: 'imu' | 'camera';
  readonly subjectId: string | null;
  /** Stream ids this device produces (an IMU: its own id; a camera: `<camera>/<track>`…). */
  readonly sourceIds: readonly string[];
}

interface DeviceStats {
  readonly device: TrackedDevice;
  samples: number;
  lastSeenNs: number | null;
  rateHz: number | null;
  connected: boolean;
  /** Not configured: tracked within a cap, forgotten when idle, state not published unless allowed. */
  readonly unknown: boolean;
}

export interface UnknownDeviceOptions {
  readonly maxTracked: number;
  readonly idleTimeoutMs: number;
  readonly publishState: boolean;
}

export interface DeviceTrackerOptions {
  readonly gateway: string;
  readonly clock: Clock;
  /** A device with no samples for this long (gateway clock) is reported disconnected. */
  readonly silentAfterMs?: number;
  /** Devices seen but not configured (default: ingest.unknownDevices' defaults). */
  readonly unknown?: UnknownDeviceOptions;
  /** Counts what happens to unknown devices. */
  readonly onUnknown?: (outcome: 'tracked' | 'refused' | 'expired') => void;
}

/**
 * Device state for sources that have no connection of their own to report (replay, MQTT
 * ingest): a device is "connected" while samples arrive, its rate is measured from the
 * sample times (so a replay at N× still reports the device's real rate), and last-seen is
 * the gateway clock at arrival. BLE reports its own, richer state.
 */
export class DeviceTracker {
  private readonly devices = new Map<string, DeviceStats>();
  private readonly bySource = new Map<string, DeviceStats>();
  private readonly changes = new Subject<DeviceState>();
  readonly states$: Observable<DeviceState> = this.changes.asObservable();
  private readonly silentAfterNs: number;
  private readonly unknownOpts: UnknownDeviceOptions;
  private unknownCount = 0;

  constructor(private readonly options: DeviceTrackerOptions) {
    this.silentAfterNs = (options.silentAfterMs ?? 5000) * 1e6;
    this.unknownOpts = options.unknown ?? INGEST_DEFAULTS.unknownDevices;
  }

  register(device: TrackedDevice): void {
    this.add(device, false);
  }

  /**
   * A device that is not configured (an IMU stream nobody listed): tracked only while fewer
   * than `unknown.maxTracked` are, forgotten after `unknown.idleTimeoutMs` of silence, its
   * state not emitted unless `unknown.publishState`. False when refused (at the cap).
   */
  registerUnknown(device: TrackedDevice): boolean {
    if (this.unknownCount >= this.unknownOpts.maxTracked) {
      this.options.onUnknown?.('refused');
      return false;
    }
    this.add(device, true);
    this.unknownCount++;
    this.options.onUnknown?.('tracked');
    return true;
  }

  /** Unknown devices tracked now. */
  get unknownTracked(): number {
    return this.unknownCount;
  }

  private add(device: TrackedDevice, unknown: boolean): void {
    const old = this.devices.get(device.id);
    if (old?.unknown) this.forget(old);
    const stats: DeviceStats = {
      device,
      samples: 0,
      lastSeenNs: unknown ? this.options.clock.nowNs() : null,
      rateHz: null,
      connected: false,
      unknown,
    };
    this.devices.set(device.id, stats);
    for (const source of device.sourceIds) this.bySource.set(source, stats);
  }

  private forget(stats: DeviceStats): void {
    this.devices.delete(stats.device.id);
    for (const source of stats.device.sourceIds)
      if (this.bySource.get(source) === stats) this.bySource.delete(source);
    if (stats.unknown) this.unknownCount--;
  }

  private publishes(stats: DeviceStats): boolean {
    return !stats.unknown || this.unknownOpts.publishState;
  }

  has(sourceId: string): boolean {
    return this.bySource.has(sourceId);
  }

  observe(chunk: SampleChunk): void {
    const stats = this.bySource.get(chunk.sourceId);
    if (!stats) return;
    const n = chunk.tNs.length;
    stats.samples += n;
    stats.lastSeenNs = this.options.clock.nowNs();
    if (n >= 2) {
      const spanS = ((chunk.tNs[n - 1] as number) - (chunk.tNs[0] as number)) / 1e9;
      if (spanS > 0) {
        const rate = (n - 1) / spanS;
        // Smoothed, because one 100 ms chunk holds only a handful of samples.
        stats.rateHz = stats.rateHz === null ? rate : stats.rateHz + 0.2 * (rate - stats.rateHz);
      }
    }
    if (!stats.connected) {
      stats.connected = true;
      if (this.publishes(stats)) this.changes.next(this.stateOf(stats));
    }
  }

  /** Re-evaluates connectivity and emits every device's state (call periodically). */
  tick(): void {
    const now = this.options.clock.nowNs();
    const idleNs = this.unknownOpts.idleTimeoutMs * 1e6;
    for (const stats of [...this.devices.values()]) {
      if (stats.unknown && stats.lastSeenNs !== null && now - stats.lastSeenNs >= idleNs) {
        this.forget(stats);
        this.options.onUnknown?.('expired');
        continue;
      }
      stats.connected = stats.lastSeenNs !== null && now - stats.lastSeenNs < this.silentAfterNs;
      if (this.publishes(stats)) this.changes.next(this.stateOf(stats));
    }
  }

  snapshot(): DeviceState[] {
    return [...this.devices.values()].map((s) => this.stateOf(s));
  }

  complete(): void {
    this.changes.complete();
  }

  private stateOf(stats: DeviceStats): DeviceState {
    return {
      v: PAYLOAD_VERSION,
      gateway: this.options.gateway,
      device: stats.device.id,
      kind: stats.device.kind,
      subject: stats.device.subjectId,
      connected: stats.connected,
      battery: null,
      rssi: null,
      rateHz: stats.rateHz === null ? null : Math.round(stats.rateHz * 10) / 10,
      dropped: 0,
      reconnects: 0,
      lastSeen: stats.lastSeenNs === null ? null : nsToIso(stats.lastSeenNs),
    };
  }
}
