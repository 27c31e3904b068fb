// Long file: the per-subject smoothing state machine (decision rule, events, states, idle end, handover release) shares one closure of subject state; its pure pieces already live in decide.ts and class-scores.ts.
import {
  Observable,
  asyncScheduler,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import {
  PAYLOAD_VERSION,
  UNKNOWN_ACTIVITY,
  type ActivityEvent,
  type ActivityTransition,
  type SubjectScores,
  type SubjectState,
} from '../../domain/events.ts';
import type { LoadedModel } from '../../domain/model.ts';
import type { Modality } from '../../domain/samples.ts';
import { nsToIso, type Clock } from '../../domain/time.ts';
import { argmax, topClassScores } from '../class-scores.ts';
import type { PipelineMetrics } from '../metrics.ts';
import {
  createHopDecider,
  DEFAULT_DECISION_RULE,
  type DecisionRule,
  type HopDecider,
  type HopVerdict,
} from './decide.ts';

export interface SmoothingOptions {
  /** Gateway id written into every payload. */
  readonly gateway: string;
  /** Weight of the newest hop in the exponential moving average of probabilities (0..1]. */
  readonly emaAlpha?: number;
  /** Smoothed probability a class needs to start (or take over) an activity. */
  readonly enterThreshold?: number;
  /** Below this smoothed probability the current activity is on its way out. */
  readonly exitThreshold?: number;
  /** A start, change or end must hold this long (data time) before it is emitted, s. */
  readonly minDwellS?: number;
  readonly topK?: number;
  /** Each subject's state is re-emitted at least this often, s (and on every change). */
  readonly stateIntervalS?: number;
  /** A subject without scores for this long (gateway clock) ends its activity and is forgotten, s. */
  readonly idleEndS?: number;
  /** Period of the housekeeping tick (periodic state, idle end), ms. */
  readonly tickMs?: number;
  /**
   * Which rule decides each hop's activity (decide.ts): `hysteresis` is the EMA, thresholds and
   * dwell above; the others decide every hop and an activity changes whenever the decision does.
   * Default: the rule the trainer measured best on the stream (DEFAULT_DECISION_RULE).
   */
  readonly decision?: DecisionRule;
}

export interface SmoothingDeps {
  readonly clock: Clock;
  readonly scheduler?: SchedulerLike;
  readonly metrics?: PipelineMetrics;
  /** Source of the per-gateway event sequence number; default counts from 1. */
  readonly nextSeq?: () => number;
  /**
   * Subjects to end and forget now, as if idle: another gateway has taken them over (fleet
   * handover), so this one must not keep an activity running for them.
   */
  readonly release$?: Observable<string>;
}

export type ActivityOutput =
  | { readonly kind: 'event'; readonly event: ActivityEvent }
  | { readonly kind: 'state'; readonly state: SubjectState };

type SmoothingModel = Pick<LoadedModel, 'name' | 'version' | 'classes' | 'openSetThresholds'>;

/**
 * With open-set thresholds, `unknown` is smoothed like one more class after the model's: a hop
 * below its threshold puts all of its mass on `unknown`, any other hop none, so `unknown`
 * starts, takes over and ends with the same hysteresis and dwell as a class.
 */
function smoothingClasses(model: SmoothingModel): LoadedModel['classes'] {
  return model.openSetThresholds
    ? [
        ...model.classes,
        { id: UNKNOWN_ACTIVITY, name: 'Unknown', description: 'No class is close enough (open set).' },
      ]
    : model.classes;
}

/** The hop's probabilities over `classes` (the model's, plus `unknown` with an open set). */
function hopProbabilities(scores: SubjectScores, classCount: number): ArrayLike<number> {
  const p = scores.probabilities;
  if (classCount === p.length) return p;
  const out = new Float32Array(classCount);
  if (scores.openSet?.unknown) out[classCount - 1] = 1;
  else out.set(p.subarray(0, classCount - 1));
  return out;
}

interface Pending {
  readonly cls: number;
  /** Data time (window end) at which the condition first held. */
  readonly sinceNs: number;
  /** Time the change is dated to: centre of that first window. */
  readonly atNs: number;
}

interface SubjectSmoothing {
  readonly id: string;
  ema: Float32Array | null;
  current: { cls: number; startNs: number } | null;
  candidate: Pending | null;
  exit: Pending | null;
  modalities: readonly Modality[];
  sources: readonly string[];
  /** The latest hop's open-set decision (models with thresholds). */
  openSet: SubjectScores['openSet'];
  lastEndNs: number;
  lastLatencyMs: number;
  lastReceivedNs: number;
  nextStateAtNs: number;
  /** The decision rule's state (null: hysteresis) and the windows of the hops it has not decided yet. */
  decider: HopDecider | null;
  hops: { startNs: number; endNs: number }[];
}

/**
 * Turns per-hop fused probabilities into activity events with hysteresis, per subject:
 * an exponential moving average of the probabilities; a class starts when its average
 * reaches `enterThreshold`, another class takes over when it reaches `enterThreshold` as
 * the top class, and the current one ends when it falls below `exitThreshold` — each only
 * after the condition held for `minDwellS` of data time, so a probability hovering around a
 * threshold does not flicker. Emits events (started / changed / ended) and the subject's
 * state (on every change and every `stateIntervalS`). A subject whose scores stop for
 * `idleEndS` ends its activity; on completion every subject ends and emits a final state.
 */
export function smoothActivity(
  model: SmoothingModel,
  options: SmoothingOptions,
  deps: SmoothingDeps,
): OperatorFunction<SubjectScores, ActivityOutput> {
  const alpha = options.emaAlpha ?? 0.5;
  const enter = options.enterThreshold ?? 0.5;
  const exit = options.exitThreshold ?? 0.35;
  const dwellNs = (options.minDwellS ?? 1) * 1e9;
  const k = options.topK ?? 3;
  const stateIntervalNs = (options.stateIntervalS ?? 10) * 1e9;
  const idleEndNs = (options.idleEndS ?? 3) * 1e9;
  const tickMs = options.tickMs ?? 250;
  const scheduler = deps.scheduler ?? asyncScheduler;
  const { clock, metrics } = deps;
  let seq = 0;
  const nextSeq = deps.nextSeq ?? (() => ++seq);
  const classes = smoothingClasses(model);
  const rule = options.decision ?? DEFAULT_DECISION_RULE;
  createHopDecider(rule); // validates the rule now, not on the first hop
  if (!(exit <= enter))
    throw new RangeError(`exitThreshold (${exit}) must not exceed enterThreshold (${enter})`);

  return (source) =>
    new Observable<ActivityOutput>((subscriber) => {
      const subjects = new Map<string, SubjectSmoothing>();
      let tick: Subscription | null = null;

      const emitEvent = (
        s: SubjectSmoothing,
        transition: ActivityTransition,
        cls: number,
        startNs: number,
        extra: { endNs?: number; previous?: string },
      ): void => {
        const cl = classes[cls];
        if (!cl || !s.ema) return;
        const now = clock.nowNs();
        const event: ActivityEvent = {
          v: PAYLOAD_VERSION,
          gateway: options.gateway,
          subject: s.id,
          transition,
          activity: cl.id,
          activityName: cl.name,
          confidence: s.ema[cls] as number,
          topK: topClassScores(s.ema, classes, k),
          start: nsToIso(startNs),
          startNs,
          ...(extra.endNs === undefined ? {} : { end: nsToIso(extra.endNs), endNs: extra.endNs }),
          ...(extra.previous === undefined ? {} : { previous: extra.previous }),
          model: model.name,
          modelVersion: model.version,
          latencyMs: s.lastLatencyMs + (now - s.lastReceivedNs) / 1e6,
          seq: nextSeq(),
          modalities: s.modalities,
          sources: s.sources,
          ...(s.openSet
            ? {
                openSet: {
                  candidate: classes[s.openSet.best]?.id ?? String(s.openSet.best),
                  // float32 rounding may put a perfect match a hair above 1
                  score: Math.max(-1, Math.min(1, s.openSet.score)),
                  threshold: s.openSet.threshold,
                },
              }
            : {}),
        };
        metrics?.events.inc({ transition });
        subscriber.next({ kind: 'event', event });
      };

      const emitState = (s: SubjectSmoothing): void => {
        const now = clock.nowNs();
        s.nextStateAtNs = now + stateIntervalNs;
        const cl = s.current ? classes[s.current.cls] : undefined;
        subscriber.next({
          kind: 'state',
          state: {
            v: PAYLOAD_VERSION,
            gateway: options.gateway,
            subject: s.id,
            activity: cl?.id ?? null,
            activityName: cl?.name ?? null,
            confidence: s.current && s.ema ? (s.ema[s.current.cls] as number) : 0,
            since: s.current ? nsToIso(s.current.startNs) : null,
            reps: 0,
            updated: nsToIso(now),
            modalities: s.modalities,
            sources: s.sources,
          },
        });
      };

      const end = (s: SubjectSmoothing, endNs: number): void => {
        if (!s.current) return;
        emitEvent(s, 'ended', s.current.cls, s.current.startNs, { endNs });
        s.current = null;
        s.candidate = null;
        s.exit = null;
      };

      /** Remembers when `cls` first met its condition; true once it has held for the dwell time. */
      const dwelt = (prev: Pending | null, cls: number, scores: SubjectScores): [Pending, boolean] => {
        const p =
          prev && prev.cls === cls
            ? prev
            : { cls, sinceNs: scores.endNs, atNs: (scores.startNs + scores.endNs) / 2 };
        return [p, scores.endNs - p.sinceNs >= dwellNs];
      };

      /** A decided hop's class becomes the activity, dated to the centre of that hop's window. */
      const apply = (s: SubjectSmoothing, verdicts: readonly HopVerdict[]): boolean => {
        let changed = false;
        for (const v of verdicts) {
          const hop = s.hops[s.hops.length - 1 - v.hopsAgo];
          if (!hop) continue;
          const atNs = (hop.startNs + hop.endNs) / 2;
          if (!s.current) {
            s.current = { cls: v.cls, startNs: atNs };
            emitEvent(s, 'started', v.cls, atNs, {});
            changed = true;
          } else if (v.cls !== s.current.cls) {
            const previous = classes[s.current.cls]?.id;
            s.current = { cls: v.cls, startNs: atNs };
            emitEvent(s, 'changed', v.cls, atNs, {
              endNs: atNs,
              ...(previous === undefined ? {} : { previous }),
            });
            changed = true;
          }
        }
        return changed;
      };

      /** The stream of `s` ends: hops still waiting for look-ahead are decided on what there is. */
      const flush = (s: SubjectSmoothing): void => {
        if (s.decider) apply(s, s.decider.flush());
      };

      const step = (s: SubjectSmoothing, scores: SubjectScores): boolean => {
        const p = hopProbabilities(scores, classes.length);
        if (!s.ema) s.ema = Float32Array.from(p);
        else
          for (let i = 0; i < p.length; i++)
            s.ema[i] = alpha * (p[i] as number) + (1 - alpha) * (s.ema[i] as number);
        if (s.decider) {
          s.hops.push({ startNs: scores.startNs, endNs: scores.endNs });
          if (s.hops.length > s.decider.lagHops + 1) s.hops.shift();
          return apply(s, s.decider.push(p));
        }
        const ema = s.ema;
        const top = argmax(ema);
        const topP = ema[top] as number;
        if (!s.current) {
          if (topP < enter) {
            s.candidate = null;
            return false;
          }
          const [cand, ok] = dwelt(s.candidate, top, scores);
          s.candidate = cand;
          if (!ok) return false;
          s.current = { cls: top, startNs: cand.atNs };
          s.candidate = null;
          emitEvent(s, 'started', top, cand.atNs, {});
          return true;
        }
        const cur = s.current;
        if (top !== cur.cls && topP >= enter) {
          const [cand, ok] = dwelt(s.candidate, top, scores);
          s.candidate = cand;
          if (!ok) return false;
          const previous = classes[cur.cls]?.id;
          s.current = { cls: top, startNs: cand.atNs };
          s.candidate = null;
          s.exit = null;
          emitEvent(s, 'changed', top, cand.atNs, {
            endNs: cand.atNs,
            ...(previous === undefined ? {} : { previous }),
          });
          return true;
        }
        s.candidate = null;
        if ((ema[cur.cls] as number) >= exit) {
          s.exit = null;
          return false;
        }
        const [ex, ok] = dwelt(s.exit, cur.cls, scores);
        s.exit = ex;
        if (!ok) return false;
        end(s, ex.atNs);
        return true;
      };

      /** Ends the subject's activity, publishes it absent and drops it (idle, or handed over). */
      const forget = (s: SubjectSmoothing): void => {
        flush(s);
        end(s, s.lastEndNs);
        s.modalities = [];
        s.sources = [];
        emitState(s);
        subjects.delete(s.id);
      };

      const onTick = (): void => {
        tick = null;
        const now = clock.nowNs();
        for (const s of subjects.values()) {
          if (now - s.lastReceivedNs >= idleEndNs) forget(s);
          else if (now >= s.nextStateAtNs) {
            emitState(s);
          }
        }
        armTick();
      };

      const armTick = (): void => {
        if (tick === null && subjects.size > 0) tick = scheduler.schedule(onTick, tickMs);
      };

      const subscription = source.subscribe({
        next(scores) {
          const now = clock.nowNs();
          let s = subjects.get(scores.subjectId);
          const fresh = !s;
          if (!s) {
            s = {
              id: scores.subjectId,
              ema: null,
              current: null,
              candidate: null,
              exit: null,
              modalities: scores.modalities,
              sources: scores.sources,
              openSet: scores.openSet,
              lastEndNs: scores.endNs,
              lastLatencyMs: scores.latencyMs,
              lastReceivedNs: now,
              nextStateAtNs: now,
              decider: createHopDecider(rule),
              hops: [],
            };
            subjects.set(s.id, s);
          }
          const presenceChanged =
            s.modalities.join() !== scores.modalities.join() || s.sources.join() !== scores.sources.join();
          s.modalities = scores.modalities;
          s.sources = scores.sources;
          s.openSet = scores.openSet;
          s.lastEndNs = scores.endNs;
          s.lastLatencyMs = scores.latencyMs;
          s.lastReceivedNs = now;
          const changed = step(s, scores);
          if (fresh || changed || presenceChanged) emitState(s);
          armTick();
        },
        error: (err) => subscriber.error(err),
        complete() {
          tick?.unsubscribe();
          tick = null;
          for (const s of subjects.values()) {
            flush(s);
            end(s, s.lastEndNs);
            emitState(s);
          }
          subjects.clear();
          subscriber.complete();
        },
      });

      const released = deps.release$?.subscribe((id) => {
        const s = subjects.get(id);
        if (s) forget(s);
      });

      return () => {
        subscription.unsubscribe();
        released?.unsubscribe();
        tick?.unsubscribe();
      };
    });
}
