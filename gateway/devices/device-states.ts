import { merge, Subject, Subscription, type Observable } from 'rxjs';
import { realTimers, repeat, type Repeating, type Timers } from '../clock/timers.ts';
import { PAYLOAD_VERSION, type DeviceState } from '../domain/events.ts';
import type { Service } from '../service.ts';
import type { MqttSink } from '../sinks/mqtt/index.ts';
import type { DeviceTracker } from './device-tracker.ts';

/** Period of device-state re-evaluation (connected / silent) and its retained MQTT message. */
export const DEVICE_TICK_MS = 5000;

/**
 * Every device's state in one place: the tracker's (replay, ingest) merged with what the
 * sources that know more (BLE, cameras) report themselves.
 */
export class DeviceStates {
  private readonly reported = new Subject<DeviceState>();
  /** Every device state change. */
  readonly states$: Observable<DeviceState>;

  constructor(
    private readonly tracker: DeviceTracker,
    private readonly gatewayId: string,
    /** Devices whose source keeps their state (BLE, cameras); theirs wins over the tracker's. */
    private readonly ownStates: () => DeviceState[],
  ) {
    this.states$ = merge(tracker.states$, this.reported);
  }

  report(state: DeviceState): void {
    this.reported.next(state);
  }

  /** A device removed at runtime: reported disconnected, with no subject. */
  reportRemoved(device: string): void {
    this.reported.next({
      v: PAYLOAD_VERSION,
      gateway: this.gatewayId,
      device,
      kind: 'imu',
      subject: null,
      connected: false,
      battery: null,
      rssi: null,
      rateHz: null,
      dropped: 0,
      reconnects: 0,
      lastSeen: null,
    });
  }

  /** Every device: replay/ingest ones from the tracker, BLE and camera ones from their source (richer). */
  snapshot(): DeviceState[] {
    const own = this.ownStates();
    const ownIds = new Set(own.map((d) => d.device));
    return [...this.tracker.snapshot().filter((d) => !ownIds.has(d.device)), ...own];
  }

  complete(): void {
    this.reported.complete();
  }
}

/** Device states to MQTT (retained); at stop, a last evaluation goes out before MQTT does. */
export class DeviceStatePublisher implements Service {
  readonly name = 'device-states';
  private readonly subscription = new Subscription();

  constructor(
    private readonly states: DeviceStates,
    private readonly tracker: DeviceTracker,
    private readonly mqtt: () => Pick<MqttSink, 'publishDeviceState'> | undefined,
  ) {}

  start(): void {
    this.subscription.add(this.states.states$.subscribe((state) => this.mqtt()?.publishDeviceState(state)));
  }

  stop(): void {
    this.tracker.tick();
    this.tracker.complete();
    this.subscription.unsubscribe();
  }
}

/**
 * Re-evaluates device states every DEVICE_TICK_MS on the injected timers (the tracker reads the
 * injected clock; tests pass virtual timers and a clock that agrees).
 */
export class DeviceTicker implements Service {
  readonly name = 'device-ticker';
  private ticks: Repeating | undefined;

  constructor(
    private readonly tracker: DeviceTracker,
    private readonly timers: Timers = realTimers,
  ) {}

  start(): void {
    this.ticks = repeat(this.timers, DEVICE_TICK_MS, () => this.tracker.tick());
    this.tracker.tick();
  }

  stop(): void {
    this.ticks?.cancel();
    this.ticks = undefined;
  }
}
