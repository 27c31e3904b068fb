import type { EventEmitter } from 'node:events';
import { BehaviorSubject, Observable, Subject } from 'rxjs';
import type {
  Noble,
  NobleBindings,
  NobleCharacteristic,
  NoblePeripheral,
  NobleService,
  NobleState,
} from '@abandonware/noble/with-bindings';
import { GatewayError, errorCode, errorMessage } from '../../observability/errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { normalizeUuid, type Advertisement } from './driver.ts';
import { realTimers, type TimerHandle, type Timers } from '../../clock/timers.ts';

/*
 * Long file: the one noble boundary; every noble call is wrapped here the same way (timeout,
 *   listener cleanup), so the wrappers stay side by side.
 *
 * The only module that touches @abandonware/noble. Noble is imported lazily: on a machine
 * without Bluetooth, loading its HCI bindings throws, and a gateway that does not use BLE
 * must still start.
 *
 * Every noble call is wrapped so that it (a) times out on the injected timers — the HCI
 * bindings wait forever for an answer a wedged controller never sends — and (b) removes
 * every listener it added, whatever the outcome. Noble's own callback forms add `once`
 * listeners that stay behind when the answer never comes, so they are not used.
 */

export type AdapterState = NobleState;

/** One advertisement seen by the scanner. */
export interface Discovery {
  /** Noble's peripheral id (the address without colons on Linux). */
  readonly id: string;
  readonly address: string;
  readonly rssi: number;
  readonly connectable: boolean;
  readonly advertisement: Advertisement;
  /** Timer-base time it was seen, ms. */
  readonly atMs: number;
}

export interface BleAdapterOptions {
  /** HCI adapter index (hciN). Default: env NOBLE_HCI_DEVICE_ID, else 0. Ignored with `bindings`. */
  readonly hciDeviceId?: number;
  /** Bindings to drive instead of the platform's (tests: fake bindings). */
  readonly bindings?: NobleBindings;
  readonly timers?: Timers;
  /** Timeout of one GATT operation, ms. Default 5000. */
  readonly opTimeoutMs?: number;
  /** Timeout of a connection attempt, ms. Default 10000. */
  readonly connectTimeoutMs?: number;
  /** This many operations timing out in a row (no success between) mark the adapter unresponsive. Default 3. */
  readonly unresponsiveAfterTimeouts?: number;
  readonly logger?: Logger;
  /** The package to load noble from (tests name one that is not installed). */
  readonly nobleModule?: string;
}

/** Resolves the HCI index from options, then env NOBLE_HCI_DEVICE_ID; throws on a malformed value. */
export function resolveHciDeviceId(
  explicit: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): number {
  if (explicit !== undefined) return explicit;
  const raw = env['NOBLE_HCI_DEVICE_ID'];
  if (raw === undefined || raw === '') return 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new GatewayError(
      'BLE_BAD_ADAPTER',
      `NOBLE_HCI_DEVICE_ID must be a non-negative integer (hciN index), got '${raw}'`,
    );
  }
  return n;
}

/** Parses 'hci1', '1' or 1 into an HCI index. */
export function parseAdapterName(name: string | number | undefined): number | undefined {
  if (name === undefined || name === '') return undefined;
  if (typeof name === 'number') return name;
  const m = /^(?:hci)?(\d+)$/.exec(name.trim());
  if (!m)
    throw new GatewayError('BLE_BAD_ADAPTER', `ble.adapter must look like 'hci0' or '0', got '${name}'`);
  return Number(m[1]);
}

/**
 * What to do when noble is not installed. It is an optional dependency (it compiles a native
 * addon where no prebuilt one fits, which needs a compiler), so `npm ci` succeeds without it
 * and BLE alone is unavailable.
 */
export const NOBLE_INSTALL_HINT =
  'install the build tools and Bluetooth headers (Debian/Raspberry Pi OS: sudo apt-get install build-essential python3 libbluetooth-dev libudev-dev), then run `npm install @abandonware/noble` in the gateway folder';

/** Node's error when a package is not installed (not: installed but failing to load). */
function isModuleMissing(err: unknown, specifier: string): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && errorMessage(err).includes(specifier)
  );
}

