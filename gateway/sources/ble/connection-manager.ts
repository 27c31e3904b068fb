import { Subject, type Observable, type Subscription } from 'rxjs';
import { GatewayError, errorCode, errorMessage } from '../../observability/errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { BleAdapter, BleConnection, Discovery } from './adapter.ts';
import type {
  Advertisement,
  DecodeResult,
  DeviceDriver,
  GattStep,
  ResponseExpectation,
  StepCheck,
  StreamDecoder,
  StreamRequest,
  StreamSettings,
} from './driver.ts';
import type { BleMetrics } from './metrics.ts';
import { sleep, type TimerHandle, type Timers } from '../../clock/timers.ts';

/*
 * Long file: one scheduler over every link (admission, backoff, stall watchdog, adapter
 *   resets) driven by one tick; the failure modes below interact and are tested together.
 *
 * Keeps a set of wearables streaming through one adapter, against the ways BLE gateways
 * fail in the field:
 * - too many links: at most `maxConnections` devices hold a link; the rest wait their turn;
 * - connection storms: one connection attempt at a time (controllers serialise LE Create
 *   Connection anyway, and overlapping attempts are where stacks wedge);
 * - unnoticed disconnects and silent stalls: a watchdog reconnects a device that sent no data
 *   for `stallPeriods` of its own notification interval;
 * - flapping devices: failed attempts back off exponentially with jitter, reset by data;
 * - a wedged or power-cycled adapter: `stateChange` drops every link at once, and a run of
 *   operations that time out triggers an HCI reset.
 * All timing runs on injected timers: one tick timer drives backoff, the watchdog and polls.
 */

export interface DeviceTarget {
  /** Stable id of the device (the stream's sourceId). */
  readonly key: string;
  /** Match by address (any case, with or without colons) … */
  readonly address?: string;
  /** … or by advertised name. */
  readonly namePattern?: RegExp;
  readonly driver: DeviceDriver;
  readonly request: Omit<StreamRequest, 'localName'>;
}

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  /** ± fraction of the delay drawn at random, so devices that failed together retry apart. */
  readonly jitter: number;
}

export interface ConnectionManagerOptions {
  readonly maxConnections?: number;
  readonly rssiFloor?: number;
  readonly backoff?: Partial<BackoffOptions>;
  /** Notification intervals without data before a device counts as stalled. Default 5. */
  readonly stallPeriods?: number;
  /** Bounds of the stall timeout, ms. Default 1000 … 4000. */
  readonly minStallMs?: number;
  readonly maxStallMs?: number;
  /** Time from stream start to first data before the start counts as failed, ms. Default 4000. */
  readonly firstDataTimeoutMs?: number;
  /** An advertisement older than this is not a reason to try to connect, ms. Default 1500. */
  readonly advertFreshMs?: number;
  readonly tickMs?: number;
  readonly rssiPollMs?: number;
  /** Wait after an HCI reset before using the adapter again, ms. Default 1000. */
  readonly resetSettleMs?: number;
  /** Companion drivers (Battery Service) run next to the device's driver when its GATT has them. */
  readonly companions?: readonly DeviceDriver[];
  readonly random?: () => number;
}

export interface ConnectionManagerDeps {
  readonly adapter: BleAdapter;
  readonly timers: Timers;
  /** Gateway clock (ns) for arrival stamps. */
  readonly nowNs: () => number;
  readonly metrics: BleMetrics;
  readonly logger?: Logger;
}

export type DevicePhase = 'waiting' | 'connecting' | 'starting' | 'streaming' | 'stopping';

/** What the manager knows of one device. */
export interface DeviceStatus {
  readonly key: string;
  readonly family: string;
  readonly phase: DevicePhase;
  readonly connected: boolean;
  readonly address: string | null;
  readonly localName: string | null;
  readonly rssi: number | null;
  readonly battery: number | null;
  /** Samples per second measured over the last rate window. */
  readonly rateHz: number | null;
  readonly reconnects: number;
  readonly stalls: number;
  readonly decodeErrors: number;
  readonly failures: number;
  /** Timer-base ms of the last data (or advertisement when not connected). */
  readonly lastSeenMs: number | null;
  readonly settings: StreamSettings | null;
  readonly lastError: { readonly code: string; readonly message: string } | null;
}

