import type { ActivityEvent, RepsEvent, SubjectState } from '../domain/events.ts';

/*
 * What the live page needs to draw on (re)connect that the latest state does not tell: each
 * subject's last hour as a timeline (the activity and its confidence at every change and every
 * state update), and the subject's newest repetition or set. Fed from the same streams the
 * server sends over SSE; bounded in time, in points per subject and in subjects (the least
 * recently updated subject goes first, and is counted).
 */

/** `[time ms since epoch, activity id or null (idle), confidence 0..1]`. */
export type TimelinePoint = readonly [number, string | null, number];

export interface LiveHistorySnapshot {
  /** How far back the timeline reaches, ms. */
  readonly windowMs: number;
  /** Per subject, oldest first. */
  readonly timeline: Readonly<Record<string, readonly TimelinePoint[]>>;
  /** Per subject, the newest `rep` or `set` reps event. */
  readonly reps: Readonly<Record<string, RepsEvent>>;
  /** Display names of activities seen in events (the model's may have changed since). */
  readonly names: Readonly<Record<string, string>>;
  /** Points and subjects dropped by the count bounds (not by age) since start. */
  readonly trimmed: number;
}

export interface LiveHistoryOptions {
  readonly windowMs?: number;
  readonly maxPointsPerSubject?: number;
  readonly maxSubjects?: number;
  /**
   * Points over all subjects. The snapshot goes to every client on connect, and the SSE hub
   * drops a client with more than 1 MiB unsent: 10 000 points (~35 bytes each) stay well under.
   */
  readonly maxTotalPoints?: number;
}

const round2 = (v: number): number => Math.round(v * 100) / 100;

export class LiveHistory {
  private readonly timelines = new Map<string, TimelinePoint[]>();
  private readonly lastReps = new Map<string, RepsEvent>();
  private readonly names = new Map<string, string>();
  private readonly windowMs: number;
  private readonly maxPoints: number;
  private readonly maxSubjects: number;
  private readonly maxTotalPoints: number;
  private totalPoints = 0;
  private trimmed = 0;

  constructor(options: LiveHistoryOptions = {}) {
    this.windowMs = options.windowMs ?? 3_600_000;
    this.maxPoints = options.maxPointsPerSubject ?? 2000;
    this.maxSubjects = options.maxSubjects ?? 256;
    this.maxTotalPoints = options.maxTotalPoints ?? 10_000;
  }

  onActivity(e: ActivityEvent): void {
    this.names.set(e.activity, e.activityName);
    if (e.transition === 'ended') this.add(e.subject, [Date.parse(e.end ?? e.start), null, 0]);
    else this.add(e.subject, [Date.parse(e.start), e.activity, round2(e.confidence)]);
  }

  onState(s: SubjectState): void {
    if (s.activity !== null && s.activityName !== null) this.names.set(s.activity, s.activityName);
    this.add(s.subject, [Date.parse(s.updated), s.activity, s.activity === null ? 0 : round2(s.confidence)]);
  }

  onReps(r: RepsEvent): void {
    this.lastReps.delete(r.subject);
    this.lastReps.set(r.subject, r);
    while (this.lastReps.size > this.maxSubjects) {
      this.lastReps.delete(this.lastReps.keys().next().value as string);
      this.trimmed++;
    }
  }

  snapshot(): LiveHistorySnapshot {
    return {
      windowMs: this.windowMs,
      timeline: Object.fromEntries(this.timelines),
      reps: Object.fromEntries(this.lastReps),
      names: Object.fromEntries(this.names),
      trimmed: this.trimmed,
    };
  }

  private add(subject: string, point: TimelinePoint): void {
    if (!Number.isFinite(point[0])) return;
    let points = this.timelines.get(subject);
    if (points) this.timelines.delete(subject);
    else points = [];
    this.timelines.set(subject, points); // most recently updated last
    // Points arrive in time order per subject; one out of order (a late state) goes in its place.
    let at = points.length;
    while (at > 0 && (points[at - 1] as TimelinePoint)[0] > point[0]) at--;
    points.splice(at, 0, point);
    this.totalPoints++;
    // Keep one point older than the window: it says what was going on when the window starts.
    const cutoff = (points.at(-1) as TimelinePoint)[0] - this.windowMs;
    let old = 0;
    while (old + 1 < points.length && (points[old + 1] as TimelinePoint)[0] <= cutoff) old++;
    if (old > 0) {
      points.splice(0, old);
      this.totalPoints -= old;
    }
    if (points.length > this.maxPoints) {
      const over = points.length - this.maxPoints;
      points.splice(0, over);
      this.totalPoints -= over;
      this.trimmed += over;
    }
    while (this.timelines.size > this.maxSubjects) {
      const oldest = this.timelines.keys().next().value as string;
      this.totalPoints -= this.timelines.get(oldest)?.length ?? 0;
      this.timelines.delete(oldest);
      this.trimmed++;
    }
    // Over the total budget: the longest timeline gives up its oldest point.
    while (this.totalPoints > this.maxTotalPoints) {
      let longest: TimelinePoint[] | undefined;
      for (const p of this.timelines.values()) if (!longest || p.length > longest.length) longest = p;
      if (!longest || longest.length <= 1) break;
      longest.shift();
      this.totalPoints--;
      this.trimmed++;
    }
  }
}
