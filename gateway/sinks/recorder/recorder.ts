import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Subject, type Observable } from 'rxjs';
import { IMU_CHANNELS, POSE_VALUES_PER_FRAME, type SampleChunk } from '../../domain/samples.ts';
import { realTimers } from '../../clock/timers.ts';
import { nsToIso, systemClock, type Clock, type TimeNs } from '../../domain/time.ts';
import { GatewayError, errorMessage } from '../../observability/errors.ts';
import type { HealthRegistry } from '../../observability/health.ts';
import { silentLogger, type Logger } from '../../observability/logger.ts';
import { Checkpoints } from './checkpoints.ts';
import { MANIFEST, createRecordingDirectory } from './directory.ts';
import { diskErrorReason, failureCode } from './failures.ts';
import { FORBIDDEN_CELL, LABELS_HEADER, recordingOrigin } from './format.ts';
import { Labels } from './labels.ts';
import { recordingJson, writeManifest } from './manifest.ts';
import { RecorderMetrics, type DropReason } from './metrics.ts';
import { RECORDER_DEFAULTS, type RecorderOptions } from './options.ts';
import { SampleRows } from './sample-rows.ts';
import { newSession, queuedBytes, type Session, type SessionHooks } from './session.ts';
import { checkStartRequest } from './start-request.ts';
import { StreamFiles } from './stream-files.ts';
import type {
  LabelRequest,
  RecorderDeps,
  RecorderStatus,
  RecordingSummary,
  StartRequest,
  StopReason,
} from './types.ts';

/**
 * Records what the gateway sees into the recording format (docs/recording-format.md) that
 * replay plays and the trainer fine-tunes on.
 *
 * `write()` is called from the pipeline and never blocks or throws: rows go to per-file
 * write streams, and whatever cannot be written (disk too slow, full or failing, rows out
 * of time order, the size cap reached) is dropped and counted by reason. A write failure
 * stops the recording, cuts every file back to whole rows and reports a coded error on the
 * `recorder` health component; the gateway keeps running.
 *
 * This file is the recorder's state machine (idle → starting → recording → stopping); its
 * parts live beside it: start-request.ts (checks), session.ts (state of one recording),
 * stream-files.ts (the CSV files: csv-file.ts), sample-rows.ts (chunks → rows, with
 * pose-reorder.ts), labels.ts, checkpoints.ts and manifest.ts (recording.json), format.ts,
 * directory.ts, failures.ts.
 */

export class Recorder {
  readonly options: RecorderOptions;
  /** One summary per finished recording, whatever stopped it. */
  readonly stopped$: Observable<RecordingSummary>;

  private readonly gatewayId: string;
  private readonly metrics: RecorderMetrics;
  private readonly health: HealthRegistry | undefined;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly stoppedSubject = new Subject<RecordingSummary>();
  private state: RecorderStatus['state'] = 'idle';
  private session: Session | undefined;
  private last: RecordingSummary | undefined;
  private lastError: { code: string; message: string; at: string } | undefined;
  private readonly files: StreamFiles;
  private readonly rows: SampleRows;
  private readonly labels: Labels;
  private readonly checkpoints: Checkpoints;

  constructor(deps: RecorderDeps) {
    this.options = { ...RECORDER_DEFAULTS, ...deps.options };
    this.gatewayId = deps.gatewayId;
    this.metrics = new RecorderMetrics(deps.registry);
    this.health = deps.health;
    this.logger = (deps.logger ?? silentLogger()).child({ component: 'recorder' });
    this.clock = deps.clock ?? systemClock;
    this.stopped$ = this.stoppedSubject.asObservable();
    const hooks: SessionHooks = {
      drop: (s, reason, rows) => this.drop(s, reason, rows),
      addSubject: (s, id) => this.addSubject(s, id),
      checkpoint: (s) => this.checkpoints.schedule(s),
      autoStop: (s, reason) => this.autoStop(s, reason),
      writeFailed: (s, path, cause) => this.onWriteFailure(s, path, cause),
    };
    this.files = new StreamFiles(this.options, this.metrics, this.logger, hooks, deps.timers ?? realTimers);
    this.rows = new SampleRows(this.options, this.files, this.logger, hooks);
    this.labels = new Labels(this.clock, this.logger, hooks);
    this.checkpoints = new Checkpoints(
      this.gatewayId,
      (s) => this.session === s && this.state === 'recording',
      hooks,
    );
    this.metrics.active.set(0);
    this.metrics.queuedBytes.set(0);
    this.setHealth();
  }

