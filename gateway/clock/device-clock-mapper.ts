import type { SampleChunk } from '../domain/samples.ts';
import type { Clock } from '../domain/time.ts';
import { DriftEstimator, type DriftFitOptions } from './drift-estimator.ts';

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
  /** Told each source's current drift after every mapped chunk (a metrics gauge). */
  readonly onDrift?: (sourceId: string, driftPpm: number) => void;
}

/** Smallest step kept between consecutive mapped samples, so a refit never reorders them. */
const MIN_STEP_NS = 1e3;
const DEFAULT_MAX_SOURCES = 4096;

interface SourceState {
  readonly estimator: DriftEstimator;
  lastNs: number;
}

/**
 * Puts chunks stamped on a device's own clock onto the gateway clock, drift-corrected per
 * source ({@link DriftEstimator}). Sources apply it where samples enter the gateway, so
 * every consumer — pipeline, InfluxDB, recorder, camera matching — sees one clock.
 * Chunks already on the gateway clock pass through untouched.
 */
export class DeviceClockMapper {
  private readonly perSource = new Map<string, SourceState>();
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
    const n = chunk.tNs.length;
    if (n === 0) return { ...chunk, clockDomain: 'gateway' };
    const state = this.stateOf(chunk.sourceId);
    state.estimator.observe(chunk.tNs[n - 1] as number, arrivalNs ?? this.deps.clock.nowNs());
    const tNs = new Float64Array(n);
    let last = state.lastNs;
    for (let i = 0; i < n; i++) {
      const t = Math.max(state.estimator.map(chunk.tNs[i] as number), last + MIN_STEP_NS);
      tNs[i] = t;
      last = t;
    }
    state.lastNs = last;
    this.deps.onDrift?.(chunk.sourceId, state.estimator.driftPpm);
    return { ...chunk, tNs, clockDomain: 'gateway' };
  }

  /** Forget a source (it left); its next chunk starts a new fit. */
  forget(sourceId: string): void {
    this.perSource.delete(sourceId);
  }

  private stateOf(sourceId: string): SourceState {
    let state = this.perSource.get(sourceId);
    if (state) {
      // Map order is insertion order: re-inserting keeps the least recently seen first.
      this.perSource.delete(sourceId);
      this.perSource.set(sourceId, state);
      return state;
    }
    if (this.perSource.size >= this.maxSources) {
      const oldest = this.perSource.keys().next().value;
      if (oldest !== undefined) this.perSource.delete(oldest);
    }
    state = { estimator: new DriftEstimator(this.options.drift), lastNs: -Infinity };
    this.perSource.set(sourceId, state);
    return state;
  }
}