/** Builds a Noble: over the given bindings, or the platform's (loaded only now). */
async function loadNoble(
  options: BleAdapterOptions,
  deviceId: number,
  nobleModule = '@abandonware/noble',
): Promise<Noble> {
  try {
    if (options.bindings) {
      const { default: withBindings } = (await import(`${nobleModule}/with-bindings`)) as {
        default: typeof import('@abandonware/noble/with-bindings').default;
      };
      return withBindings(options.bindings);
    }
    const { default: withCustomBinding } = (await import(`${nobleModule}/with-custom-binding`)) as {
      default: typeof import('@abandonware/noble/with-custom-binding').default;
    };
    return withCustomBinding({ deviceId });
  } catch (err) {
    if (isModuleMissing(err, nobleModule)) {
      throw new GatewayError(
        'BLE_NOBLE_MISSING',
        `ble.enabled is true but the Bluetooth library ${nobleModule} is not installed (it is optional: its native part did not build at install time). To use BLE wearables, ${NOBLE_INSTALL_HINT}. Everything else runs without it.`,
        { cause: err, details: { module: nobleModule } },
      );
    }
    throw new GatewayError(
      'BLE_UNAVAILABLE',
      `Bluetooth is not available on this machine (hci${deviceId}): ${errorMessage(err)}. Disable ble.enabled or give the process an HCI adapter.`,
      { cause: err },
    );
  }
}

export async function openBleAdapter(options: BleAdapterOptions = {}): Promise<BleAdapter> {
  const deviceId = resolveHciDeviceId(options.hciDeviceId);
  const noble = await loadNoble(options, deviceId, options.nobleModule);
  return new BleAdapter(noble, `hci${deviceId}`, options);
}

type Remove = () => void;

function listen(emitter: EventEmitter, event: string, fn: (...args: never[]) => void): Remove {
  emitter.on(event, fn as (...args: unknown[]) => void);
  return () => emitter.removeListener(event, fn as (...args: unknown[]) => void);
}

function toAdvertisement(p: NoblePeripheral): Advertisement {
  const a = p.advertisement ?? {};
  const uuids = (a.serviceUuids ?? []).map(normalizeUuid);
  return {
    ...(a.localName !== undefined ? { localName: a.localName } : {}),
    serviceUuids: uuids,
    ...(a.manufacturerData ? { manufacturerData: new Uint8Array(a.manufacturerData) } : {}),
  };
}

export class BleAdapter {
  readonly name: string;
  readonly timers: Timers;
  private readonly noble: Noble;
  private readonly logger: Logger | undefined;
  private readonly opTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly unresponsiveAfter: number;
  private readonly state$$: BehaviorSubject<AdapterState>;
  private readonly discoveries$$ = new Subject<Discovery>();
  private readonly unresponsive$$ = new Subject<{ readonly op: string; readonly timeouts: number }>();
  private readonly peripherals = new Map<string, NoblePeripheral>();
  private readonly connections = new Map<string, BleConnection>();
  private readonly removers: Remove[] = [];
  private scanWanted = false;
  private scanning = false;
  private consecutiveTimeouts = 0;
  private scanRetry: TimerHandle | undefined;
  private closed = false;

  constructor(noble: Noble, name: string, options: BleAdapterOptions) {
    this.noble = noble;
    this.name = name;
    this.timers = options.timers ?? realTimers;
    this.logger = options.logger;
    this.opTimeoutMs = options.opTimeoutMs ?? 5000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10000;
    this.unresponsiveAfter = options.unresponsiveAfterTimeouts ?? 3;
    this.state$$ = new BehaviorSubject<AdapterState>('unknown');
    this.removers.push(
      listen(noble, 'warning', (message: string) =>
        this.logger?.warn({ adapter: name, code: 'BLE_NOBLE_WARNING' }, message),
      ),
      listen(noble, 'stateChange', (state: AdapterState) => this.onStateChange(state)),
      listen(noble, 'discover', (p: NoblePeripheral) => this.onDiscover(p)),
      listen(noble, 'scanStop', () => {
        this.scanning = false;
      }),
    );
    // Subscribing to stateChange above made noble schedule bindings.init() on the next tick.
  }