  get recording(): boolean {
    return this.state === 'recording';
  }

  status(): RecorderStatus {
    const s = this.session;
    const last = this.last === undefined ? {} : { last: this.last };
    if (s === undefined) return { state: this.state, ...last };
    return {
      state: this.state,
      dir: s.dir,
      name: s.name,
      startTime: s.origin.startTime,
      rows: { ...s.rows },
      bytes: s.writtenBytes,
      queuedBytes: queuedBytes(s),
      dropped: Object.fromEntries(s.dropped),
      openLabels: [...s.openLabels].map(([subject, l]) => ({
        subject,
        activity: l.activity,
        startNs: l.startNs,
      })),
      ...last,
    };
  }

  /** Creates the recording directory and starts taking samples. Throws RECORDER_* coded errors. */
  async start(request: StartRequest = {}): Promise<{ dir: string; startTime: string }> {
    if (this.state !== 'idle') {
      throw new GatewayError(
        'RECORDER_BUSY',
        `a recording is ${this.state === 'stopping' ? 'stopping' : 'already running'} (${this.session?.dir ?? '…'}); stop it first`,
      );
    }
    const { name, subjects, declaredDevices, declaredCameras } = checkStartRequest(
      request,
      this.options.name,
    );

    this.state = 'starting';
    try {
      const origin = recordingOrigin(this.clock.nowNs());
      const dir = await createRecordingDirectory(request.dir, this.options.dir, origin.startTimeMs, name);
      await mkdir(join(dir, 'imu'), { recursive: true });
      await mkdir(join(dir, 'pose'), { recursive: true });
      const session = newSession({
        dir,
        name,
        description: request.description ?? `Recorded by mujo-gateway ${this.gatewayId} (${name}).`,
        origin,
        model: request.model ?? null,
        subjects,
        declaredDevices,
        declaredCameras,
      });
      session.labels = this.files.open(session, 'labels.csv', LABELS_HEADER.join(','));
      this.session = session;
      await writeManifest(join(dir, MANIFEST), recordingJson(this.gatewayId, session, null));
      if (session.failure)
        throw new GatewayError(failureCode(session.failure.reason), session.failure.message);
      this.state = 'recording';
      this.metrics.active.set(1);
      this.lastError = undefined;
      this.setHealth();
      this.logger.info({ dir, startTime: origin.startTime }, 'recording started');
      return { dir, startTime: origin.startTime };
    } catch (err) {
      const session = this.session;
      this.session = undefined;
      this.state = 'idle';
      if (session) await session.labels.close(0).catch(() => undefined);
      if (err instanceof GatewayError && err.code === 'RECORDER_BAD_REQUEST') throw err;
      const coded =
        err instanceof GatewayError
          ? err
          : new GatewayError(
              failureCode(diskErrorReason(err as Error)),
              `recording could not start: ${errorMessage(err)}`,
              { cause: err },
            );
      this.reportError(coded.code, coded.message);
      throw coded;
    }
  }

