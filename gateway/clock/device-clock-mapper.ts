import type { SampleChunk } from '../domain/samples.ts';
import type { Clock } from '../domain/time.ts';
import { DriftEstimator, type DriftFitOptions } from './drift-estimator.ts';
import { evictLeastRecentlyUsed } from './least-recently-used.ts';

export interface DeviceClockMapperOptions {
  readonly drift?: DriftFitOptions;
  /**
   * Sources tracked at once. Source ids come from the network (MQTT ingest topics), so the
   * table is bounded: past this, the source silent the longest is forgotten (it re-learns its
   * offset from its next chunk).
   */
  readonly maxSources?: number;
}

export interface DeviceClockMapperDeps {
  readonly clock: Clock;
  /** Told a source's drift when its estimate changes (a metrics gauge; at most once per fit bucket). */
  readonly onDrift?: (sourceId: string, driftPpm: number) => void;
}

/**
 * Smallest step kept between consecutive mapped samples: epoch nanoseconds in a float64 are
 * exact only to 256 ns, so a smaller step could make two samples one instant.
 */
const MIN_STEP_NS = 1e3;
/**
 * When a refit moves the fitted line back, the next samples would map before ones already
 * emitted. They keep at least this share of their device-clock spacing instead, so the
 * mapping slews back onto the line over a few samples rather than stacking them a
 * microsecond apart (which collapsed them into one millisecond in InfluxDB).
 */
const MIN_SPACING_SHARE = 0.5;
const DEFAULT_MAX_SOURCES = 4096;

interface SourceState {
  readonly estimator: DriftEstimator;
  /** Newest sample emitted so far: its device time (-Infinity: none on this timeline) … */
  lastDeviceNs: number;
  /** … and its mapped time. */
  lastNs: number;
  /** Estimator resets seen: a reset starts a new device timeline. */
  resets: number;
  /** Drift last reported to `onDrift` (the gauge is set only when it changes). */
  reportedPpm: number;
  /** When it was last used (a counter): the least recently used source is forgotten first. */
  usedAt: number;
}

/**
 * Puts chunks stamped on a device's own clock onto the gateway clock, drift-corrected per
 * source ({@link DriftEstimator}). Sources apply it where samples enter the gateway, so
 * every consumer — pipeline, InfluxDB, recorder, camera matching — sees one clock.
 * Chunks already on the gateway clock pass through untouched.
 */
export class DeviceClockMapper {
  private readonly perSource = new Map<string, SourceState>();
  private uses = 0;
  private readonly maxSources: number;

  constructor(
    private readonly options: DeviceClockMapperOptions,
    private readonly deps: DeviceClockMapperDeps,
  ) {
    this.maxSources = options.maxSources ?? DEFAULT_MAX_SOURCES;
  }

  /** Sources currently tracked. */
  get size(): number {
    return this.perSource.size;
  }

  /**
   * The chunk on the gateway clock. `onDeviceClock` says whether `chunk.tNs` is on the
   * device's clock; `arrivalNs` is when the chunk reached the gateway (default: now on the
   * injected clock — pass the receive time when decoding came in between).
   */
  map<C extends SampleChunk>(chunk: C, onDeviceClock: boolean, arrivalNs?: number): C {
    if (!onDeviceClock) return chunk.clockDomain === 'gateway' ? chunk : { ...chunk, clockDomain: 'gateway' };
    if (chunk.tNs.length === 0) return { ...chunk, clockDomain: 'gateway' };
    return { ...chunk, tNs: this.mapTimes(chunk.sourceId, chunk.tNs, arrivalNs), clockDomain: 'gateway' };
  }

  /**
   * {@link map} for callers that build the chunk themselves (MQTT ingest): the source's sample
   * times `deviceTNs` (device clock, ascending, at least one) on the gateway clock, in a new array.
   */
  mapTimes(sourceId: string, deviceTNs: Float64Array, arrivalNs?: number): Float64Array {
    const n = deviceTNs.length;
    const state = this.stateOf(sourceId);
    const { estimator } = state;
    estimator.observe(deviceTNs[n - 1] as number, arrivalNs ?? this.deps.clock.nowNs());
    if (estimator.resets !== state.resets) {
      // The device clock restarted (or this is the first chunk): its times do not compare with the old ones.
      state.resets = estimator.resets;
      state.lastDeviceNs = -Infinity;
    }
    const tNs = new Float64Array(n);
    let lastDevice = state.lastDeviceNs;
    let last = state.lastNs;
    let previous = -Infinity;
    for (let i = 0; i < n; i++) {
      const device = deviceTNs[i] as number;
      let t = estimator.map(device);
      if (device > lastDevice) {
        // Newer than anything emitted: later than the newest mapped sample, by a share of the device spacing.
        const step =
          lastDevice === -Infinity
            ? MIN_STEP_NS
            : Math.max(MIN_STEP_NS, (device - lastDevice) * MIN_SPACING_SHARE);
        t = Math.max(t, last + step);
        lastDevice = device;
        last = t;
      } else {
        // Overtaken in transit or sent again: its own place on the line, in the past; consumers
        // that need order (resample) drop and count it, InfluxDB stores it at its time.
        t = Math.max(t, previous + MIN_STEP_NS);
      }
      tNs[i] = t;
      previous = t;
    }
    state.lastDeviceNs = lastDevice;
    state.lastNs = last;
    const ppm = estimator.driftPpm;
    if (ppm !== state.reportedPpm) {
      // The fit changes at most once per bucket (1 s): setting a labelled gauge per chunk only allocated.
      state.reportedPpm = ppm;
      this.deps.onDrift?.(sourceId, ppm);
    }
    return tNs;
  }

  /** Forget a source (it left); its next chunk starts a new fit. */
  forget(sourceId: string): void {
    this.perSource.delete(sourceId);
  }

  private stateOf(sourceId: string): SourceState {
    let state = this.perSource.get(sourceId);
    if (state) {
      // A use counter rather than re-inserting into the Map per chunk: the scan for the least
      // recently used runs only when a new source arrives at a full table.
      state.usedAt = ++this.uses;
      return state;
    }
    evictLeastRecentlyUsed(this.perSource, this.maxSources);
    state = {
      estimator: new DriftEstimator(this.options.drift),
      lastDeviceNs: -Infinity,
      lastNs: -Infinity,
      resets: 0,
      reportedPpm: NaN,
      usedAt: ++this.uses,
    };
    this.perSource.set(sourceId, state);
    return state;
  }
}
