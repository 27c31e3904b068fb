import {
  AsyncSubject,
  Subject,
  asyncScheduler,
  type Observable,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import { valuesPerSample, type Modality, type SampleChunk } from '../../domain/samples.ts';
import { NS_PER_MS, type TimeNs } from '../../domain/time.ts';
import { GatewayError } from '../../observability/errors.ts';
import { loadRecording, type Recording, type RecordingDevice, type RecordingStream } from './recording.ts';

/**
 * Plays a recording as live sample streams.
 *
 * Time base: a sample recorded at `t_ns` is stamped `originNs + loop·spanNs + t_ns`, where
 * `originNs` is the gateway clock when playback started. At `speed` 1 this is exactly when
 * the sample is emitted. At another speed only the *emission* is scheduled faster or slower:
 * the timestamps keep the recording's own spacing, because the pipeline resamples and
 * windows by timestamp and the model expects the real sample rate (50 Hz must stay 50 Hz).
 * So at speed N the sample times run ahead of the wall clock by a factor N; consumers that
 * measure latency should use the clock at which a window closed, not the sample times.
 * (`now + t_ns / speed`, the naive mapping, would present a 50 Hz device as N·50 Hz.)
 *
 * Looping: each pass is offset by `spanNs`, so every stream's times keep increasing.
 */
export interface ReplayOptions {
  /** Playback speed factor (1 = real time). Default 1. */
  readonly speed?: number;
  /** Start again at the end, forever. Default false. */
  readonly loop?: boolean;
  /** Recording time per emitted chunk, ms. Default 100. */
  readonly chunkMs?: number;
  /** Modalities to leave out (e.g. ['pose'] for an IMU-only run). */
  readonly withoutModalities?: readonly Modality[];
  /** Scheduler that times emission; tests pass a virtual one. Default asyncScheduler. */
  readonly scheduler?: SchedulerLike;
  /** Gateway-clock time (ns) of the recording's t=0. Default: scheduler.now() at start(). */
  readonly originNs?: TimeNs;
  /**
   * At high speed several chunks fall due per timer tick; at most this many are emitted
   * before yielding to the event loop, so a fast replay cannot starve I/O. Default 50.
   */
  readonly maxChunksPerTick?: number;
}

export interface ReplayDone {
  readonly reason: 'end' | 'stopped';
  /** Completed passes. */
  readonly loops: number;
}

export interface ReplayStats {
  readonly chunks: number;
  readonly samples: Readonly<Record<Modality, number>>;
  readonly loops: number;
}

/** A label of the recording on the gateway time base of one pass. */
export interface TimedLabel {
  readonly subject: string;
  readonly startNs: TimeNs;
  readonly endNs: TimeNs;
  readonly activity: string;
}

export class ReplaySource {
  readonly recording: Recording;
  /** Devices whose streams are played (devices of a left-out modality are omitted). */
  readonly devices: readonly RecordingDevice[];
  readonly streams: readonly RecordingStream[];
  readonly speed: number;
  readonly loop: boolean;
  /** Chunks of every played stream, in emission order. Completes on end or stop(). */
  readonly samples$: Observable<SampleChunk>;
  /** Emits once, then completes, when playback ends (not looping) or stop() is called. */
  readonly done$: Observable<ReplayDone>;

  private readonly samples = new Subject<SampleChunk>();
  private readonly done = new AsyncSubject<ReplayDone>();
  private readonly scheduler: SchedulerLike;
  private readonly chunkNs: number;
  private readonly maxChunksPerTick: number;
  private readonly requestedOriginNs: TimeNs | undefined;
  private origin: TimeNs | undefined;
  private action: Subscription | undefined;
  private finished = false;
  private chunkCount = 0;
  private loopCount = 0;
  private readonly sampleCount: Record<Modality, number> = { imu: 0, pose: 0 };

  constructor(recording: Recording, options: ReplayOptions = {}) {
    const speed = options.speed ?? 1;
    if (!(speed > 0) || !Number.isFinite(speed)) {
      throw new GatewayError('REPLAY_BAD_OPTION', `replay speed must be a finite number > 0 (got ${speed})`);
    }
    const chunkMs = options.chunkMs ?? 100;
    if (!(chunkMs > 0))
      throw new GatewayError('REPLAY_BAD_OPTION', `replay chunkMs must be > 0 (got ${chunkMs})`);
    const maxChunksPerTick = options.maxChunksPerTick ?? 50;
    if (!(maxChunksPerTick >= 1)) {
      throw new GatewayError(
        'REPLAY_BAD_OPTION',
        `replay maxChunksPerTick must be >= 1 (got ${maxChunksPerTick})`,
      );
    }
    const dropped = new Set(options.withoutModalities ?? []);
    this.recording = recording;
    this.streams = recording.streams.filter((s) => !dropped.has(s.modality));
    const played = new Set(this.streams.map((s) => s.deviceId));
    this.devices = recording.devices.filter((d) => played.has(d.id));
    if (this.streams.length === 0) {
      throw new GatewayError(
        'REPLAY_BAD_OPTION',
        `recording ${recording.dir}: no stream left to play after leaving out ${[...dropped].join(', ')}`,
      );
    }
    this.speed = speed;
    this.loop = options.loop ?? false;
    this.chunkNs = chunkMs * NS_PER_MS;
    this.maxChunksPerTick = maxChunksPerTick;
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.requestedOriginNs = options.originNs;
    this.samples$ = this.samples.asObservable();
    this.done$ = this.done.asObservable();
  }

  /** Gateway-clock time of the recording's t=0 (known once started). */
  get originNs(): TimeNs | undefined {
    return this.origin;
  }

  get spanNs(): number {
    return this.recording.spanNs;
  }

  get running(): boolean {
    return this.action !== undefined && !this.finished;
  }

  stats(): ReplayStats {
    return { chunks: this.chunkCount, samples: { ...this.sampleCount }, loops: this.loopCount };
  }

  start(): void {
    if (this.action || this.finished) {
      throw new GatewayError('REPLAY_STATE', 'replay source already started; create a new one to play again');
    }
    const scheduler = this.scheduler;
    const startMs = scheduler.now();
    const origin = this.requestedOriginNs ?? startMs * NS_PER_MS;
    this.origin = origin;
    const span = this.recording.spanNs;
    const chunksPerPass = Math.ceil(span / this.chunkNs);
    const cursors = new Array<number>(this.streams.length).fill(0);
    let pass = 0;
    let chunk = 0;
    // Due time of a chunk = the moment its last sample "happened" at this speed, so a chunk
    // never arrives before its samples would have in a live stream.
    const dueMs = (): number =>
      startMs + (pass * span + Math.min((chunk + 1) * this.chunkNs, span)) / this.speed / NS_PER_MS;
    // Float rounding of now + (due - now) must not leave a due chunk waiting another tick.
    const epsilonMs = 1e-6;

    // Each tick schedules a fresh action rather than rescheduling itself: a virtual-time
    // scheduler chains rescheduled actions as children, and a long replay would then
    // overflow the stack when the chain is unsubscribed.
    const tick = (): void => {
      let emitted = 0;
      while (!this.finished && emitted < this.maxChunksPerTick && dueMs() <= scheduler.now() + epsilonMs) {
        this.emitChunk(pass, chunk, cursors, origin);
        emitted++;
        chunk++;
        if (chunk >= chunksPerPass) {
          this.loopCount++;
          if (!this.loop) {
            this.finish('end');
            return;
          }
          pass++;
          chunk = 0;
          cursors.fill(0);
        }
      }
      if (this.finished) return;
      this.action = scheduler.schedule(tick, Math.max(0, dueMs() - scheduler.now()));
    };
    this.action = scheduler.schedule(tick, Math.max(0, dueMs() - startMs));
  }

  /** Stops playback; samples$ completes and done$ reports 'stopped'. Idempotent. */
  stop(): void {
    if (this.finished) return;
    this.finish('stopped');
  }

  /** The recording's labels shifted onto the gateway time base of pass `pass` (0 = first). */
  labels(pass = 0): TimedLabel[] {
    const offset = this.requireOrigin() + pass * this.recording.spanNs;
    return this.recording.labels.map((l) => ({
      subject: l.subject,
      startNs: offset + l.startNs,
      endNs: offset + l.endNs,
      activity: l.activity,
    }));
  }

  /**
   * Ground-truth activity of a subject at a gateway-clock time, or null when unlabelled or
   * outside the played passes. Evaluation labels a window by its centre (recording-format.md).
   */
  labelAt(subjectId: string, tNs: TimeNs): string | null {
    const span = this.recording.spanNs;
    const rel = tNs - this.requireOrigin();
    const pass = Math.floor(rel / span);
    if (pass < 0 || (!this.loop && pass > 0)) return null;
    const r = rel - pass * span;
    for (const l of this.recording.labels) {
      if (l.startNs > r) break;
      if (l.subject === subjectId && r < l.endNs) return l.activity;
    }
    return null;
  }

  private requireOrigin(): TimeNs {
    if (this.origin === undefined) {
      throw new GatewayError('REPLAY_STATE', 'replay source not started: its time base is set by start()');
    }
    return this.origin;
  }

  private emitChunk(pass: number, chunk: number, cursors: number[], origin: TimeNs): void {
    const span = this.recording.spanNs;
    const endNs = Math.min((chunk + 1) * this.chunkNs, span);
    const offset = origin + pass * span;
    for (const [i, stream] of this.streams.entries()) {
      const times = stream.data.tNs;
      const from = cursors[i] ?? 0;
      let to = from;
      while (to < times.length && (times[to] as number) < endNs) to++;
      if (to === from) continue;
      cursors[i] = to;
      const tNs = new Float64Array(to - from);
      for (let k = 0; k < tNs.length; k++) tNs[k] = offset + (times[from + k] as number);
      const per = valuesPerSample(stream.modality);
      const values = stream.data.values.slice(from * per, to * per);
      this.chunkCount++;
      this.sampleCount[stream.modality] += tNs.length;
      const common = {
        sourceId: stream.sourceId,
        ...(stream.subjectId === undefined ? {} : { subjectId: stream.subjectId }),
        tNs,
        values,
      };
      this.samples.next(
        stream.modality === 'imu'
          ? {
              modality: 'imu',
              ...common,
              ...(stream.placement === undefined ? {} : { placement: stream.placement }),
            }
          : { modality: 'pose', ...common },
      );
    }
  }

  private finish(reason: ReplayDone['reason']): void {
    this.finished = true;
    this.action?.unsubscribe();
    this.samples.complete();
    this.done.next({ reason, loops: this.loopCount });
    this.done.complete();
  }
}

export function createReplaySource(recording: Recording, options: ReplayOptions = {}): ReplaySource {
  return new ReplaySource(recording, options);
}

/** Loads and validates a recording directory, then prepares it for playback. */
export async function openReplaySource(dir: string, options: ReplayOptions = {}): Promise<ReplaySource> {
  return new ReplaySource(await loadRecording(dir), options);
}