  /** Appends a chunk's rows. Never throws; ignored while no recording runs. */
  write(chunk: SampleChunk): void {
    const s = this.session;
    if (this.state !== 'recording' || s === undefined) return;
    const n = chunk.tNs.length;
    if (n === 0) return;
    if (chunk.clockDomain === 'device') {
      // Device clocks are not the recording's time base; the recorder belongs after clock mapping.
      this.drop(s, 'device_clock', n);
      return;
    }
    const per = chunk.modality === 'imu' ? IMU_CHANNELS : POSE_VALUES_PER_FRAME;
    if (chunk.values.length !== n * per) {
      this.drop(s, 'invalid', n);
      return;
    }
    if (chunk.modality === 'imu') this.rows.imu(s, chunk);
    else this.rows.pose(s, chunk);
    this.metrics.queuedBytes.set(queuedBytes(s));
  }

  /**
   * Appends a label (gateway-clock times, half-open [startNs, endNs)). Throws
   * RECORDER_NOT_RECORDING or RECORDER_BAD_LABEL naming the field.
   */
  label(request: LabelRequest): void {
    this.labels.write(this.requireRecording(), request);
  }

  /** Opens a label for a subject now (or at `atNs`), closed by endLabel(), the next beginLabel() or stop. */
  beginLabel(request: { subject: string; activity: string; atNs?: TimeNs }): void {
    this.labels.begin(this.requireRecording(), request);
  }

  /** Closes the subject's open label; returns false when none was open. */
  endLabel(request: { subject: string; atNs?: TimeNs }): boolean {
    return this.labels.end(this.requireRecording(), request);
  }

  /**
   * Resolves when the rows accepted so far reached the OS (or failed) and recording.json lists
   * what they added. Pose rows in the reorder window wait for stop.
   */
  async flush(): Promise<void> {
    const s = this.session;
    if (!s) return;
    await Promise.all(this.files.all(s).map((f) => f.settled()));
    await s.checkpoint;
  }

  /** Stops the recording, flushes and finalises recording.json. Throws RECORDER_NOT_RECORDING when idle. */
  async stop(reason: StopReason = 'requested'): Promise<RecordingSummary> {
    const s = this.session;
    if (s === undefined || this.state === 'starting') {
      throw new GatewayError('RECORDER_NOT_RECORDING', 'no recording is running');
    }
    return this.finish(s, reason);
  }

  /** Gateway shutdown: stops a running recording (reason shutdown) and marks the component stopped. */
  async close(): Promise<RecordingSummary | undefined> {
    const s = this.session;
    const summary = s === undefined ? undefined : await this.finish(s, 'shutdown');
    this.health?.set('recorder', {
      status: 'stopped',
      ...(summary ? { details: { lastRecording: summary.dir } } : {}),
    });
    return summary;
  }

  // ----------------------------------------------------------------------------- subjects

  /** A subject seen in the data; one whose id cannot be a CSV cell is logged and left out. */
  private addSubject(s: Session, id: string): void {
    if (s.subjects.has(id)) return;
    if (FORBIDDEN_CELL.test(id) || id.trim() === '') {
      this.logger.warn(
        { subject: id },
        'subject id cannot be written to labels.csv; not recorded as a subject',
      );
      return;
    }
    s.subjects.set(id, id);
    this.checkpoints.schedule(s);
  }

  // ----------------------------------------------------------------------------- lifecycle

  private autoStop(s: Session, reason: StopReason): void {
    if (s.stopping) return;
    this.finish(s, reason).catch((err: unknown) => {
      this.logger.error({ err, dir: s.dir }, `recording could not be finalised: ${errorMessage(err)}`);
    });
  }

  private finish(s: Session, reason: StopReason): Promise<RecordingSummary> {
    if (s.stopping) return s.stopping;
    this.state = 'stopping';
    this.metrics.active.set(0);
    s.stopping = this.finalise(s, reason).finally(() => {
      if (this.session === s) this.session = undefined;
      this.state = 'idle';
      this.metrics.queuedBytes.set(0);
    });
    return s.stopping;
  }

