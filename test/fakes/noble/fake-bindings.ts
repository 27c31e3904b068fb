import { EventEmitter } from 'node:events';
import type { TimerHandle, Timers } from '../../../gateway/clock/timers.ts';

/*
 * Fake noble bindings: the same contract noble's HCI bindings fulfil (methods noble calls,
 * events noble listens to), over simulated devices on a virtual clock. The real `Noble`
 * (@abandonware/noble/with-bindings) runs on top, so the gateway's adapter drives real
 * Peripheral/Service/Characteristic objects.
 *
 * Faults it can play, each modelled on how the HCI stack behaves:
 * - powerOff(): the controller goes away; links vanish WITHOUT disconnect events (HCI polls
 *   the device state and only reports stateChange).
 * - wedge(): the controller stops answering: commands get no reply, notifications stop,
 *   until reset() (HCI reset) is sent.
 * - stall(uuid): the link stays up but the device sends nothing.
 * - setReachable(uuid, false): out of range: the link drops with a supervision timeout
 *   (reason 0x08) and the device is not seen advertising.
 * - dropLink(uuid): a plain disconnect (reason 0x13, remote terminated).
 * Connection attempts to an unreachable device stay pending, like LE Create Connection.
 */

export interface GattCharacteristicDef {
  readonly uuid: string;
  readonly properties: readonly string[];
}

export interface GattServiceDef {
  readonly uuid: string;
  readonly characteristics: readonly GattCharacteristicDef[];
}

/** What a simulated device can do through its link. */
export interface SimContext {
  readonly timers: Timers;
  /** Sends a notification/indication if the link is up, notifications are on and the device is not stalled. */
  notify(service: string, characteristic: string, data: Uint8Array): void;
  /** Arms a device timer (cleared on disconnect). */
  schedule(fn: () => void, ms: number): void;
}

export interface SimDevice {
  readonly uuid: string;
  readonly address: string;
  readonly localName: string;
  readonly advertisedServices: readonly string[];
  readonly manufacturerData?: Uint8Array;
  rssi: number;
  readonly gatt: readonly GattServiceDef[];
  /** Called on connect with a fresh context; the device starts from power-on defaults. */
  onConnect(ctx: SimContext): void;
  /** Link gone: stop everything. */
  onDisconnect(): void;
  onWrite(service: string, characteristic: string, data: Uint8Array): void;
  onNotify(service: string, characteristic: string, on: boolean): void;
  read(service: string, characteristic: string): Uint8Array | undefined;
  /** Samples sent since creation (for reports). */
  readonly samplesSent: number;
}

interface DeviceSlot {
  readonly device: SimDevice;
  reachable: boolean;
  stalled: boolean;
  connected: boolean;
  connecting: boolean;
  notifying: Set<string>;
  timers: Set<TimerHandle>;
}

export interface FakeBindingsOptions {
  readonly timers: Timers;
  /** Advertising interval of every device, ms. Default 200. */
  readonly advertisingIntervalMs?: number;
  /** Link-layer connection latency range, ms. Default [30, 250]. */
  readonly connectLatencyMs?: readonly [number, number];
  /** GATT round-trip, ms. Default 15. */
  readonly gattLatencyMs?: number;
  /** Links the controller accepts at most (real dongles: 5–10). Default 10. */
  readonly controllerMaxConnections?: number;
  /** Random source in [0, 1). Default Math.random. */
  readonly random?: () => number;
}

export class FakeBindings extends EventEmitter {
  readonly timers: Timers;
  private readonly slots = new Map<string, DeviceSlot>();
  private readonly advertisingIntervalMs: number;
  private readonly connectLatency: readonly [number, number];
  private readonly gattLatencyMs: number;
  private readonly controllerMax: number;
  private readonly random: () => number;
  private readonly ownTimers = new Set<TimerHandle>();
  private powered = true;
  private state: 'unknown' | 'poweredOn' | 'poweredOff' = 'unknown';
  private initialized = false;
  private wedged = false;
  private scanning = false;
  private advertTimer: TimerHandle | undefined;

