import { Subject, Subscription, type Observable } from 'rxjs';
import type { RepsEvent } from '../../domain/events.ts';
import { nsToIso, type Clock } from '../../domain/time.ts';
import { counter, type Registry } from '../../observability/metrics.ts';
import type { Service } from '../../service.ts';
import type { InfluxSink } from '../../sinks/influx/index.ts';
import type { MqttSink } from '../../sinks/mqtt/index.ts';
import type { SubjectRegistry } from '../../subjects/registry.ts';
import { RepService, type RepServiceOptions } from './rep-service.ts';
import type { RepActivityOverride } from './settings.ts';

export interface RepsServiceOptions {
  readonly enabled: boolean;
  readonly gateway: string;
  readonly activities?: RepServiceOptions['activities'];
  readonly restS: number;
  readonly historyS: number;
}

export interface RepsServiceDeps {
  readonly clock: Clock;
  readonly metrics: Registry;
  readonly nextSeq: () => number;
  readonly subjects: SubjectRegistry;
  readonly mqtt: () => Pick<MqttSink, 'publishReps'> | undefined;
  readonly influx: () => Pick<InfluxSink, 'writeReps'> | undefined;
}

/**
 * Repetition counting (config `reps`): every rep on MQTT (`reps`) and InfluxDB (`reps`
 * points), and the subject's retained state re-published with the new count (which the live
 * page shows). Fed the pipeline's samples and the activity events; stopping closes open sets.
 */
export class RepsService implements Service {
  readonly name = 'reps';
  private reps: RepService | undefined;
  private readonly subscription = new Subscription();
  private readonly repsSubject = new Subject<RepsEvent>();
  /** Every repetition and set summary. */
  readonly events$: Observable<RepsEvent> = this.repsSubject.asObservable();

  constructor(
    private readonly options: RepsServiceOptions,
    private readonly deps: RepsServiceDeps,
  ) {}

  /** The counter, when enabled and started. */
  get current(): RepService | undefined {
    return this.reps;
  }

  /** Per-class settings from the model manifest serving now. */
  setManifest(
    classes: readonly { readonly id: string; readonly reps?: RepActivityOverride | undefined }[],
  ): void {
    this.reps?.setManifestSettings(
      Object.fromEntries(
        classes.flatMap((c): [string, RepActivityOverride][] => (c.reps ? [[c.id, c.reps]] : [])),
      ),
    );
  }

  start(): void {
    const { options, deps } = this;
    if (!options.enabled) return;
    this.reps = new RepService(
      {
        gateway: options.gateway,
        ...(options.activities !== undefined ? { activities: options.activities } : {}),
        restS: options.restS,
        historyS: options.historyS,
      },
      { clock: deps.clock, nextSeq: deps.nextSeq },
    );
    const repsCounted = counter(
      deps.metrics,
      'mujo_reps_total',
      'repetitions counted, by counting modality',
      ['modality'],
    );
    const setsEnded = counter(
      deps.metrics,
      'mujo_rep_sets_total',
      'repetition sets ended (summaries published)',
    );
    this.subscription.add(
      this.reps.events$.subscribe((event) => {
        if (event.kind === 'rep') repsCounted.inc({ modality: event.modality });
        else setsEnded.inc();
        this.onReps(event);
      }),
    );
  }

  /** After the pipeline's drain: the final `ended` events have closed every set, and the summaries go out. */
  stop(): void {
    this.reps?.complete();
    this.subscription.unsubscribe();
  }

  /** Completes `events$` (the app does it last, with its other streams). */
  complete(): void {
    this.repsSubject.complete();
  }

  private onReps(event: RepsEvent): void {
    const { deps } = this;
    deps.mqtt()?.publishReps(event);
    this.repsSubject.next(event);
    if (event.kind !== 'rep') return;
    deps.influx()?.writeReps({
      subject: event.subject,
      activity: event.activity,
      count: event.count,
      timeNs: event.timeNs,
    });
    const state = deps.subjects.get(event.subject);
    if (state && state.activity === event.activity) {
      deps.subjects.publishState(
        { ...state, reps: event.count, updated: nsToIso(deps.clock.nowNs()) },
        false,
      );
    }
  }
}