  private async finalise(s: Session, reason: StopReason): Promise<RecordingSummary> {
    const endNs = this.clock.nowNs();
    this.labels.closeAll(s, endNs);
    for (const camera of s.cameras.values()) this.rows.releasePose(s, camera, true);
    const files = await this.files.closeAll(s);
    await s.checkpoint;
    await this.files.tidy(s, files);
    let manifestError: string | undefined;
    try {
      await writeManifest(join(s.dir, MANIFEST), recordingJson(this.gatewayId, s, { endNs, reason: reason }));
    } catch (err) {
      manifestError = errorMessage(err);
      this.logger.error(
        { dir: s.dir, err },
        `final ${MANIFEST} not written (the last checkpoint stays): ${manifestError}`,
      );
    }
    const summary: RecordingSummary = {
      dir: s.dir,
      name: s.name,
      startTime: s.origin.startTime,
      endTime: nsToIso(endNs),
      reason: reason,
      rows: { ...s.rows },
      bytes: files.reduce((sum, f) => sum + f.confirmedBytes, 0),
      dropped: Object.fromEntries(s.dropped),
      devices: [...s.imu.values()].filter((d) => d.file.confirmedRows > 0).map((d) => d.id),
      cameras: [...s.cameras.values()].filter((c) => c.file.confirmedRows > 0).map((c) => c.id),
      ...(s.failure ? { error: { code: s.failure.code, message: s.failure.message } } : {}),
      ...(manifestError !== undefined ? { manifestError } : {}),
    };
    this.metrics.recordings.inc({ reason: reason });
    this.last = summary;
    const log =
      s.failure || reason === 'max_bytes'
        ? this.logger.warn.bind(this.logger)
        : this.logger.info.bind(this.logger);
    log(
      { dir: s.dir, reason: reason, rows: summary.rows, bytes: summary.bytes, dropped: summary.dropped },
      'recording stopped',
    );
    if (this.session === s) this.session = undefined;
    this.state = 'idle';
    this.setHealth();
    this.stoppedSubject.next(summary);
    return summary;
  }

  private onWriteFailure(s: Session, path: string, cause: NodeJS.ErrnoException): void {
    if (s.failure !== undefined) return;
    const reason = diskErrorReason(cause);
    // A coded refusal (RECORDER_MANIFEST_INVALID) keeps its own code; I/O errors get the disk's.
    const code = cause instanceof GatewayError ? cause.code : failureCode(reason);
    const message =
      reason === 'disk_full'
        ? `recording stopped: the disk is full writing ${path} (${cause.code ?? cause.message}); rows written before are kept`
        : `recording stopped: writing ${path} failed: ${cause.message}; rows written before are kept`;
    s.failure = { code, message, reason };
    this.reportError(code, message);
    this.logger.error({ code, file: path, errno: cause.code }, message);
    if (this.state === 'recording') this.autoStop(s, reason);
  }

  private reportError(code: string, message: string): void {
    this.lastError = { code, message, at: new Date().toISOString() };
    this.setHealth();
  }

  private setHealth(): void {
    if (!this.health) return;
    const s = this.session;
    const details: Record<string, unknown> = { recording: this.state === 'recording' };
    if (s) details['dir'] = s.dir;
    if (this.last) details['lastRecording'] = { dir: this.last.dir, reason: this.last.reason };
    // A failed recording keeps the component degraded until the next one starts, so users see why it ended.
    this.health.set('recorder', {
      status: this.lastError ? 'degraded' : 'up',
      ...(this.lastError ? { error: this.lastError } : {}),
      details,
    });
  }

  // ----------------------------------------------------------------------------- helpers

  private requireRecording(): Session {
    const s = this.session;
    if (this.state !== 'recording' || s === undefined) {
      throw new GatewayError('RECORDER_NOT_RECORDING', 'no recording is running: start one before labelling');
    }
    return s;
  }

  private drop(s: Session, reason: DropReason, rows: number): void {
    if (rows <= 0) return;
    s.dropped.set(reason, (s.dropped.get(reason) ?? 0) + rows);
    this.metrics.dropped.inc({ reason }, rows);
  }
}

export function createRecorder(deps: RecorderDeps): Recorder {
  return new Recorder(deps);
}
