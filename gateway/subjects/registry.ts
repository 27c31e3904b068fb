import { Subject, type Observable } from 'rxjs';
import { PAYLOAD_VERSION, type ActivityEvent, type SubjectState } from '../domain/events.ts';
import type { SampleChunk } from '../domain/samples.ts';
import type { Clock } from '../domain/time.ts';
import type { RepService } from '../pipeline/reps/rep-service.ts';
import type { InfluxSink } from '../sinks/influx/index.ts';
import type { MqttSink } from '../sinks/mqtt/index.ts';

/** How many recent activity events the live page and /api/events/recent can show. */
export const RECENT_EVENTS = 200;

/** Where subject events go besides the registry's own streams; each may be absent (disabled, not started). */
export interface SubjectOutputs {
  readonly mqtt: () => Pick<MqttSink, 'publishActivity' | 'publishSubjectState'> | undefined;
  readonly influx: () => Pick<InfluxSink, 'writeActivity' | 'writeSubjectState'> | undefined;
  readonly reps: () => Pick<RepService, 'onActivity' | 'count'> | undefined;
  /** A subject seen for the first time (Home Assistant discovery). */
  readonly onNewSubject: (id: string) => void;
}

export interface SubjectRegistryOptions {
  readonly gatewayId: string;
  readonly clock: Clock;
  /** Configured subjects and their devices and camera tracks. */
  readonly subjects: readonly {
    readonly id: string;
    readonly devices: readonly string[];
    readonly cameraTracks: readonly string[];
  }[];
}

/**
 * The subjects the gateway knows: each one's latest state, the recent activity events, where
 * each subject's newest window ends, and which source the configuration assigns to whom.
 */
export class SubjectRegistry {
  private readonly states = new Map<string, SubjectState>();
  private readonly recent: ActivityEvent[] = [];
  /** End (data time) of each subject's newest window: where a live enrollment starts. */
  private readonly windowEndNs = new Map<string, number>();
  private readonly sourceSubject = new Map<string, string>();
  private readonly activitySubject = new Subject<ActivityEvent>();
  private readonly stateSubject = new Subject<SubjectState>();

  /** Every activity event, every subject state (hot). */
  readonly activity$: Observable<ActivityEvent> = this.activitySubject.asObservable();
  readonly states$: Observable<SubjectState> = this.stateSubject.asObservable();

  constructor(
    private readonly options: SubjectRegistryOptions,
    private readonly outputs: SubjectOutputs,
  ) {
    for (const subject of options.subjects) {
      for (const device of subject.devices) this.sourceSubject.set(device, subject.id);
      for (const track of subject.cameraTracks) this.sourceSubject.set(track, subject.id);
    }
  }

  /** The subject the configuration assigns `source` (device or camera track) to. */
  subjectFor(source: string): string | undefined {
    return this.sourceSubject.get(source);
  }

  /** Configuration assignments win over what a recording says. */
  assign(chunk: SampleChunk): SampleChunk {
    const subjectId = this.sourceSubject.get(chunk.sourceId);
    return subjectId === undefined || subjectId === chunk.subjectId ? chunk : { ...chunk, subjectId };
  }

  /** The subjects the configuration lists, in its order. */
  configured(): string[] {
    return this.options.subjects.map((s) => s.id);
  }

  ids(): string[] {
    return [...this.states.keys()];
  }

  snapshot(): SubjectState[] {
    return [...this.states.values()];
  }

  get(id: string): SubjectState | undefined {
    return this.states.get(id);
  }

  recentEvents(n: number): ActivityEvent[] {
    return this.recent.slice(-n);
  }

  lastWindowEndNs(subject: string): number | undefined {
    return this.windowEndNs.get(subject);
  }

  noteWindowEnd(subject: string, endNs: number): void {
    if (endNs > (this.windowEndNs.get(subject) ?? -Infinity)) this.windowEndNs.set(subject, endNs);
  }

  ensure(id: string): void {
    if (this.states.has(id)) return;
    this.outputs.onNewSubject(id);
    this.states.set(id, {
      v: PAYLOAD_VERSION,
      gateway: this.options.gatewayId,
      subject: id,
      activity: null,
      activityName: null,
      confidence: 0,
      since: null,
      reps: 0,
      updated: new Date(this.options.clock.nowNs() / 1e6).toISOString(),
      modalities: [],
      sources: [],
    });
  }

  onActivity(event: ActivityEvent): void {
    this.recent.push(event);
    if (this.recent.length > RECENT_EVENTS) this.recent.shift();
    this.outputs.mqtt()?.publishActivity(event);
    this.outputs.influx()?.writeActivity(event);
    this.activitySubject.next(event);
    this.outputs.reps()?.onActivity(event);
  }

  onState(state: SubjectState): void {
    const reps = this.outputs.reps();
    this.publishState(reps ? { ...state, reps: reps.count(state.subject) } : state, true);
  }

  /** `toInflux` false for rep updates: their `reps` point is written from the rep event itself. */
  publishState(state: SubjectState, toInflux: boolean): void {
    this.states.set(state.subject, state);
    this.outputs.mqtt()?.publishSubjectState(state);
    if (toInflux) this.outputs.influx()?.writeSubjectState(state);
    this.stateSubject.next(state);
  }

  complete(): void {
    this.activitySubject.complete();
    this.stateSubject.complete();
  }
}
