import type { Registry } from 'prom-client';
import type { Timers } from '../../clock/timers.ts';
import type { Clock } from '../../domain/time.ts';
import type { HealthRegistry } from '../../observability/health.ts';
import type { Logger } from '../../observability/logger.ts';
import type { RecorderOptions } from './options.ts';
import { Recorder } from './recorder.ts';

/** The recorder for the validated `recorder` config section, or undefined when it is disabled. */
export function recorderFromConfig(
  config: RecorderOptions,
  ctx: {
    gatewayId: string;
    registry: Registry;
    health?: HealthRegistry;
    logger?: Logger;
    clock?: Clock;
    timers?: Timers;
  },
): Recorder | undefined {
  if (!config.enabled) return undefined;
  return new Recorder({ ...ctx, options: config });
}
