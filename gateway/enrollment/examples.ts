import { realTimers, type Timers } from '../clock/timers.ts';
import { Subject, type Observable, type Subscription } from 'rxjs';
import type { EncoderRunner } from '../domain/model.ts';
import type { SampleChunk } from '../domain/samples.ts';
import type { SensorWindow, WindowEmbedding } from '../domain/windows.ts';
import { GatewayError } from '../observability/errors.ts';
import { resampleToGrid } from '../pipeline/stages/resample.ts';
import { slidingWindows } from '../pipeline/stages/window.ts';
import type { Recording, RecordingLabel } from '../sources/replay/recording.ts';
import type { Example } from './prototypes.ts';

/*
 * Where enrollment examples come from: the live pipeline's window embeddings of one subject
 * ("the next N seconds of subject S are class C"), or a recording's labelled intervals run
 * through the same resampling, windowing and encoders as the live pipeline.
 */

export interface LiveRequest {
  readonly subject: string;
  readonly seconds: number;
  /**
   * Data time (gateway clock, ns) the interval starts at: windows starting earlier are not
   * used. null: at the start of the subject's first window after the request.
   */
  readonly fromNs: number | null;
  /** Wall-clock bound, ms: a subject whose windows stop arriving does not hold the request forever. */
  readonly timeoutMs: number;
}

/**
 * Collects the subject's window embeddings that lie inside [fromNs, fromNs + seconds]
 * (data time, so a replay at N× speed takes 1/N of the wall time). Resolves once every
 * stream that contributed has a window ending past the interval (one hop after it), or at
 * the timeout with what arrived.
 */
export function collectLive(
  embeddings$: Observable<WindowEmbedding>,
  request: LiveRequest,
  /** The timeout runs on these (wall time: a stalled source must not hold enrollment up). */
  timers: Timers = realTimers,
): Promise<Example[]> {
  let fromNs = request.fromNs;
  let endNs = fromNs === null ? Infinity : fromNs + request.seconds * 1e9;
  return new Promise((resolve) => {
    const examples: Example[] = [];
    /** Streams that delivered windows inside the interval and may deliver more. */
    const pending = new Set<string>();
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      timers.clearTimeout(timer);
      sub.unsubscribe();
      resolve(examples);
    };
    const timer = timers.setTimeout(finish, request.timeoutMs, true);
    const sub: Subscription = embeddings$.subscribe((e) => {
      const w = e.window;
      if (w.subjectId !== request.subject) return;
      if (fromNs === null) {
        fromNs = w.startNs;
        endNs = fromNs + request.seconds * 1e9;
      }
      if (w.startNs < fromNs) return;
      if (w.endNs <= endNs) {
        examples.push({ modality: w.modality, vector: e.vector });
        pending.add(w.sourceId);
      } else {
        // A stream's windows come in time order: once one ends past the interval, that stream
        // has nothing more to give. Done when every stream that gave examples is past it.
        pending.delete(w.sourceId);
        if (pending.size === 0) finish();
      }
    });
  });
}

/** A labelled interval of a recording, on the recording's time base (ns since its start). */
export type Interval = RecordingLabel;

function fixedClock(ns: number) {
  return { nowNs: () => ns };
}

/** Windows of every stream of the subject inside the interval, for each encoder's modality. */
function intervalWindows(
  recording: Recording,
  interval: Interval,
  encoders: readonly EncoderRunner[],
): SensorWindow[] {
  const windows: SensorWindow[] = [];
  const firstOfModality = encoders.filter(
    (e, i, all) => all.findIndex((o) => o.modality === e.modality) === i,
  );
  for (const encoder of firstOfModality) {
    const input = new Subject<SampleChunk>();
    const sub = input
      .pipe(
        resampleToGrid({ rateHz: encoder.sampleRateHz }),
        slidingWindows(encoder, { clock: fixedClock(recording.startTimeNs + interval.endNs) }),
      )
      .subscribe((w) => {
        if (w.startNs >= interval.startNs && w.endNs <= interval.endNs) windows.push(w);
      });
    for (const stream of recording.streams) {
      if (stream.modality !== encoder.modality || stream.subjectId !== interval.subject) continue;
      const { tNs, values } = stream.data;
      let from = 0;
      while (from < tNs.length && tNs[from]! < interval.startNs) from++;
      let to = from;
      while (to < tNs.length && tNs[to]! < interval.endNs) to++;
      if (to === from) continue;
      const per = values.length / tNs.length;
      const common = {
        sourceId: stream.sourceId,
        subjectId: interval.subject,
        tNs: tNs.slice(from, to),
        values: values.slice(from * per, to * per),
      };
      input.next(
        stream.modality === 'imu' ? { modality: 'imu', ...common } : { modality: 'pose', ...common },
      );
    }
    input.complete();
    sub.unsubscribe();
  }
  return windows;
}

/** Runs windows through their encoders in batches; returns one example per window, with it. */
export async function embedWindows(
  windows: readonly SensorWindow[],
  encoders: readonly EncoderRunner[],
  maxBatch = 32,
): Promise<(Example & { readonly window: SensorWindow })[]> {
  const examples: (Example & { readonly window: SensorWindow })[] = [];
  for (const encoder of encoders) {
    const mine = windows.filter((w) => w.encoder === encoder.name);
    for (let i = 0; i < mine.length; i += maxBatch) {
      const batch = mine.slice(i, i + maxBatch);
      const input = new Float32Array(batch.length * encoder.inputSize);
      batch.forEach((w, j) => input.set(w.input, j * encoder.inputSize));
      const out = await encoder.run(input, batch.length);
      batch.forEach((w, j) =>
        examples.push({
          window: w,
          modality: w.modality,
          vector: out.slice(j * encoder.embeddingDim, (j + 1) * encoder.embeddingDim),
        }),
      );
    }
  }
  return examples;
}

/**
 * Examples of each interval, in interval order (ENROLL_EMPTY_INTERVAL names an interval with
 * no window at all).
 */
export async function recordingExamples(
  recording: Recording,
  intervals: readonly Interval[],
  encoders: readonly EncoderRunner[],
): Promise<Example[][]> {
  const windows: SensorWindow[] = [];
  const owner = new Map<SensorWindow, number>();
  for (const interval of intervals) {
    if (!recording.subjects.some((s) => s.id === interval.subject)) {
      throw new GatewayError(
        'ENROLL_UNKNOWN_SUBJECT',
        `recording ${recording.dir} has no subject '${interval.subject}' (subjects: ${recording.subjects.map((s) => s.id).join(', ')})`,
        { details: { subject: interval.subject } },
      );
    }
    const found = intervalWindows(recording, interval, encoders);
    if (found.length === 0) {
      throw new GatewayError(
        'ENROLL_EMPTY_INTERVAL',
        `no complete window of subject '${interval.subject}' between ${interval.startNs / 1e9} s and ${interval.endNs / 1e9} s of ${recording.dir} (an interval must be at least one window long and have samples)`,
        { details: { ...interval } },
      );
    }
    for (const w of found) owner.set(w, intervals.indexOf(interval));
    windows.push(...found);
  }
  const embedded = await embedWindows(windows, encoders);
  const perInterval: Example[][] = intervals.map(() => []);
  embedded.forEach((e) => perInterval[owner.get(e.window)!]!.push(e));
  return perInterval;
}
