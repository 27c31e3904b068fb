import type { Observable, Subscription } from 'rxjs';
import type { DeviceState } from '../../domain/events.ts';
import type { Service } from '../../service.ts';
import { SOFTWARE_VERSION } from '../../version.ts';
import {
  deviceDiscovery,
  gatewayDiscovery,
  subjectDiscovery,
  type DiscoveryMessage,
} from './home-assistant.ts';
import type { MqttSink } from './sink.ts';

export interface AnnouncerOptions {
  readonly enabled: boolean;
  readonly discoveryPrefix: string;
  readonly gatewayId: string;
  /** The live page's URL once HTTP is up (Home Assistant links each device to it). */
  readonly configurationUrl?: () => string | null;
}

/**
 * Home Assistant discovery config (retained), when enabled and MQTT is up. Every device is
 * announced from its first state, whatever its source (replay, phone ingest, BLE, camera),
 * and again only if its kind changes.
 */
export class DiscoveryAnnouncer implements Service {
  readonly name = 'home-assistant';
  private readonly announced = new Map<string, DeviceState['kind']>();
  private subscription: Subscription | undefined;

  constructor(
    private readonly options: AnnouncerOptions,
    private readonly mqtt: () => MqttSink | undefined,
    /** Every device state the gateway publishes (known once the device states exist). */
    private readonly deviceStates$?: () => Observable<DeviceState>,
  ) {}

  start(): void {
    this.subscription = this.deviceStates$?.().subscribe((s) => this.device(s.device, s.kind));
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }

  gateway(): void {
    this.announce((ctx) => gatewayDiscovery(ctx));
  }

  subject(id: string): void {
    this.announce((ctx) => subjectDiscovery(ctx, id));
  }

  device(id: string, kind: DeviceState['kind']): void {
    if (this.announced.get(id) === kind || !this.mqtt() || !this.options.enabled) return;
    this.announced.set(id, kind);
    this.announce((ctx) => deviceDiscovery(ctx, id, kind));
  }

  private announce(build: (ctx: Parameters<typeof gatewayDiscovery>[0]) => DiscoveryMessage[]): void {
    const mqtt = this.mqtt();
    if (!mqtt || !this.options.enabled) return;
    const ctx = {
      prefix: this.options.discoveryPrefix,
      gatewayId: this.options.gatewayId,
      topics: mqtt.topics,
      softwareVersion: SOFTWARE_VERSION,
      configurationUrl: this.options.configurationUrl?.() ?? null,
    };
    for (const m of build(ctx)) mqtt.publishRetained('discovery', m.topic, m.payload);
  }
}