/** One decoded notification (or read), handed to the source. */
export interface DecodedPacket {
  readonly key: string;
  readonly characteristic: string;
  readonly arrivalNs: number;
  readonly result: DecodeResult;
  readonly settings: StreamSettings;
  /** Increments per connection, so consumers can restart per-link state. */
  readonly link: number;
}

interface PendingResponse {
  readonly expectation: ResponseExpectation;
  readonly resolve: (check: StepCheck) => void;
}

interface Runtime {
  target: DeviceTarget;
  phase: DevicePhase;
  peripheralId: string | null;
  address: string | null;
  localName: string | null;
  advert: Advertisement | null;
  lastAdvertMs: number;
  rssi: number | null;
  battery: number | null;
  conn: BleConnection | null;
  link: number;
  subs: Subscription[];
  subscribed: Set<string>;
  settings: StreamSettings | null;
  decoders: Map<string, StreamDecoder>;
  pending: Set<PendingResponse>;
  failures: number;
  nextAttemptMs: number;
  waitingSinceMs: number;
  streamStartMs: number;
  lastDataMs: number;
  hadData: boolean;
  notifyIntervalMs: number;
  reconnects: number;
  stalls: number;
  decodeErrors: number;
  rateSamples: number;
  rateWindowStartMs: number;
  rateHz: number | null;
  lastRssiPollMs: number;
  lastError: { code: string; message: string } | null;
  removed: boolean;
}

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.3 };
const RATE_WINDOW_MS = 5000;

function normAddress(a: string): string {
  return a.toLowerCase().replace(/[^0-9a-f]/g, '');
}

export class ConnectionManager {
  private readonly adapter: BleAdapter;
  private readonly timers: Timers;
  private readonly nowNs: () => number;
  private readonly metrics: BleMetrics;
  private readonly logger: Logger | undefined;
  private readonly maxConnections: number;
  private readonly rssiFloor: number | undefined;
  private readonly backoff: BackoffOptions;
  private readonly stallPeriods: number;
  private readonly minStallMs: number;
  private readonly maxStallMs: number;
  private readonly firstDataTimeoutMs: number;
  private readonly advertFreshMs: number;
  private readonly tickMs: number;
  private readonly rssiPollMs: number;
  private readonly resetSettleMs: number;
  private readonly companions: readonly DeviceDriver[];
  private readonly random: () => number;
  private readonly devices = new Map<string, Runtime>();
  private readonly decoded$$ = new Subject<DecodedPacket>();
  private readonly status$$ = new Subject<DeviceStatus>();
  private readonly seen$$ = new Subject<Discovery>();
  private readonly subs: Subscription[] = [];
  private tickTimer: TimerHandle | undefined;
  private settleTimer: TimerHandle | undefined;
  private connectInFlight = false;
  private resetting = false;
  private running = false;
  private links = 0;
  /** Highest number of simultaneous links this manager held (for tests and /health). */
  maxLinksSeen = 0;
  adapterResets = 0;

  constructor(options: ConnectionManagerOptions, deps: ConnectionManagerDeps) {
    this.adapter = deps.adapter;
    this.timers = deps.timers;
    this.nowNs = deps.nowNs;
    this.metrics = deps.metrics;
    this.logger = deps.logger;
    this.maxConnections = options.maxConnections ?? 5;
    this.rssiFloor = options.rssiFloor;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.stallPeriods = options.stallPeriods ?? 5;
    this.minStallMs = options.minStallMs ?? 1000;
    this.maxStallMs = options.maxStallMs ?? 4000;
    this.firstDataTimeoutMs = options.firstDataTimeoutMs ?? 4000;
    this.advertFreshMs = options.advertFreshMs ?? 1500;
    this.tickMs = options.tickMs ?? 250;
    this.rssiPollMs = options.rssiPollMs ?? 10_000;
    this.resetSettleMs = options.resetSettleMs ?? 1000;
    this.companions = options.companions ?? [];
    this.random = options.random ?? Math.random;
  }