  get state(): AdapterState {
    return this.state$$.value;
  }

  /** Adapter power state; replays the current one. */
  get state$(): Observable<AdapterState> {
    return this.state$$.asObservable();
  }

  /** Every advertisement while scanning (duplicates included: presence is what matters). */
  get discoveries$(): Observable<Discovery> {
    return this.discoveries$$.asObservable();
  }

  /** Emits when operations keep timing out: the controller stopped answering and needs a reset. */
  get unresponsive$(): Observable<{ readonly op: string; readonly timeouts: number }> {
    return this.unresponsive$$.asObservable();
  }

  /**
   * Scans while subscribed (ref-counted by the caller: one manager per adapter). Scanning
   * resumes by itself after the adapter powers on again.
   */
  scan(): Observable<Discovery> {
    return new Observable<Discovery>((subscriber) => {
      const sub = this.discoveries$$.subscribe(subscriber);
      this.setScanning(true);
      return () => {
        sub.unsubscribe();
        this.setScanning(false);
      };
    });
  }

  setScanning(on: boolean): void {
    this.scanWanted = on;
    this.applyScan();
  }

  private applyScan(): void {
    if (this.closed) return;
    if (this.scanWanted && !this.scanning && this.state === 'poweredOn') {
      this.scanning = true;
      // Noble's callback form leaves a scanStart listener behind when the controller never
      // answers; wait for the event ourselves, with a timeout that counts against the adapter.
      const started = this.waitFor(this.noble, 'scanStart', () => true, 'start scanning', this.opTimeoutMs);
      started.promise.catch((err: unknown) => {
        this.scanning = false;
        this.logger?.warn(
          { adapter: this.name, code: errorCode(err) },
          `scan did not start: ${errorMessage(err)}`,
        );
        if (!this.closed && this.scanRetry === undefined) {
          this.scanRetry = this.timers.setTimeout(() => {
            this.scanRetry = undefined;
            this.applyScan();
          }, 1000);
        }
      });
      try {
        // Duplicates on: presence (a device advertising again after a drop) is what matters.
        this.noble.startScanning([], true);
      } catch (err) {
        started.cancel();
        this.scanning = false;
        this.logger?.warn({ adapter: this.name, code: 'BLE_SCAN_FAILED' }, errorMessage(err));
      }
    } else if (!this.scanWanted && this.scanning) {
      this.scanning = false;
      this.noble.stopScanning();
    }
  }

  private onStateChange(state: AdapterState): void {
    if (state !== 'poweredOn') {
      this.scanning = false;
      // The controller is gone: its links are gone too, and no disconnect event will come.
      for (const c of [...this.connections.values()]) c.lost(`adapter ${state}`);
    }
    if (state === 'poweredOn') this.consecutiveTimeouts = 0;
    this.state$$.next(state);
    this.applyScan();
  }

  private onDiscover(p: NoblePeripheral): void {
    this.peripherals.set(p.id, p);
    this.discoveries$$.next({
      id: p.id,
      address: p.address,
      rssi: p.rssi,
      connectable: p.connectable,
      advertisement: toAdvertisement(p),
      atMs: this.timers.now(),
    });
  }

  /** Counts an operation outcome; a run of timeouts reports the adapter unresponsive. */
  noteOutcome(op: string, timedOut: boolean): void {
    if (!timedOut) {
      this.consecutiveTimeouts = 0;
      return;
    }
    this.consecutiveTimeouts++;
    if (this.consecutiveTimeouts >= this.unresponsiveAfter) {
      const timeouts = this.consecutiveTimeouts;
      this.consecutiveTimeouts = 0;
      this.unresponsive$$.next({ op, timeouts });
    }
  }