  /** Observations for assertions. */
  readonly stats = {
    connectCalls: 0,
    maxConcurrentLinks: 0,
    maxPendingConnects: 0,
    resets: 0,
    notificationsSent: 0,
    commandsIgnoredWhileWedged: 0,
  };

  constructor(options: FakeBindingsOptions) {
    super();
    this.timers = options.timers;
    this.advertisingIntervalMs = options.advertisingIntervalMs ?? 200;
    this.connectLatency = options.connectLatencyMs ?? [30, 250];
    this.gattLatencyMs = options.gattLatencyMs ?? 15;
    this.controllerMax = options.controllerMaxConnections ?? 10;
    this.random = options.random ?? Math.random;
  }

  addDevice(device: SimDevice): void {
    this.slots.set(device.uuid, {
      device,
      reachable: true,
      stalled: false,
      connected: false,
      connecting: false,
      notifying: new Set(),
      timers: new Set(),
    });
  }

  removeDevice(uuid: string): void {
    const slot = this.slots.get(uuid);
    if (!slot) return;
    this.setReachable(uuid, false);
    this.slots.delete(uuid);
  }

  // ---- test controls -------------------------------------------------------------------

  get links(): number {
    let n = 0;
    for (const s of this.slots.values()) if (s.connected) n++;
    return n;
  }

  get pendingConnects(): number {
    let n = 0;
    for (const s of this.slots.values()) if (s.connecting) n++;
    return n;
  }

  isConnected(uuid: string): boolean {
    return this.slots.get(uuid)?.connected ?? false;
  }

  /** Timers armed by the fake itself (devices, advertising), so tests can tell them from the gateway's. */
  get pendingTimers(): number {
    let n = this.ownTimers.size;
    for (const s of this.slots.values()) n += s.timers.size;
    return n;
  }

  powerOff(): void {
    this.powered = false;
    for (const s of this.slots.values()) this.dropSilently(s);
    this.setState('poweredOff');
  }

  powerOn(): void {
    this.powered = true;
    this.wedged = false;
    if (this.initialized) this.setState('poweredOn');
  }

  wedge(): void {
    this.wedged = true;
  }

  get isWedged(): boolean {
    return this.wedged;
  }

  stall(uuid: string, stalled = true): void {
    const s = this.slot(uuid);
    s.stalled = stalled;
  }

  dropLink(uuid: string, reason = 0x13): void {
    const s = this.slot(uuid);
    if (s.connected) this.endLink(s, reason);
  }

  setReachable(uuid: string, reachable: boolean): void {
    const s = this.slot(uuid);
    s.reachable = reachable;
    if (!reachable) {
      // Supervision timeout: the central notices after a while (here: 500 ms).
      if (s.connected) this.later(() => s.connected && !s.reachable && this.endLink(s, 0x08), 500);
    } else if (s.connecting) {
      this.completeConnect(s);
    }
  }

  // ---- the bindings contract -----------------------------------------------------------

  init(): void {
    this.initialized = true;
    this.later(() => {
      this.emit('addressChange', '00:1a:7d:da:71:13');
      this.setState(this.powered ? 'poweredOn' : 'poweredOff');
    }, 1);
  }

  setScanParameters(): void {
    this.later(() => this.emit('scanParametersSet'), 1);
  }

  startScanning(_serviceUuids: string[] | undefined, allowDuplicates: boolean): void {
    if (!this.answers()) return;
    this.scanning = true;
    this.later(() => this.emit('scanStart', !allowDuplicates), 1);
    this.armAdvertising();
  }

  stopScanning(): void {
    if (!this.answers()) return;
    this.scanning = false;
    if (this.advertTimer) this.clear(this.advertTimer);
    this.advertTimer = undefined;
    this.later(() => this.emit('scanStop'), 1);
  }

  connect(uuid: string): void {
    this.stats.connectCalls++;
    if (!this.answers()) return;
    const s = this.slots.get(uuid);
    if (!s || s.connected) return;
    s.connecting = true;
    this.stats.maxPendingConnects = Math.max(this.stats.maxPendingConnects, this.pendingConnects);
    if (s.reachable) this.completeConnect(s);
  }

  cancelConnect(uuid: string): void {
    const s = this.slots.get(uuid);
    if (s) s.connecting = false;
  }