  /** Decoded notifications of every device. */
  get decoded$(): Observable<DecodedPacket> {
    return this.decoded$$.asObservable();
  }

  /** A device's status whenever it changes (phase, battery) and at every rate window. */
  get status$(): Observable<DeviceStatus> {
    return this.status$$.asObservable();
  }

  /** Every advertisement the scanner sees (for auto-detection). */
  get seen$(): Observable<Discovery> {
    return this.seen$$.asObservable();
  }

  get linkCount(): number {
    return this.links;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.subs.push(
      this.adapter.discoveries$.subscribe((d) => this.onDiscovery(d)),
      this.adapter.state$.subscribe((s) => this.onAdapterState(s)),
      this.adapter.unresponsive$.subscribe((u) =>
        this.resetAdapter(`${u.timeouts} operations timed out (last: ${u.op})`),
      ),
    );
    this.updateScanning();
    this.armTick();
  }

  add(target: DeviceTarget): void {
    if (this.devices.has(target.key))
      throw new GatewayError('BLE_DUPLICATE_DEVICE', `BLE device '${target.key}' is already managed`);
    const now = this.timers.now();
    this.devices.set(target.key, {
      target,
      phase: 'waiting',
      peripheralId: null,
      address: target.address ?? null,
      localName: null,
      advert: null,
      lastAdvertMs: -Infinity,
      rssi: null,
      battery: null,
      conn: null,
      link: 0,
      subs: [],
      subscribed: new Set(),
      settings: null,
      decoders: new Map(),
      pending: new Set(),
      failures: 0,
      nextAttemptMs: 0,
      waitingSinceMs: now,
      streamStartMs: 0,
      lastDataMs: 0,
      hadData: false,
      notifyIntervalMs: 0,
      reconnects: 0,
      stalls: 0,
      decodeErrors: 0,
      rateSamples: 0,
      rateWindowStartMs: now,
      rateHz: null,
      lastRssiPollMs: now,
      lastError: null,
      removed: false,
    });
    this.updateScanning();
    this.pump();
  }

  /** Stops a device's streams, drops its link and forgets it. */
  async remove(key: string): Promise<boolean> {
    const rt = this.devices.get(key);
    if (!rt) return false;
    rt.removed = true;
    this.devices.delete(key);
    await this.stopDevice(rt);
    this.updateScanning();
    this.pump();
    return true;
  }

  has(key: string): boolean {
    return this.devices.has(key);
  }

  statuses(): DeviceStatus[] {
    return [...this.devices.values()].map((rt) => this.status(rt));
  }