  /**
   * Waits for `event` on `emitter` until `accept` returns a value, for at most `timeoutMs`.
   * Listener and timer are removed on every path; `abort` (a disconnect) rejects early.
   */
  waitFor<T>(
    emitter: EventEmitter,
    event: string,
    accept: (...args: never[]) => T | undefined,
    op: string,
    timeoutMs: number,
    abort?: { readonly signal: AbortSignal },
  ): { readonly promise: Promise<T>; readonly cancel: () => void } {
    let cancel: () => void = () => undefined;
    const promise = new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (): void => {
        done = true;
        emitter.removeListener(event, onEvent);
        this.timers.clearTimeout(timer);
        abort?.signal.removeEventListener('abort', onAbort);
      };
      const onEvent = (...args: unknown[]): void => {
        let value: T | undefined;
        try {
          value = (accept as (...a: unknown[]) => T | undefined)(...args);
        } catch (err) {
          finish();
          reject(err);
          return;
        }
        if (value === undefined) return;
        finish();
        this.noteOutcome(op, false);
        resolve(value);
      };
      const onAbort = (): void => {
        if (done) return;
        finish();
        reject(abort?.signal.reason);
      };
      const timer = this.timers.setTimeout(() => {
        if (done) return;
        finish();
        this.noteOutcome(op, true);
        reject(
          new GatewayError('BLE_TIMEOUT', `${op} got no answer within ${timeoutMs} ms on ${this.name}`, {
            details: { op },
          }),
        );
      }, timeoutMs);
      cancel = () => {
        if (done) return;
        finish();
        reject(new GatewayError('BLE_CANCELLED', `${op} cancelled`));
      };
      emitter.on(event, onEvent);
      if (abort?.signal.aborted) onAbort();
      else abort?.signal.addEventListener('abort', onAbort, { once: true });
    });
    return { promise, cancel };
  }

  /** Connects to a peripheral the scanner has seen. */
  async connect(id: string, timeoutMs = this.connectTimeoutMs): Promise<BleConnection> {
    if (this.closed) throw new GatewayError('BLE_CLOSED', `adapter ${this.name} is closed`);
    if (this.state !== 'poweredOn') {
      throw new GatewayError(
        'BLE_ADAPTER_OFF',
        `cannot connect ${id}: adapter ${this.name} is ${this.state}`,
      );
    }
    const p = this.peripherals.get(id);
    if (!p)
      throw new GatewayError(
        'BLE_UNKNOWN_PERIPHERAL',
        `cannot connect ${id}: not seen by the scanner on ${this.name}`,
      );
    const existing = this.connections.get(id);
    if (existing) existing.lost('superseded by a new connection');
    // A link dropped without a disconnect event (adapter reset) leaves noble thinking it is connected.
    if (p.state !== 'disconnected') p.state = 'disconnected';
    const wait = this.waitFor(
      p,
      'connect',
      (err: unknown) => (err ? { err } : { err: null }),
      `connect ${id}`,
      timeoutMs,
    );
    p.connect();
    let result: { err: unknown };
    try {
      result = await wait.promise;
    } catch (err) {
      // Noble's cancelConnect emits a 'connect' error on the peripheral: no listener of ours remains.
      p.cancelConnect();
      p.state = 'disconnected';
      throw err;
    }
    if (result.err) {
      p.state = 'disconnected';
      throw new GatewayError(
        'BLE_CONNECT_FAILED',
        `connect ${id} on ${this.name} failed: ${errorMessage(result.err)}`,
        {
          cause: result.err,
        },
      );
    }
    const conn = new BleConnection(this, p, this.opTimeoutMs, () => this.connections.delete(id));
    this.connections.set(id, conn);
    return conn;
  }

  /** Resets the controller (HCI reset): the cure for a wedged stack. Every link is lost. */
  reset(): void {
    this.logger?.warn({ adapter: this.name, code: 'BLE_ADAPTER_RESET' }, 'resetting the BLE adapter');
    for (const c of [...this.connections.values()]) c.lost('adapter reset');
    this.scanning = false;
    try {
      this.noble.reset();
    } catch (err) {
      this.logger?.error({ adapter: this.name, code: 'BLE_RESET_FAILED' }, errorMessage(err));
    }
    // Scanning was stopped by the reset; ask again once the controller answers.
    this.applyScan();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Listeners currently attached to noble's objects (noble itself, every peripheral seen, and
   * the services/characteristics of live connections). Leak tests compare this across runs.
   */
  listenerCounts(): { noble: number; peripherals: number; gatt: number } {
    const count = (e: EventEmitter): number => e.eventNames().reduce((n, ev) => n + e.listenerCount(ev), 0);
    let peripherals = 0;
    let gatt = 0;
    for (const p of this.peripherals.values()) {
      peripherals += count(p);
      for (const s of p.services ?? []) {
        gatt += count(s);
        for (const c of s.characteristics ?? []) gatt += count(c);
      }
    }
    return { noble: count(this.noble), peripherals, gatt };
  }

  close(): void {
    if (this.closed) return;
    for (const c of [...this.connections.values()]) c.disconnect().catch(() => undefined);
    this.setScanning(false);
    this.closed = true;
    if (this.scanRetry !== undefined) this.timers.clearTimeout(this.scanRetry);
    for (const r of this.removers.splice(0)) r();
    this.discoveries$$.complete();
    this.unresponsive$$.complete();
    this.state$$.complete();
  }
}

