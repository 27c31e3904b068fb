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

/** Home Assistant discovery config (retained), when enabled and MQTT is up. */
export class DiscoveryAnnouncer {
  constructor(
    private readonly options: AnnouncerOptions,
    private readonly mqtt: () => MqttSink | undefined,
  ) {}

  gateway(): void {
    this.announce((ctx) => gatewayDiscovery(ctx));
  }

  subject(id: string): void {
    this.announce((ctx) => subjectDiscovery(ctx, id));
  }

  device(id: string, kind: 'imu' | 'camera'): void {
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