  statusOf(key: string): DeviceStatus | undefined {
    const rt = this.devices.get(key);
    return rt ? this.status(rt) : undefined;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.tickTimer) this.timers.clearTimeout(this.tickTimer);
    if (this.settleTimer) this.timers.clearTimeout(this.settleTimer);
    this.tickTimer = undefined;
    this.settleTimer = undefined;
    await Promise.all([...this.devices.values()].map((rt) => this.stopDevice(rt)));
    for (const s of this.subs.splice(0)) s.unsubscribe();
    this.adapter.setScanning(false);
    this.decoded$$.complete();
    this.status$$.complete();
    this.seen$$.complete();
  }

  // ---- discovery and scheduling ----------------------------------------------------------

  private matches(rt: Runtime, d: Discovery): boolean {
    const t = rt.target;
    if (t.address)
      return (
        normAddress(t.address) === normAddress(d.address) || normAddress(t.address) === normAddress(d.id)
      );
    if (t.namePattern)
      return d.advertisement.localName !== undefined && t.namePattern.test(d.advertisement.localName);
    return false;
  }

  private onDiscovery(d: Discovery): void {
    this.seen$$.next(d);
    for (const rt of this.devices.values()) {
      if (!this.matches(rt, d)) continue;
      // A name pattern binds to the first device that matched it, until it is removed.
      if (rt.peripheralId !== null && rt.peripheralId !== d.id) continue;
      rt.peripheralId = d.id;
      rt.address = d.address;
      rt.advert = d.advertisement;
      if (d.advertisement.localName) rt.localName = d.advertisement.localName;
      if (rt.phase === 'waiting') {
        rt.rssi = d.rssi;
        rt.lastAdvertMs = d.atMs;
      }
      break;
    }
    this.pump();
  }

  private onAdapterState(state: string): void {
    this.logger?.info({ adapter: this.adapter.name, state }, 'BLE adapter state');
    if (state === 'poweredOn') {
      // A fresh controller: earlier failures say nothing about the devices any more.
      for (const rt of this.devices.values()) {
        rt.failures = 0;
        rt.nextAttemptMs = 0;
      }
      this.updateScanning();
      this.pump();
    }
    // Links lost on power-off arrive through each connection's closed$.
  }

  private resetAdapter(reason: string): void {
    if (this.resetting || !this.running) return;
    this.resetting = true;
    this.adapterResets++;
    this.metrics.adapterResets.inc({ adapter: this.adapter.name, cause: 'unresponsive' });
    this.logger?.warn(
      { adapter: this.adapter.name, code: 'BLE_ADAPTER_UNRESPONSIVE' },
      `resetting BLE adapter: ${reason}`,
    );
    this.connectInFlight = false;
    this.adapter.reset();
    this.settleTimer = this.timers.setTimeout(() => {
      this.settleTimer = undefined;
      this.resetting = false;
      for (const rt of this.devices.values()) {
        rt.failures = 0;
        rt.nextAttemptMs = 0;
      }
      this.adapter.setScanning(false);
      this.updateScanning();
      this.pump();
    }, this.resetSettleMs);
  }

  private updateScanning(): void {
    if (!this.running) return;
    let wanted = false;
    for (const rt of this.devices.values()) if (rt.phase === 'waiting') wanted = true;
    // Auto-detection also needs the scanner; the source keeps it on through `keepScanning`.
    this.adapter.setScanning((wanted || this.keepScanning) && !this.resetting);
  }

  private keepScanningValue = false;

  /**
   * Scan even when every device is connected (auto-detection, or an operator's scan for new
   * wearables); takes effect at once.
   */
  get keepScanning(): boolean {
    return this.keepScanningValue;
  }

  set keepScanning(on: boolean) {
    this.keepScanningValue = on;
    this.updateScanning();
  }

  private activeCount(): number {
    let n = 0;
    for (const rt of this.devices.values()) if (rt.phase !== 'waiting') n++;
    return n;
  }

  /** Starts the next connection attempt if a slot, the radio and a ready device allow it. */
  private pump(): void {
    if (!this.running || this.connectInFlight || this.resetting || this.adapter.state !== 'poweredOn') return;
    if (this.activeCount() >= this.maxConnections) return;
    const now = this.timers.now();
    let best: Runtime | undefined;
    for (const rt of this.devices.values()) {
      if (rt.phase !== 'waiting' || rt.peripheralId === null) continue;
      if (now - rt.lastAdvertMs > this.advertFreshMs || now < rt.nextAttemptMs) continue;
      if (this.rssiFloor !== undefined && rt.rssi !== null && rt.rssi < this.rssiFloor) continue;
      if (!best || rt.waitingSinceMs < best.waitingSinceMs) best = rt;
    }
    if (best) void this.attempt(best);
  }

  private armTick(): void {
    if (!this.running) return;
    this.tickTimer = this.timers.setTimeout(() => {
      this.tickTimer = undefined;
      this.tick();
      this.armTick();
    }, this.tickMs);
  }

  private tick(): void {
    const now = this.timers.now();
    for (const rt of this.devices.values()) {
      if (rt.phase === 'streaming' && rt.conn) {
        const silentMs = now - (rt.hadData ? rt.lastDataMs : rt.streamStartMs);
        const limit = rt.hadData ? this.stallTimeout(rt) : this.firstDataTimeoutMs;
        if (silentMs > limit) {
          void this.onStall(rt, silentMs);
          continue;
        }
        if (now - rt.lastRssiPollMs >= this.rssiPollMs) {
          rt.lastRssiPollMs = now;
          const conn = rt.conn;
          conn.updateRssi().then(
            (rssi) => {
              if (rt.conn === conn) rt.rssi = rssi;
            },
            () => undefined,
          );
        }
      }
      if (now - rt.rateWindowStartMs >= RATE_WINDOW_MS) {
        const elapsedS = (now - rt.rateWindowStartMs) / 1000;
        rt.rateHz = rt.phase === 'streaming' ? rt.rateSamples / elapsedS : null;
        rt.rateSamples = 0;
        rt.rateWindowStartMs = now;
        this.metrics.rateHz.set({ device: rt.target.key }, rt.rateHz ?? 0);
        if (rt.rssi !== null) this.metrics.rssi.set({ device: rt.target.key }, rt.rssi);
        this.emitStatus(rt);
      }
    }
    this.pump();
  }

  private stallTimeout(rt: Runtime): number {
    const expected = rt.notifyIntervalMs > 0 ? rt.notifyIntervalMs : 1000 / (rt.settings?.rateHz ?? 10);
    return Math.min(this.maxStallMs, Math.max(this.minStallMs, this.stallPeriods * expected));
  }

  private backoffMs(failures: number): number {
    const b = this.backoff;
    const base = Math.min(b.maxMs, b.initialMs * b.factor ** Math.max(0, failures - 1));
    return Math.max(0, base * (1 + b.jitter * (this.random() * 2 - 1)));
  }

  // ---- one connection attempt ----------------------------------------------------------

  private async attempt(rt: Runtime): Promise<void> {
    const id = rt.peripheralId as string;
    const key = rt.target.key;
    this.connectInFlight = true;
    this.setPhase(rt, 'connecting');
    this.updateScanning();
    let conn: BleConnection | null = null;
    try {
      conn = await this.adapter.connect(id);
    } catch (err) {
      this.connectInFlight = false;
      this.metrics.connectAttempts.inc({ adapter: this.adapter.name, result: errorCode(err) });
      this.failed(rt, err, 'connect');
      this.pump();
      return;
    }
    this.connectInFlight = false;
    this.metrics.connectAttempts.inc({ adapter: this.adapter.name, result: 'ok' });
    if (rt.removed || !this.running) {
      await conn.disconnect();
      return;
    }
    rt.conn = conn;
    rt.link++;
    this.links++;
    this.maxLinksSeen = Math.max(this.maxLinksSeen, this.links);
    this.metrics.connections.set({ adapter: this.adapter.name }, this.links);
    const link = rt.link;
    rt.subs.push(conn.closed$.subscribe((reason) => this.onLinkLost(rt, conn as BleConnection, reason)));
    this.setPhase(rt, 'starting');
    this.pump();
    try {
      await this.startStreams(rt, conn, link);
      if (rt.conn !== conn) return;
      rt.streamStartMs = this.timers.now();
      rt.hadData = false;
      rt.lastRssiPollMs = rt.streamStartMs;
      this.setPhase(rt, 'streaming');
      this.logger?.info(
        { device: key, family: rt.target.driver.family, settings: rt.settings },
        'BLE device streaming',
      );
    } catch (err) {
      if (rt.conn !== conn) return; // the link went away mid-start: onLinkLost handled it
      this.metrics.startFailures.inc({ device: key, code: errorCode(err) });
      this.failed(rt, err, 'start');
      await this.dropLink(rt, conn);
    }
  }

  private async startStreams(rt: Runtime, conn: BleConnection, link: number): Promise<void> {
    const driver = rt.target.driver;
    const companionServices = this.companions.flatMap((c) => c.services);
    await conn.discover([...new Set([...driver.services, ...companionServices])]);
    const settings = driver.resolveSettings({
      ...rt.target.request,
      ...(rt.localName ? { localName: rt.localName } : {}),
    });
    for (const note of settings.adjustments)
      this.logger?.info({ device: rt.target.key }, `settings adjusted: ${note}`);
    rt.settings = settings;
    rt.decoders = new Map();
    const decoder = driver.createDecoder(settings);
    for (const step of driver.startSequence(settings)) {
      if ('characteristic' in step) rt.decoders.set(step.characteristic, decoder);
    }
    for (const c of driver.dataCharacteristics) rt.decoders.set(c, decoder);
    await this.runSteps(rt, conn, link, driver.startSequence(settings), true);
    for (const companion of this.companions) {
      if (!companion.services.every((s) => conn.has(s, companionCharacteristic(companion, s)))) continue;
      const cSettings = companion.resolveSettings({ rateHz: 0 });
      const cDecoder = companion.createDecoder(cSettings);
      const steps = companion.startSequence(cSettings);
      for (const step of steps) if ('characteristic' in step) rt.decoders.set(step.characteristic, cDecoder);
      try {
        await this.runSteps(rt, conn, link, steps, false);
      } catch (err) {
        // A battery level is nice to have; its failure must not cost the stream.
        this.logger?.warn(
          { device: rt.target.key, code: errorCode(err) },
          `${companion.family}: ${errorMessage(err)}`,
        );
      }
    }
  }

  private async runSteps(
    rt: Runtime,
    conn: BleConnection,
    link: number,
    steps: readonly GattStep[],
    essential: boolean,
  ): Promise<void> {
    for (const step of steps) {
      if (rt.conn !== conn)
        throw new GatewayError('BLE_DISCONNECTED', `${rt.target.key}: link lost during start`);
      if (step.op === 'delay') {
        await sleep(this.timers, step.ms);
        continue;
      }
      if (!conn.has(step.service, step.characteristic)) {
        if (step.optional || !essential) continue;
        throw new GatewayError(
          'BLE_NO_CHARACTERISTIC',
          `${rt.target.key} (${rt.target.driver.family}) lacks characteristic ${step.characteristic} of service ${step.service}${step.label ? ` needed to ${step.label}` : ''}`,
        );
      }
      try {
        await this.runStep(rt, conn, link, step);
      } catch (err) {
        if (step.optional) {
          this.logger?.debug(
            { device: rt.target.key, code: errorCode(err) },
            `optional step failed: ${errorMessage(err)}`,
          );
          continue;
        }
        throw err;
      }
    }
  }

  private async runStep(
    rt: Runtime,
    conn: BleConnection,
    link: number,
    step: Exclude<GattStep, { op: 'delay' }>,
  ): Promise<void> {
    const charKey = `${step.service}/${step.characteristic}`;
    switch (step.op) {
      case 'subscribe': {
        if (!rt.subscribed.has(charKey)) {
          rt.subscribed.add(charKey);
          rt.subs.push(
            conn
              .notifications(step.service, step.characteristic)
              .subscribe((data) => this.onNotification(rt, link, step.characteristic, data)),
          );
        }
        await conn.setNotify(step.service, step.characteristic, true);
        return;
      }
      case 'unsubscribe':
        await conn.setNotify(step.service, step.characteristic, false);
        return;
      case 'read': {
        const value = await conn.read(step.service, step.characteristic);
        this.deliver(rt, link, step.characteristic, value);
        const check = step.check?.(value);
        if (check && !check.ok) throw new GatewayError(check.code, `${rt.target.key}: ${check.message}`);
        return;
      }
      case 'write': {
        const expectation = step.response;
        let waiter: Promise<StepCheck | 'timeout'> | undefined;
        let cancel: (() => void) | undefined;
        if (expectation) {
          waiter = new Promise((resolve) => {
            const pending: PendingResponse = { expectation, resolve: (c) => resolve(c) };
            rt.pending.add(pending);
            const timer = this.timers.setTimeout(() => {
              rt.pending.delete(pending);
              resolve('timeout');
            }, expectation.timeoutMs);
            cancel = () => {
              this.timers.clearTimeout(timer);
              rt.pending.delete(pending);
            };
          });
        }
        try {
          await conn.write(step.service, step.characteristic, step.data, step.withoutResponse ?? false);
          if (!waiter) return;
          const outcome = await Promise.race([
            waiter,
            new Promise<'gone'>((resolve) => {
              const s = conn.closed$.subscribe(() => resolve('gone'));
              void waiter?.then(() => s.unsubscribe());
            }),
          ]);
          if (outcome === 'gone')
            throw new GatewayError('BLE_DISCONNECTED', `${rt.target.key}: link lost waiting for a response`);
          if (outcome === 'timeout') {
            if (expectation?.optional) return;
            throw new GatewayError(
              'BLE_NO_RESPONSE',
              `${rt.target.key}: no response to '${step.label ?? 'write'}' within ${expectation?.timeoutMs} ms`,
            );
          }
          if (!outcome.ok) throw new GatewayError(outcome.code, `${rt.target.key}: ${outcome.message}`);
        } finally {
          cancel?.();
        }
        return;
      }
    }
  }

  // ---- data path -------------------------------------------------------------------------

  private onNotification(rt: Runtime, link: number, characteristic: string, data: Uint8Array): void {
    if (rt.link !== link) return;
    for (const p of rt.pending) {
      if (p.expectation.characteristic !== characteristic) continue;
      const check = p.expectation.match(data);
      if (check) {
        rt.pending.delete(p);
        p.resolve(check);
      }
    }
    this.deliver(rt, link, characteristic, data);
  }

  private deliver(rt: Runtime, link: number, characteristic: string, data: Uint8Array): void {
    const decoder = rt.decoders.get(characteristic);
    const settings = rt.settings;
    if (!decoder || !settings) return;
    const arrivalNs = this.nowNs();
    const result = decoder.decode(characteristic, data, arrivalNs);
    const now = this.timers.now();
    if (!result.ok) {
      rt.decodeErrors++;
      this.metrics.decodeErrors.inc({ device: rt.target.key, reason: result.reason });
      this.logger?.debug({ device: rt.target.key, reason: result.reason }, result.message);
    }
    if (result.ok && result.battery !== undefined && result.battery !== rt.battery) {
      rt.battery = result.battery;
      this.metrics.battery.set({ device: rt.target.key }, result.battery / 100);
      this.emitStatus(rt);
    }
    const n = result.imu?.n ?? 0;
    // Separate gyro frames (Polar) describe the same instants as the acc ones: count acc only.
    const instants = result.imu?.acc ? n : 0;
    if (n > 0 && rt.target.driver.dataCharacteristics.includes(characteristic)) {
      if (rt.hadData) {
        const dt = now - rt.lastDataMs;
        // Smoothed notification interval: the stall watchdog's yardstick.
        rt.notifyIntervalMs = rt.notifyIntervalMs === 0 ? dt : rt.notifyIntervalMs * 0.9 + dt * 0.1;
      } else if (rt.phase === 'streaming' || rt.phase === 'starting') {
        // First data of this link: the device works; forget earlier failures.
        rt.failures = 0;
      }
      rt.hadData = true;
      rt.lastDataMs = now;
      rt.rateSamples += instants;
      this.metrics.samples.inc({ device: rt.target.key }, instants);
    }
    this.decoded$$.next({ key: rt.target.key, characteristic, arrivalNs, result, settings, link });
  }

  // ---- losing links ----------------------------------------------------------------------

  private async onStall(rt: Runtime, silentMs: number): Promise<void> {
    const conn = rt.conn;
    if (!conn) return;
    rt.stalls++;
    this.metrics.stalls.inc({ device: rt.target.key });
    rt.lastError = { code: 'BLE_STALLED', message: `no data for ${Math.round(silentMs)} ms` };
    this.logger?.warn(
      { device: rt.target.key, code: 'BLE_STALLED', silentMs },
      'BLE stream stalled; reconnecting',
    );
    await this.dropLink(rt, conn);
  }

  /** Disconnects; the link's closed$ then runs onLinkLost. */
  private async dropLink(rt: Runtime, conn: BleConnection): Promise<void> {
    if (rt.conn === conn) this.setPhase(rt, 'stopping');
    await conn.disconnect();
  }

  private onLinkLost(rt: Runtime, conn: BleConnection, reason: string): void {
    if (rt.conn !== conn) return;
    const wasStreaming = rt.phase === 'streaming' || rt.phase === 'stopping';
    rt.conn = null;
    this.links--;
    this.metrics.connections.set({ adapter: this.adapter.name }, this.links);
    for (const s of rt.subs.splice(0)) s.unsubscribe();
    rt.subscribed.clear();
    for (const p of rt.pending) p.resolve({ ok: false, code: 'BLE_DISCONNECTED', message: reason });
    rt.pending.clear();
    rt.decoders = new Map();
    rt.hadData = false;
    rt.notifyIntervalMs = 0;
    if (rt.removed) return;
    if (wasStreaming) {
      rt.reconnects++;
      this.metrics.reconnects.inc({ device: rt.target.key });
    }
    if (rt.lastError?.code !== 'BLE_STALLED' || !wasStreaming)
      rt.lastError = { code: 'BLE_DISCONNECTED', message: reason };
    // The device advertises again once the link is gone; wait for that before reconnecting.
    rt.lastAdvertMs = -Infinity;
    rt.waitingSinceMs = this.timers.now();
    this.setPhase(rt, 'waiting');
    this.logger?.info({ device: rt.target.key, reason }, 'BLE link lost');
    this.updateScanning();
    this.pump();
  }

  private failed(rt: Runtime, err: unknown, during: string): void {
    rt.failures++;
    rt.nextAttemptMs = this.timers.now() + this.backoffMs(rt.failures);
    rt.lastError = { code: errorCode(err), message: errorMessage(err) };
    this.logger?.warn(
      {
        device: rt.target.key,
        code: rt.lastError.code,
        failures: rt.failures,
        retryInMs: Math.round(rt.nextAttemptMs - this.timers.now()),
      },
      `BLE ${during} failed: ${rt.lastError.message}`,
    );
    if (rt.conn === null && rt.phase !== 'waiting') {
      rt.waitingSinceMs = this.timers.now();
      this.setPhase(rt, 'waiting');
      this.updateScanning();
    }
  }

  private async stopDevice(rt: Runtime): Promise<void> {
    const conn = rt.conn;
    if (!conn) return;
    if (rt.phase === 'streaming' && rt.settings) {
      try {
        await this.runSteps(rt, conn, rt.link, rt.target.driver.stopSequence(rt.settings), false);
      } catch (err) {
        this.logger?.debug(
          { device: rt.target.key, code: errorCode(err) },
          `stop sequence: ${errorMessage(err)}`,
        );
      }
    }
    rt.removed = true;
    this.setPhase(rt, 'stopping');
    await conn.disconnect();
    if (rt.conn === conn) this.onLinkLost(rt, conn, 'stopped');
  }

  // ---- status ----------------------------------------------------------------------------

  private setPhase(rt: Runtime, phase: DevicePhase): void {
    if (rt.phase === phase) return;
    rt.phase = phase;
    if (phase === 'streaming') {
      // Measure the rate over streaming time only, not over the connection setup.
      rt.rateSamples = 0;
      rt.rateWindowStartMs = this.timers.now();
      rt.rateHz = null;
    }
    this.metrics.connected.set({ device: rt.target.key }, phase === 'streaming' ? 1 : 0);
    this.emitStatus(rt);
  }

  private emitStatus(rt: Runtime): void {
    if (!this.running && rt.phase !== 'stopping') return;
    this.status$$.next(this.status(rt));
  }

  private status(rt: Runtime): DeviceStatus {
    const connected = rt.phase === 'streaming';
    return {
      key: rt.target.key,
      family: rt.target.driver.family,
      phase: rt.phase,
      connected,
      address: rt.address,
      localName: rt.localName,
      rssi: rt.rssi,
      battery: rt.battery,
      rateHz: connected ? rt.rateHz : null,
      reconnects: rt.reconnects,
      stalls: rt.stalls,
      decodeErrors: rt.decodeErrors,
      failures: rt.failures,
      lastSeenMs: lastSeen(rt),
      settings: rt.settings,
      lastError: rt.lastError,
    };
  }
}

/** The characteristic a companion's first step uses in `service` (to tell whether the device has it). */
function companionCharacteristic(companion: DeviceDriver, service: string): string {
  for (const step of companion.startSequence(companion.resolveSettings({ rateHz: 0 }))) {
    if ('service' in step && step.service === service) return step.characteristic;
  }
  return '';
}

function lastSeen(rt: Runtime): number | null {
  const seen = Math.max(rt.lastDataMs > 0 ? rt.lastDataMs : -Infinity, rt.lastAdvertMs);
  return Number.isFinite(seen) ? seen : null;
}