/** A GATT profile as discovered: service uuid → characteristic uuid → characteristic. */
export type GattProfile = ReadonlyMap<string, ReadonlyMap<string, NobleCharacteristic>>;

/** One live link. All operations reject with BLE_DISCONNECTED once the link is gone. */
export class BleConnection {
  readonly id: string;
  readonly address: string;
  private readonly adapter: BleAdapter;
  private readonly peripheral: NoblePeripheral;
  private readonly opTimeoutMs: number;
  private readonly abort = new AbortController();
  private readonly removers: Remove[] = [];
  private readonly onGone: () => void;
  private readonly closed$$ = new BehaviorSubject<string | null>(null);
  private profile = new Map<string, Map<string, NobleCharacteristic>>();

  constructor(adapter: BleAdapter, peripheral: NoblePeripheral, opTimeoutMs: number, onGone: () => void) {
    this.adapter = adapter;
    this.peripheral = peripheral;
    this.id = peripheral.id;
    this.address = peripheral.address;
    this.opTimeoutMs = opTimeoutMs;
    this.onGone = onGone;
    this.removers.push(
      listen(peripheral, 'disconnect', (reason: unknown) =>
        this.lost(`disconnected (reason ${String(reason)})`),
      ),
    );
  }

  get isOpen(): boolean {
    return this.closed$$.value === null;
  }

  get mtu(): number | null {
    return this.peripheral.mtu;
  }

  /** Emits once (the reason) when the link is gone, then completes. */
  get closed$(): Observable<string> {
    return new Observable<string>((subscriber) =>
      this.closed$$.subscribe((reason) => {
        if (reason === null) return;
        subscriber.next(reason);
        subscriber.complete();
      }),
    );
  }

  /** Marks the link gone and detaches everything; idempotent. */
  lost(reason: string): void {
    if (!this.isOpen) return;
    this.abort.abort(new GatewayError('BLE_DISCONNECTED', `${this.id}: ${reason}`));
    for (const r of this.removers.splice(0)) r();
    this.profile.clear();
    if (this.peripheral.state !== 'disconnected' && !reason.startsWith('disconnected'))
      this.peripheral.state = 'disconnected';
    this.onGone();
    this.closed$$.next(reason);
    this.closed$$.complete();
  }

  private ensureOpen(op: string): void {
    if (!this.isOpen) throw new GatewayError('BLE_DISCONNECTED', `${op}: ${this.id} is not connected`);
  }

  private wait<T>(
    emitter: EventEmitter,
    event: string,
    accept: (...args: never[]) => T | undefined,
    op: string,
  ): Promise<T> {
    return this.adapter.waitFor(emitter, event, accept, `${op} ${this.id}`, this.opTimeoutMs, this.abort)
      .promise;
  }

