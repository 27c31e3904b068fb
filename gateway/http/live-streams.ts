import { asyncScheduler, timer, type Observable, type SchedulerLike } from 'rxjs';
import { filter, groupBy, map, mergeMap, throttleTime } from 'rxjs/operators';
import type { SubjectScores } from '../domain/events.ts';
import { POSE_VALUES_PER_FRAME, type SampleChunk } from '../domain/samples.ts';
import { nsToIso } from '../domain/time.ts';

/*
 * The high-rate streams the live page draws (skeleton, top-3), cut down to what a browser
 * needs: per subject at most one message per interval, always the newest (throttle with
 * leading and trailing edges, so the last pose before a pause is the one shown).
 */

/** SSE `pose`: the newest tracked pose of a subject's camera track. */
export interface PosePreview {
  readonly subject: string;
  /** `<camera>/<track>`. */
  readonly source: string;
  /** Frame time, ISO 8601 (gateway clock). */
  readonly time: string;
  /** COCO-17 × (x, y, score), normalised image coordinates, 3 decimals. */
  readonly keypoints: readonly number[];
}

/** SSE `scores`: a subject's three most probable classes at the newest hop (before smoothing). */
export interface LiveScores {
  readonly subject: string;
  /** End of the newest window, ISO 8601 (gateway clock). */
  readonly time: string;
  readonly top: readonly { readonly activity: string; readonly name: string; readonly confidence: number }[];
  readonly modalities: readonly string[];
}

/**
 * Each per-subject group lives this long; the subject's next value opens a new one. So a
 * subject that left holds no timer or subscription for longer, at the cost of one extra
 * leading emission a minute.
 */
const GROUP_IDLE_MS = 60_000;

/** At most one value per key per `intervalMs`: the first at once, then the newest. */
export function throttlePerKey<T>(
  keyOf: (value: T) => string,
  intervalMs: number,
  scheduler: SchedulerLike = asyncScheduler,
) {
  return (source: Observable<T>): Observable<T> =>
    source.pipe(
      groupBy(keyOf, { duration: () => timer(GROUP_IDLE_MS, scheduler) }),
      mergeMap((group) => group.pipe(throttleTime(intervalMs, scheduler, { leading: true, trailing: true }))),
    );
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/** The last frame of every pose chunk that belongs to a subject, throttled per subject. */
export function posePreviews(
  samples$: Observable<SampleChunk>,
  intervalMs: number,
  scheduler?: SchedulerLike,
): Observable<PosePreview> {
  return samples$.pipe(
    filter(
      (c): c is SampleChunk & { subjectId: string } =>
        c.modality === 'pose' && c.subjectId !== undefined && c.tNs.length > 0,
    ),
    throttlePerKey((c) => c.subjectId, intervalMs, scheduler),
    map((c) => {
      const last = c.tNs.length - 1;
      const frame = c.values.subarray(last * POSE_VALUES_PER_FRAME, (last + 1) * POSE_VALUES_PER_FRAME);
      return {
        subject: c.subjectId,
        source: c.sourceId,
        time: nsToIso(c.tNs[last] as number),
        keypoints: Array.from(frame, round3),
      };
    }),
  );
}

/** The top three classes of every hop, named by the model serving, throttled per subject. */
export function liveScores(
  scores$: Observable<SubjectScores>,
  classes: () => readonly { readonly id: string; readonly name: string }[],
  intervalMs: number,
  scheduler?: SchedulerLike,
): Observable<LiveScores> {
  return scores$.pipe(
    throttlePerKey((s) => s.subjectId, intervalMs, scheduler),
    map((s) => {
      const names = classes();
      const top = Array.from(s.probabilities, (p, i) => ({ i, p }))
        .sort((a, b) => b.p - a.p)
        .slice(0, 3)
        .map(({ i, p }) => ({
          activity: names[i]?.id ?? String(i),
          name: names[i]?.name ?? names[i]?.id ?? String(i),
          confidence: Math.round(p * 1000) / 1000,
        }));
      return { subject: s.subjectId, time: nsToIso(s.endNs), top, modalities: s.modalities };
    }),
  );
}
