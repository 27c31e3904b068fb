import { Subject, type Observable } from 'rxjs';
import { PAYLOAD_VERSION, type DeviceState } from '../domain/events.ts';
import type { SampleChunk } from '../domain/samples.ts';
import { nsToIso, type Clock } from '../domain/time.ts';

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
}

export interface DeviceTrackerOptions {
  readonly gateway: string;
  readonly clock: Clock;
  /** A device with no samples for this long (gateway clock) is reported disconnected. */
  readonly silentAfterMs?: number;
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

  constructor(private readonly options: DeviceTrackerOptions) {
    this.silentAfterNs = (options.silentAfterMs ?? 5000) * 1e6;
  }

  register(device: TrackedDevice): void {
    const stats: DeviceStats = { device, samples: 0, lastSeenNs: null, rateHz: null, connected: false };
    this.devices.set(device.id, stats);
    for (const source of device.sourceIds) this.bySource.set(source, stats);
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
      this.changes.next(this.stateOf(stats));
    }
  }

  /** Re-evaluates connectivity and emits every device's state (call periodically). */
  tick(): void {
    const now = this.options.clock.nowNs();
    for (const stats of this.devices.values()) {
      stats.connected = stats.lastSeenNs !== null && now - stats.lastSeenNs < this.silentAfterNs;
      this.changes.next(this.stateOf(stats));
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
