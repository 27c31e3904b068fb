import { defer, map, type MonoTypeOperatorFunction } from 'rxjs';
import type { SampleChunk } from '../../domain/samples.ts';
import type { Clock } from '../../domain/time.ts';
import { DeviceClockMapper } from '../../clock/device-clock-mapper.ts';
import type { DriftFitOptions } from '../../clock/drift-estimator.ts';
import type { PipelineMetrics } from '../metrics.ts';

/** Kept as a name for the chunk field `clockDomain` (gateway/domain/samples.ts). */
export type ClockDomainTag = Pick<SampleChunk, 'clockDomain'>;

export interface ClockMappingOptions {
  readonly drift?: DriftFitOptions;
  /** Which chunks are on a device clock; default: those tagged `clockDomain: 'device'`. */
  readonly isDeviceClock?: (chunk: SampleChunk) => boolean;
}

export interface ClockMappingDeps {
  readonly clock: Clock;
  readonly metrics?: PipelineMetrics;
}

/**
 * Pipeline operator over {@link DeviceClockMapper}, for streams fed straight into the pipeline
 * (tests, benchmarks): the gateway's sources map their clocks where samples enter, so their
 * chunks arrive here on the gateway clock and pass through untouched.
 */
export function mapDeviceClock(
  options: ClockMappingOptions,
  deps: ClockMappingDeps,
): MonoTypeOperatorFunction<SampleChunk> {
  const isDevice =
    options.isDeviceClock ?? ((c: SampleChunk) => (c as ClockDomainTag).clockDomain === 'device');
  return (source) =>
    defer(() => {
      const mapper = new DeviceClockMapper(options.drift === undefined ? {} : { drift: options.drift }, {
        clock: deps.clock,
        onDrift: (sourceId, ppm) => deps.metrics?.clockDriftRatio.set({ source: sourceId }, ppm / 1e6),
      });
      return source.pipe(map((chunk) => (isDevice(chunk) ? mapper.map(chunk, true) : chunk)));
    });
}
