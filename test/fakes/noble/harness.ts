import { HealthRegistry } from '../../../gateway/observability/health.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { createMetricsRegistry } from '../../../gateway/observability/metrics.ts';
import {
  createBleSource,
  type BleSource,
  type BleSourceOptions,
} from '../../../gateway/sources/ble/ble-source.ts';
import type { ConnectionManagerOptions } from '../../../gateway/sources/ble/connection-manager.ts';
import type { ImuChunk } from '../../../gateway/domain/samples.ts';
import type { DeviceState } from '../../../gateway/domain/events.ts';
import type { NobleBindings } from '@abandonware/noble/with-bindings';
import { FakeBindings, type FakeBindingsOptions } from './fake-bindings.ts';
import { VirtualTimers } from '../virtual-timers.ts';
import { prng as seeded } from '../../helpers/prng.ts';

export { prng as seeded } from '../../helpers/prng.ts';

/** Gateway clock origin of the virtual time base (ns). */
export const ORIGIN_NS = 1_767_225_600_000_000_000;

export interface Harness {
  readonly timers: VirtualTimers;
  readonly bindings: FakeBindings;
  readonly source: BleSource;
  readonly registry: ReturnType<typeof createMetricsRegistry>;
  readonly health: HealthRegistry;
  readonly chunks: Map<string, ImuChunk[]>;
  readonly states: DeviceState[];
  nowNs(): number;
}

export function createHarness(
  options: BleSourceOptions,
  extra: {
    seed?: number;
    fake?: Partial<FakeBindingsOptions>;
    manager?: Partial<ConnectionManagerOptions>;
    keepChunks?: boolean;
  } = {},
): Harness {
  const timers = new VirtualTimers();
  const random = seeded(extra.seed ?? 1);
  const bindings = new FakeBindings({ timers, random: seeded((extra.seed ?? 1) + 1000), ...extra.fake });
  const registry = createMetricsRegistry({ defaultMetrics: false });
  const health = new HealthRegistry();
  const nowNs = (): number => ORIGIN_NS + timers.now() * 1e6;
  const source = createBleSource(options, {
    gatewayId: 'test',
    clock: { nowNs },
    registry,
    health,
    logger: silentLogger(),
    timers,
    bindings: bindings as unknown as NobleBindings,
    random,
    ...(extra.manager ? { manager: extra.manager } : {}),
  });
  const chunks = new Map<string, ImuChunk[]>();
  const states: DeviceState[] = [];
  source.chunks$.subscribe((c) => {
    let list = chunks.get(c.sourceId);
    if (!list) chunks.set(c.sourceId, (list = []));
    if (extra.keepChunks !== false) list.push(c);
  });
  source.devices$.subscribe((s) => states.push(s));
  return { timers, bindings, source, registry, health, chunks, states, nowNs };
}