  disconnect(uuid: string): void {
    if (!this.answers()) return;
    const s = this.slots.get(uuid);
    if (!s) return;
    if (s.connected) this.later(() => s.connected && this.endLink(s, 0x16), this.gattLatencyMs);
    else this.later(() => this.emit('disconnect', uuid, 0x16), this.gattLatencyMs);
  }

  reset(): void {
    this.stats.resets++;
    if (!this.powered) return;
    // HCI reset: every link and pending connect is gone at the controller; no events report it.
    for (const s of this.slots.values()) this.dropSilently(s);
    this.scanning = false;
    if (this.advertTimer) this.clear(this.advertTimer);
    this.advertTimer = undefined;
    this.later(() => {
      this.wedged = false;
    }, 50);
  }

  updateRssi(uuid: string): void {
    this.gatt(uuid, (s) =>
      this.emit('rssiUpdate', uuid, s.device.rssi + Math.round((this.random() - 0.5) * 6)),
    );
  }

  discoverServices(uuid: string, serviceUuids: string[]): void {
    this.gatt(uuid, (s) => {
      const all = s.device.gatt.map((g) => g.uuid);
      const wanted = serviceUuids.length === 0 ? all : all.filter((u) => serviceUuids.includes(u));
      this.emit('servicesDiscover', uuid, wanted);
    });
  }

  discoverIncludedServices(uuid: string, serviceUuid: string): void {
    this.gatt(uuid, () => this.emit('includedServicesDiscover', uuid, serviceUuid, []));
  }

  discoverCharacteristics(uuid: string, serviceUuid: string, characteristicUuids: string[]): void {
    this.gatt(uuid, (s) => {
      const svc = s.device.gatt.find((g) => g.uuid === serviceUuid);
      const chars = (svc?.characteristics ?? []).filter(
        (c) => characteristicUuids.length === 0 || characteristicUuids.includes(c.uuid),
      );
      this.emit(
        'characteristicsDiscover',
        uuid,
        serviceUuid,
        chars.map((c) => ({ uuid: c.uuid, properties: [...c.properties] })),
      );
    });
  }

  discoverDescriptors(uuid: string, serviceUuid: string, characteristicUuid: string): void {
    this.gatt(uuid, () => this.emit('descriptorsDiscover', uuid, serviceUuid, characteristicUuid, ['2902']));
  }

  read(uuid: string, serviceUuid: string, characteristicUuid: string): void {
    this.gatt(uuid, (s) => {
      const value = s.device.read(serviceUuid, characteristicUuid) ?? new Uint8Array();
      this.emit('read', uuid, serviceUuid, characteristicUuid, Buffer.from(value), false);
    });
  }

  write(uuid: string, serviceUuid: string, characteristicUuid: string, data: Buffer): void {
    this.gatt(uuid, (s) => {
      this.emit('write', uuid, serviceUuid, characteristicUuid);
      s.device.onWrite(serviceUuid, characteristicUuid, new Uint8Array(data));
    });
  }

  notify(uuid: string, serviceUuid: string, characteristicUuid: string, on: boolean): void {
    this.gatt(uuid, (s) => {
      const key = `${serviceUuid}/${characteristicUuid}`;
      if (on) s.notifying.add(key);
      else s.notifying.delete(key);
      this.emit('notify', uuid, serviceUuid, characteristicUuid, on);
      s.device.onNotify(serviceUuid, characteristicUuid, on);
    });
  }

  readValue(uuid: string, serviceUuid: string, characteristicUuid: string, descriptorUuid: string): void {
    this.gatt(uuid, () =>
      this.emit('valueRead', uuid, serviceUuid, characteristicUuid, descriptorUuid, Buffer.alloc(2)),
    );
  }

  writeValue(uuid: string, serviceUuid: string, characteristicUuid: string, descriptorUuid: string): void {
    this.gatt(uuid, () => this.emit('valueWrite', uuid, serviceUuid, characteristicUuid, descriptorUuid));
  }

  readHandle(): void {}
  writeHandle(): void {}

  // ---- internals -----------------------------------------------------------------------

  private slot(uuid: string): DeviceSlot {
    const s = this.slots.get(uuid);
    if (!s) throw new Error(`fake bindings: no device ${uuid}`);
    return s;
  }

