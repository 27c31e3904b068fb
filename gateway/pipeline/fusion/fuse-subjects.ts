import {
  Observable,
  asyncScheduler,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import type { SubjectScores } from '../../domain/events.ts';
import type { Modality } from '../../domain/samples.ts';
import type { Clock } from '../../domain/time.ts';
import type { WindowEmbedding } from '../../domain/windows.ts';
import { samplesToNs, slotKey } from '../grid.ts';
import { ALIGNED_HOPS, type HopPhase } from '../hop-phase.ts';
import { countDrop, type PipelineMetrics } from '../metrics.ts';
import type { WindowSpec } from '../stages/window.ts';
import type { LoadedModel } from '../../domain/model.ts';
import { scoreWindows } from '../../model/fusion.ts';

/** What the 'mean-logits' rule and slot timing need of a model. */
export type FusionModel = Pick<
  LoadedModel,
  'embeddingDim' | 'temperature' | 'prototypes' | 'modalityPrototypes' | 'openSetThresholds'
> & {
  readonly encoders: readonly WindowSpec[];
};

export interface FusionOptions {
  /**
   * A source that delivered no window for this many hops is no longer waited for: it drops
   * out of fusion (and returns with its next window).
   */
  readonly staleAfterHops?: number;
  /** Longest a hop slot waits for missing sources, ns of gateway-clock time (default: one hop). */
  readonly deadlineNs?: number;
  /** Open slots per subject; beyond this the oldest is fused early with what it has. */
  readonly maxPendingSlots?: number;
  /** Where each subject's hops fall; the windowing stage must use the same (default: aligned). */
  readonly hopPhase?: HopPhase;
}

export interface FusionDeps {
  readonly clock: Clock;
  readonly scheduler?: SchedulerLike;
  readonly metrics?: PipelineMetrics;
}

export const FUSION_EDGE = 'fusion';

interface Track {
  readonly modality: Modality;
  readonly hopNs: number;
  lastEndNs: number;
}

interface Slot {
  readonly key: number;
  readonly endNs: number;
  startNs: number;
  maxClosedAtNs: number;
  readonly members: Member[];
  fused: boolean;
}

/**
 * What a slot keeps of a window's embedding: not the embedding itself, whose window holds
 * its input (2.4 kB for IMU) for as long as the slot waits for the subject's other sources.
 */
interface Member {
  readonly modality: Modality;
  readonly sourceId: string;
  readonly vector: Float32Array;
}

interface SubjectFusion {
  readonly id: string;
  /** This subject's hop phase, ns: its windows end at m · hop + phaseNs. */
  readonly phaseNs: number;
  readonly tracks: Map<string, Track>;
  /** Open slots, ascending by end time. */
  readonly slots: Slot[];
  lastFusedKey: number;
}

interface Deadline {
  readonly subject: SubjectFusion;
  readonly slot: Slot;
  readonly dueNs: number;
}

/** Window ends closer than this (ns) are the same instant. */
const TOLERANCE_NS = 1e3;
/** Tracks silent this many hops are forgotten (memory), not just left out. */
const FORGET_AFTER_HOPS = 20;

/**
 * Groups each subject's window embeddings by window end (the hop slot) and fuses whatever
 * is present with the 'mean-logits' rule. A slot is decided as soon as every source active
 * for the subject has delivered its window for that instant (or moved past it), or when
 * its deadline passes. A source is active while its newest window is at most
 * `staleAfterHops` hops older than the slot, so a source that goes silent is waited for
 * once (≤ one deadline) and then left out; it is back as soon as its next window arrives.
 * Slots of one subject are decided in time order; a window arriving for an
 * already-decided slot is dropped (policy drop-late, counted).
 */
export function fuseSubjects(
  model: FusionModel,
  options: FusionOptions,
  deps: FusionDeps,
): OperatorFunction<WindowEmbedding, SubjectScores> {
  const hopNsByEncoder = new Map(
    model.encoders.map((e) => [e.name, samplesToNs(e.hopSamples, e.sampleRateHz)]),
  );
  const maxHopNs = Math.max(...hopNsByEncoder.values());
  // Same default as the config schema (pipeline.staleAfterHops), for callers without a config.
  const staleAfterHops = options.staleAfterHops ?? 2;
  const deadlineNs = options.deadlineNs ?? maxHopNs;
  const maxPending = options.maxPendingSlots ?? 8;
  const hopPhase = options.hopPhase ?? ALIGNED_HOPS;
  const scheduler = deps.scheduler ?? asyncScheduler;
  const { clock, metrics } = deps;

  return (source) =>
    new Observable<SubjectScores>((subscriber) => {
      const subjects = new Map<string, SubjectFusion>();
      // Deadlines are all `deadlineNs` after creation, so creation order is due order: a FIFO
      // with one timer armed for its head replaces a timer per slot.
      let deadlines: Deadline[] = [];
      let head = 0;
      let timer: Subscription | null = null;

      const isComplete = (subject: SubjectFusion, slot: Slot): boolean => {
        for (const track of subject.tracks.values()) {
          if (track.lastEndNs >= slot.endNs - TOLERANCE_NS) continue; // delivered, or moved past
          if (track.lastEndNs < slot.endNs - staleAfterHops * track.hopNs - TOLERANCE_NS) continue; // silent
          const hops = (slot.endNs - subject.phaseNs) / track.hopNs;
          if (Math.abs(hops - Math.round(hops)) * track.hopNs > TOLERANCE_NS) continue; // no window ends here
          return false;
        }
        return true;
      };

      const fuse = (subject: SubjectFusion, slot: Slot): void => {
        slot.fused = true;
        subject.lastFusedKey = slot.key;
        const scored = scoreWindows(model, slot.members);
        const modalities = [...new Set(slot.members.map((m) => m.modality))].sort();
        const sources = [...new Set(slot.members.map((m) => m.sourceId))].sort();
        metrics?.scores.inc({ modalities: modalities.join('+') });
        for (const [id, track] of subject.tracks) {
          if (track.lastEndNs < slot.endNs - FORGET_AFTER_HOPS * track.hopNs) subject.tracks.delete(id);
        }
        subscriber.next({
          subjectId: subject.id,
          startNs: slot.startNs,
          endNs: slot.endNs,
          probabilities: Float32Array.from(scored.probabilities),
          latencyMs: (clock.nowNs() - slot.maxClosedAtNs) / 1e6,
          modalities,
          sources,
          ...(model.openSetThresholds
            ? {
                openSet: {
                  best: scored.best,
                  score: scored.score,
                  threshold: scored.threshold,
                  unknown: scored.unknown,
                },
              }
            : {}),
        });
      };

      /** Decides complete slots from the oldest on; stops at the first incomplete one. */
      const release = (subject: SubjectFusion): void => {
        while (subject.slots.length > 0 && isComplete(subject, subject.slots[0] as Slot)) {
          fuse(subject, subject.slots.shift() as Slot);
        }
      };

      /** Decides every open slot of `subject` up to and including `slot`, then what became complete. */
      const forceUpTo = (subject: SubjectFusion, slot: Slot): void => {
        while (subject.slots.length > 0 && (subject.slots[0] as Slot).key <= slot.key) {
          fuse(subject, subject.slots.shift() as Slot);
        }
        release(subject);
      };

      const arm = (): void => {
        if (timer !== null || head >= deadlines.length) return;
        const delayMs = Math.max(0, ((deadlines[head] as Deadline).dueNs - clock.nowNs()) / 1e6);
        timer = scheduler.schedule(onTimer, delayMs);
      };

      const onTimer = (): void => {
        timer = null;
        // Timers may fire a little early by the clock's rounding; a millisecond of slack.
        const now = clock.nowNs() + 1e6;
        while (head < deadlines.length && (deadlines[head] as Deadline).dueNs <= now) {
          const { subject, slot } = deadlines[head] as Deadline;
          head++;
          if (!slot.fused) forceUpTo(subject, slot);
        }
        if (head > 1024 && head * 2 > deadlines.length) {
          deadlines = deadlines.slice(head);
          head = 0;
        }
        arm();
      };

      const subscription = source.subscribe({
        next(embedding) {
          const w = embedding.window;
          let subject = subjects.get(w.subjectId);
          if (!subject) {
            subject = {
              id: w.subjectId,
              phaseNs: hopPhase(w.subjectId),
              tracks: new Map(),
              slots: [],
              lastFusedKey: -Infinity,
            };
            subjects.set(w.subjectId, subject);
          }
          let track = subject.tracks.get(w.sourceId);
          if (!track) {
            track = {
              modality: w.modality,
              hopNs: hopNsByEncoder.get(w.encoder) ?? maxHopNs,
              lastEndNs: w.endNs,
            };
            subject.tracks.set(w.sourceId, track);
          } else if (w.endNs > track.lastEndNs) {
            track.lastEndNs = w.endNs;
          }
          const key = slotKey(w.endNs);
          if (key <= subject.lastFusedKey) {
            countDrop(metrics, FUSION_EDGE, 'drop-late', 'slot-already-fused');
            release(subject);
            return;
          }
          const { slots } = subject;
          let i = slots.length;
          while (i > 0 && (slots[i - 1] as Slot).key > key) i--;
          let slot = i > 0 && (slots[i - 1] as Slot).key === key ? (slots[i - 1] as Slot) : undefined;
          if (!slot) {
            slot = {
              key,
              endNs: w.endNs,
              startNs: w.startNs,
              maxClosedAtNs: w.closedAtNs,
              members: [],
              fused: false,
            };
            slots.splice(i, 0, slot);
            deadlines.push({ subject, slot, dueNs: clock.nowNs() + deadlineNs });
            arm();
          }
          slot.members.push({ modality: w.modality, sourceId: w.sourceId, vector: embedding.vector });
          if (w.startNs < slot.startNs) slot.startNs = w.startNs;
          if (w.closedAtNs > slot.maxClosedAtNs) slot.maxClosedAtNs = w.closedAtNs;
          while (slots.length > maxPending) fuse(subject, slots.shift() as Slot);
          release(subject);
        },
        error: (err) => subscriber.error(err),
        complete() {
          timer?.unsubscribe();
          timer = null;
          for (const subject of subjects.values()) {
            while (subject.slots.length > 0) fuse(subject, subject.slots.shift() as Slot);
          }
          subscriber.complete();
        },
      });

      return () => {
        subscription.unsubscribe();
        timer?.unsubscribe();
      };
    });
}