  /** Discovers `serviceUuids` (all when empty) and all their characteristics. */
  async discover(serviceUuids: readonly string[]): Promise<GattProfile> {
    this.ensureOpen('discover');
    const p = this.peripheral;
    const servicesP = this.wait(
      p,
      'servicesDiscover',
      (services: NobleService[]) => services,
      'discover services',
    );
    p.discoverServices([...serviceUuids]);
    const services = await servicesP;
    const profile = new Map<string, Map<string, NobleCharacteristic>>();
    for (const s of services) {
      const charsP = this.wait(
        s,
        'characteristicsDiscover',
        (chars: NobleCharacteristic[]) => chars,
        `discover characteristics of ${s.uuid}`,
      );
      s.discoverCharacteristics([]);
      const chars = await charsP;
      profile.set(normalizeUuid(s.uuid), new Map(chars.map((c) => [normalizeUuid(c.uuid), c])));
    }
    this.profile = profile;
    return profile;
  }

  private characteristic(service: string, characteristic: string): NobleCharacteristic {
    this.ensureOpen(`use ${service}/${characteristic}`);
    const c = this.profile.get(normalizeUuid(service))?.get(normalizeUuid(characteristic));
    if (!c) {
      throw new GatewayError(
        'BLE_NO_CHARACTERISTIC',
        `${this.id} has no characteristic ${characteristic} in service ${service}`,
        {
          details: { service, characteristic },
        },
      );
    }
    return c;
  }

  has(service: string, characteristic: string): boolean {
    return this.profile.get(normalizeUuid(service))?.has(normalizeUuid(characteristic)) ?? false;
  }

  properties(service: string, characteristic: string): readonly string[] {
    return this.profile.get(normalizeUuid(service))?.get(normalizeUuid(characteristic))?.properties ?? [];
  }

  /**
   * Notifications of a characteristic while subscribed to the observable (the CCCD is not
   * touched here: see `setNotify`). Completes when the link is gone.
   */
  notifications(service: string, characteristic: string): Observable<Uint8Array> {
    return new Observable<Uint8Array>((subscriber) => {
      let c: NobleCharacteristic;
      try {
        c = this.characteristic(service, characteristic);
      } catch (err) {
        subscriber.error(err);
        return undefined;
      }
      const onData = (data: Buffer, isNotification: boolean): void => {
        if (isNotification) subscriber.next(data);
      };
      c.on('data', onData);
      const onGone = (): void => subscriber.complete();
      this.abort.signal.addEventListener('abort', onGone, { once: true });
      return () => {
        c.removeListener('data', onData);
        this.abort.signal.removeEventListener('abort', onGone);
      };
    });
  }

  /** Enables or disables notifications/indications (writes the CCCD) and waits for the confirmation. */
  async setNotify(service: string, characteristic: string, on: boolean): Promise<void> {
    const c = this.characteristic(service, characteristic);
    const done = this.wait(
      c,
      'notify',
      (state: boolean) => ({ state }),
      `${on ? 'subscribe' : 'unsubscribe'} ${characteristic}`,
    );
    c.notify(on);
    await done;
  }

  async read(service: string, characteristic: string): Promise<Uint8Array> {
    const c = this.characteristic(service, characteristic);
    const done = this.wait(
      c,
      'data',
      (data: Buffer, isNotification: boolean) => (isNotification ? undefined : data),
      `read ${characteristic}`,
    );
    c.read();
    return done;
  }

  async write(
    service: string,
    characteristic: string,
    data: Uint8Array,
    withoutResponse = false,
  ): Promise<void> {
    const c = this.characteristic(service, characteristic);
    const done = this.wait(c, 'write', () => true, `write ${characteristic}`);
    c.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), withoutResponse);
    await done;
  }

  async updateRssi(): Promise<number> {
    this.ensureOpen('rssi');
    const done = this.wait(this.peripheral, 'rssiUpdate', (rssi: number) => rssi, 'read rssi');
    this.peripheral.updateRssi();
    return done;
  }

  /** Disconnects and waits for the link to go (at most one operation timeout). */
  async disconnect(): Promise<void> {
    if (!this.isOpen) return;
    const gone = this.adapter.waitFor(
      this.peripheral,
      'disconnect',
      () => true,
      `disconnect ${this.id}`,
      this.opTimeoutMs,
    ).promise;
    this.peripheral.disconnect();
    try {
      await gone;
    } catch {
      // No answer: the controller may be wedged; the manager hears about it through the timeout count.
    } finally {
      this.lost('disconnected by the gateway');
    }
  }
}