  private answers(): boolean {
    if (!this.powered || this.state !== 'poweredOn') return false;
    if (this.wedged) {
      this.stats.commandsIgnoredWhileWedged++;
      return false;
    }
    return true;
  }

  private setState(state: 'poweredOn' | 'poweredOff'): void {
    if (state === this.state) return;
    this.state = state;
    if (state !== 'poweredOn') {
      this.scanning = false;
      if (this.advertTimer) this.clear(this.advertTimer);
      this.advertTimer = undefined;
    }
    this.emit('stateChange', state);
  }

  private later(fn: () => void, ms: number): void {
    const h = this.timers.setTimeout(() => {
      this.ownTimers.delete(h);
      fn();
    }, ms);
    this.ownTimers.add(h);
  }

  private clear(h: TimerHandle): void {
    this.timers.clearTimeout(h);
    this.ownTimers.delete(h);
  }

  private armAdvertising(): void {
    if (this.advertTimer || !this.scanning) return;
    const h = this.timers.setTimeout(() => {
      this.ownTimers.delete(h);
      this.advertTimer = undefined;
      if (!this.scanning || this.wedged || this.state !== 'poweredOn') return;
      for (const s of this.slots.values()) {
        if (!s.reachable || s.connected) continue;
        const d = s.device;
        const rssi = d.rssi + Math.round((this.random() - 0.5) * 8);
        const advertisement = {
          localName: d.localName,
          serviceUuids: [...d.advertisedServices],
          ...(d.manufacturerData ? { manufacturerData: Buffer.from(d.manufacturerData) } : {}),
          serviceData: [],
        };
        this.emit('discover', d.uuid, d.address, 'random', true, advertisement, rssi, true);
      }
      this.armAdvertising();
    }, this.advertisingIntervalMs);
    this.ownTimers.add(h);
    this.advertTimer = h;
  }

  private completeConnect(s: DeviceSlot): void {
    const [lo, hi] = this.connectLatency;
    this.later(
      () => {
        if (!s.connecting || !s.reachable || !this.powered || this.wedged) return;
        s.connecting = false;
        if (this.links >= this.controllerMax) {
          this.emit(
            'connect',
            s.device.uuid,
            new Error('Connection Rejected due to Limited Resources (0x0d)'),
          );
          return;
        }
        s.connected = true;
        s.stalled = false;
        this.stats.maxConcurrentLinks = Math.max(this.stats.maxConcurrentLinks, this.links);
        const ctx: SimContext = {
          timers: this.timers,
          notify: (service, characteristic, data) => {
            if (!s.connected || s.stalled || this.wedged || !this.powered) return;
            if (!s.notifying.has(`${service}/${characteristic}`)) return;
            this.stats.notificationsSent++;
            this.emit('read', s.device.uuid, service, characteristic, Buffer.from(data), true);
          },
          schedule: (fn, ms) => {
            const h = this.timers.setTimeout(() => {
              s.timers.delete(h);
              if (s.connected) fn();
            }, ms);
            s.timers.add(h);
          },
        };
        s.device.onConnect(ctx);
        this.emit('connect', s.device.uuid, null);
      },
      lo + this.random() * (hi - lo),
    );
  }

  /** Link gone from the device's side; clears its timers. */
  private resetSlot(s: DeviceSlot): void {
    const wasConnected = s.connected;
    s.connected = false;
    s.connecting = false;
    s.notifying.clear();
    for (const h of s.timers) this.timers.clearTimeout(h);
    s.timers.clear();
    if (wasConnected) s.device.onDisconnect();
  }

  private endLink(s: DeviceSlot, reason: number): void {
    this.resetSlot(s);
    this.emit('disconnect', s.device.uuid, reason);
  }

  private dropSilently(s: DeviceSlot): void {
    this.resetSlot(s);
  }

  private gatt(uuid: string, fn: (s: DeviceSlot) => void): void {
    if (!this.answers()) return;
    const s = this.slots.get(uuid);
    if (!s || !s.connected) return;
    this.later(() => {
      if (s.connected && !this.wedged && this.powered) fn(s);
    }, this.gattLatencyMs);
  }
}
