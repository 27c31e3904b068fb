import { Subject, asyncScheduler, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { PAYLOAD_VERSION, type ActivityEvent, type RepsEvent } from '../../domain/events.ts';
import type { Modality, SampleChunk } from '../../domain/samples.ts';
import { nsToIso, type Clock, type TimeNs } from '../../domain/time.ts';
import { SampleHistory } from './sample-history.ts';
import { SetCounter, type CountedRep, type SetCounterParams } from './set-counter.ts';
import { repSettingsFor, type RepActivityOverride, type RepActivitySettings } from './settings.ts';

export interface RepServiceOptions {
  readonly gateway: string;
  /** Per-activity settings from the configuration (win over the manifest and the built-ins). */
  readonly activities?: Readonly<Record<string, RepActivityOverride>>;
  /** A set ends after this long without a rep while the activity goes on, s. */
  readonly restS?: number;
  /** Samples kept per subject so counting starts at the activity's (back-dated) start, s. */
  readonly historyS?: number;
  readonly params?: Partial<SetCounterParams>;
}

export interface RepServiceDeps {
  readonly clock: Clock;
  /** Closes a suspended set whose subject sends no more data (default asyncScheduler). */
  readonly scheduler?: SchedulerLike;
  /** Source of the per-gateway event sequence number; default counts from 1. */
  readonly nextSeq?: () => number;
}

interface OpenSet {
  readonly activity: string;
  readonly counter: SetCounter;
  /** Set number once its first rep was published (0 before). */
  number: number;
  /** Reps counted while the set was suspended: published if its activity resumes, dropped if not. */
  pending: CountedRep[];
  /** When its activity ended or changed (data time); null while the activity is announced. */
  suspendedAtNs: TimeNs | null;
  /** Closes it `restS` after its suspension if nothing else did (a subject whose data stopped). */
  timer: Subscription | null;
}

interface SubjectReps {
  readonly id: string;
  /** The last `historyS` of its samples, replayed into a set that starts back-dated. */
  readonly history: SampleHistory;
  imuSource: string | null;
  poseSource: string | null;
  lastImuNs: TimeNs;
  lastPoseNs: TimeNs;
  activity: { readonly id: string; readonly settings: RepActivitySettings } | null;
  /** The set of the announced activity. */
  set: OpenSet | null;
  /** The previous activity's set, kept through a short interruption (see onActivity). */
  suspended: OpenSet | null;
  sets: number;
  /** Reps of the current (or last, while its activity lasts) set: the subject state's `reps`. */
  shown: number;
  /** Time of the last rep published for this subject (any set). */
  lastRepNs: TimeNs;
}

/**
 * The recogniser's activity boundaries are approximate (window-centre dating, dwell): a new set
 * starts counting this long before the announced start, so a first rep already under way is
 * seen whole; a rep completed this long after the activity ended still belongs to it (the
 * counter recognises a rep mid-motion, often after the windows have moved on), ns.
 */
const START_LEAD_NS = 1e9;
/**
 * A set resumes only after a short interruption (the recogniser's flicker); after a longer
 * one the subject did something else in between, whose motion must not count as reps.
 */
const RESUME_WITHIN_NS = 4e9;
const END_GRACE_NS = 1.5e9;

/** A subject's stream of one modality is replaced when it has been silent this long, ns. */
const SOURCE_SWITCH_NS = 2e9;

/**
 * Repetition counting per subject, driven by the activity events: while an activity is
 * announced that is repetitive (settings.ts), its samples go to a SetCounter; every counted
 * rep is emitted at once as a `rep` event, and a `set` summary when the activity ends or
 * changes or no rep came for `restS` (a rest between sets; the next rep opens a new set).
 * Activity starts are back-dated by the smoother, so the last `historyS` of samples are kept
 * and replayed into a new set from the activity's start — the reps before the announcement
 * are counted too (and published as soon as the activity is known).
 *
 * The recogniser can drop an activity for a moment in the middle of a set (A → B → A, or A
 * ends and starts again). A set is therefore suspended, not closed, when its activity ends or
 * changes: its counter keeps running and holds what it counts; if A resumes within 4 s, the
 * set continues (held reps are published, numbering goes on); it closes — summary published,
 * held reps dropped — when the rest time passes or another activity counts its first rep. Without this each flicker would restart the count and re-count the
 * back-dated samples.
 *
 * Time is the data's (sample times) for counting and rests; the injected clock only dates
 * publication (latency). One timer per suspended set (injected scheduler): a subject whose
 * data stops ends its activity through the smoother, and its set closes `restS` later.
 */
export class RepService {
  private readonly subjects = new Map<string, SubjectReps>();
  private readonly out = new Subject<RepsEvent>();
  private readonly restNs: number;
  private readonly historyNs: number;
  private manifest: Readonly<Record<string, RepActivityOverride>> = {};
  private seq = 0;
  readonly events$: Observable<RepsEvent> = this.out.asObservable();

  constructor(
    private readonly options: RepServiceOptions,
    private readonly deps: RepServiceDeps,
  ) {
    this.restNs = (options.restS ?? 10) * 1e9;
    this.historyNs = (options.historyS ?? 6) * 1e9;
  }

  /** Per-class settings carried by the model manifest (classes[].reps). */
  setManifestSettings(settings: Readonly<Record<string, RepActivityOverride>>): void {
    this.manifest = settings;
  }

  settingsFor(activity: string): RepActivitySettings {
    const settings = repSettingsFor(activity, this.options.activities, this.manifest);
    // Config is validated (config/validate.ts); a manifest's bad period range must not crash the gateway.
    return settings.minPeriodS < settings.maxPeriodS ? settings : { ...settings, repetitive: false };
  }

  /** Reps of the subject's current set (0 without one): the `reps` of its retained state. */
  count(subject: string): number {
    return this.subjects.get(subject)?.shown ?? 0;
  }

  private subject(id: string): SubjectReps {
    let s = this.subjects.get(id);
    if (!s) {
      s = {
        id,
        history: new SampleHistory(this.historyNs),
        imuSource: null,
        poseSource: null,
        lastImuNs: -Infinity,
        lastPoseNs: -Infinity,
        activity: null,
        set: null,
        suspended: null,
        sets: 0,
        shown: 0,
        lastRepNs: -Infinity,
      };
      this.subjects.set(id, s);
    }
    return s;
  }

  onActivity(event: ActivityEvent): void {
    const s = this.subject(event.subject);
    const atNs = event.transition === 'ended' ? (event.endNs ?? event.startNs) : event.startNs;
    if (s.set) {
      if (s.suspended) this.closeSet(s, s.suspended, atNs);
      const set = s.set;
      set.suspendedAtNs = atNs;
      s.suspended = set;
      s.set = null;
      const subject = s;
      set.timer = (this.deps.scheduler ?? asyncScheduler).schedule(() => {
        set.timer = null;
        if (subject.suspended === set) this.closeSet(subject, set, atNs);
      }, this.restNs / 1e6);
    }
    s.shown = 0;
    if (event.transition === 'ended') {
      s.activity = null;
      return;
    }
    const settings = this.settingsFor(event.activity);
    s.activity = { id: event.activity, settings };
    if (!settings.repetitive) return;
    const held = s.suspended;
    if (
      held &&
      held.activity === event.activity &&
      event.startNs - (held.suspendedAtNs ?? event.startNs) <= RESUME_WITHIN_NS
    ) {
      s.suspended = null;
      held.suspendedAtNs = null;
      held.timer?.unsubscribe();
      held.timer = null;
      s.set = held;
      const pending = held.pending;
      held.pending = [];
      for (const rep of pending) this.emitRep(s, held, rep);
      s.shown = held.counter.count;
      return;
    }
    const set = this.newSet(event.activity, settings);
    s.set = set;
    // Never before the subject's last published rep: that motion was counted already (A → B).
    const fromNs = Math.max(event.startNs - START_LEAD_NS, s.lastRepNs + 1);
    s.history.replay((modality, tNs, values, from, to) =>
      this.feed(s, set, modality, tNs, values, from, to, fromNs),
    );
  }

  private newSet(activity: string, settings: RepActivitySettings): OpenSet {
    return {
      activity,
      counter: new SetCounter(settings, this.options.params),
      number: 0,
      pending: [],
      suspendedAtNs: null,
      timer: null,
    };
  }

  push(chunk: SampleChunk): void {
    if (chunk.subjectId === undefined || chunk.clockDomain === 'device' || chunk.tNs.length === 0) return;
    const s = this.subject(chunk.subjectId);
    const lastNs = chunk.tNs[chunk.tNs.length - 1] as number;
    if (!this.usesSource(s, chunk, lastNs)) return;
    s.history.push(chunk);
    const held = s.suspended;
    if (held) {
      const quietSince = Math.max(held.counter.lastRepTimeNs, held.suspendedAtNs ?? -Infinity);
      if (lastNs - quietSince > this.restNs) this.closeSet(s, held, held.suspendedAtNs ?? lastNs);
      else this.feedChunk(s, held, chunk);
    }
    if (!s.activity?.settings.repetitive) return;
    if (s.set && s.set.number > 0 && lastNs - s.set.counter.lastRepTimeNs > this.restNs) {
      this.closeSet(s, s.set, s.set.counter.lastRepTimeNs);
    }
    s.set ??= this.newSet(s.activity.id, s.activity.settings);
    this.feedChunk(s, s.set, chunk);
  }

  /** One stream per modality and subject: the first seen, replaced when it falls silent. */
  private usesSource(s: SubjectReps, chunk: SampleChunk, lastNs: TimeNs): boolean {
    if (chunk.modality === 'imu') {
      if (s.imuSource !== chunk.sourceId && s.imuSource !== null && lastNs - s.lastImuNs < SOURCE_SWITCH_NS)
        return false;
      s.imuSource = chunk.sourceId;
      s.lastImuNs = lastNs;
    } else {
      if (
        s.poseSource !== chunk.sourceId &&
        s.poseSource !== null &&
        lastNs - s.lastPoseNs < SOURCE_SWITCH_NS
      )
        return false;
      s.poseSource = chunk.sourceId;
      s.lastPoseNs = lastNs;
    }
    return true;
  }

  private feedChunk(s: SubjectReps, set: OpenSet, chunk: SampleChunk): void {
    this.feed(s, set, chunk.modality, chunk.tNs, chunk.values, 0, chunk.tNs.length, -Infinity);
  }

  /** Samples `from` … `to` (exclusive) of the arrays, those before `fromNs` skipped. */
  private feed(
    s: SubjectReps,
    set: OpenSet,
    modality: Modality,
    tNs: Float64Array,
    values: Float32Array,
    from: number,
    to: number,
    fromNs: TimeNs,
  ): void {
    let a = from;
    while (a < to && (tNs[a] as number) < fromNs) a++;
    if (a === to) return;
    const reps =
      modality === 'imu' ? set.counter.pushImu(tNs, values, a, to) : set.counter.pushPose(tNs, values, a, to);
    for (const rep of reps) {
      // A rep just after the end still belongs to the set, unless another activity is counting.
      const held =
        set.suspendedAtNs !== null && (s.set !== null || rep.tNs > set.suspendedAtNs + END_GRACE_NS);
      if (held) set.pending.push(rep);
      else this.emitRep(s, set, rep);
    }
  }

  private emitRep(s: SubjectReps, set: OpenSet, rep: CountedRep): void {
    if (set.number === 0) {
      set.number = ++s.sets;
      // Another activity really is being repeated: the interrupted set is over.
      if (s.suspended && s.suspended !== set) this.closeSet(s, s.suspended, rep.tNs);
    }
    s.shown = rep.rep;
    s.lastRepNs = Math.max(s.lastRepNs, rep.tNs);
    this.out.next({
      v: PAYLOAD_VERSION,
      gateway: this.options.gateway,
      subject: s.id,
      kind: 'rep',
      activity: set.activity,
      set: set.number,
      count: rep.rep,
      time: nsToIso(rep.tNs),
      timeNs: rep.tNs,
      modality: rep.modality,
      confidence: rep.confidence,
      latencyMs: (this.deps.clock.nowNs() - rep.tNs) / 1e6,
      seq: this.nextSeq(),
    });
  }

  /** Emits the summary of `set` (if it published anything) and forgets it. */
  private closeSet(s: SubjectReps, set: OpenSet, endNs: TimeNs): void {
    if (s.set === set) s.set = null;
    if (s.suspended === set) s.suspended = null;
    set.timer?.unsubscribe();
    set.timer = null;
    if (set.number === 0) return;
    // Only what was published: reps held while suspended were never announced.
    const reps = set.counter.counted.slice(0, set.counter.count - set.pending.length);
    const first = reps[0] as CountedRep;
    const last = reps[reps.length - 1] as CountedRep;
    const meanRepS = reps.length > 1 ? (last.tNs - first.tNs) / 1e9 / (reps.length - 1) : null;
    const oneRepS = meanRepS ?? (Number.isFinite(first.periodS) ? first.periodS : 0);
    const startNs = first.tNs - oneRepS * 1e9;
    const imuReps = reps.filter((r) => r.modality === 'imu').length;
    this.out.next({
      v: PAYLOAD_VERSION,
      gateway: this.options.gateway,
      subject: s.id,
      kind: 'set',
      activity: set.activity,
      set: set.number,
      count: reps.length,
      time: nsToIso(Math.max(endNs, last.tNs)),
      timeNs: Math.max(endNs, last.tNs),
      modality: imuReps * 2 >= reps.length ? 'imu' : 'pose',
      confidence: reps.reduce((sum, r) => sum + r.confidence, 0) / reps.length,
      start: nsToIso(startNs),
      startNs,
      durationS: (last.tNs - startNs) / 1e9,
      meanRepS,
      seq: this.nextSeq(),
    });
  }

  private nextSeq(): number {
    return this.deps.nextSeq ? this.deps.nextSeq() : ++this.seq;
  }

  /** Ends every open set (their summaries are emitted) and completes `events$`. */
  complete(): void {
    for (const s of this.subjects.values()) {
      for (const set of [s.suspended, s.set]) if (set) this.closeSet(s, set, set.counter.lastRepTimeNs);
    }
    this.out.complete();
  }
}
