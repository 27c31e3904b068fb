import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Subject, type Observable } from 'rxjs';
import {
  IMU_CHANNELS,
  POSE_VALUES_PER_FRAME,
  type ImuChunk,
  type PoseChunk,
  type SampleChunk,
} from '../../domain/samples.ts';
import { nsToIso, systemClock, type Clock, type TimeNs } from '../../domain/time.ts';
import { GatewayError, errorMessage } from '../../observability/errors.ts';
import type { HealthRegistry } from '../../observability/health.ts';
import { silentLogger, type Logger } from '../../observability/logger.ts';
import { CsvFile, DrainTimeoutError } from './csv-file.ts';
import { MANIFEST, createRecordingDirectory } from './directory.ts';
import { diskErrorReason, dropReasonFor, failureCode } from './failures.ts';
import {
  FORBIDDEN_CELL,
  IMU_HEADER,
  LABELS_HEADER,
  POSE_HEADER,
  checkCell,
  fileStem,
  formatRow,
  recordingOrigin,
  relativeNs,
} from './format.ts';
import { recordingJson, writeManifest } from './manifest.ts';
import { RecorderMetrics, type DropReason } from './metrics.ts';
import { RECORDER_DEFAULTS, type RecorderOptions } from './options.ts';
import { PoseReorderBuffer } from './pose-reorder.ts';
import { queuedBytes, queuedFileBytes, type CameraState, type ImuState, type Session } from './session.ts';
import type {
  LabelRequest,
  RecorderDeps,
  RecorderStatus,
  RecordingCameraSpec,
  RecordingDeviceSpec,
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
 * This file is the recorder's state machine (idle → starting → recording → stopping) and the
 * per-stream row writers; its parts live beside it: session.ts (state), pose-reorder.ts,
 * format.ts (rows, cells), manifest.ts (recording.json), directory.ts, failures.ts.
 */

const SAFE_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const DEFAULT_RATE_HZ = { imu: 50, camera: 30 } as const;

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

  constructor(deps: RecorderDeps) {
    this.options = { ...RECORDER_DEFAULTS, ...deps.options };
    this.gatewayId = deps.gatewayId;
    this.metrics = new RecorderMetrics(deps.registry);
    this.health = deps.health;
    this.logger = (deps.logger ?? silentLogger()).child({ component: 'recorder' });
    this.clock = deps.clock ?? systemClock;
    this.stopped$ = this.stoppedSubject.asObservable();
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
    const name = request.name ?? this.options.name;
    if (!SAFE_NAME.test(name)) {
      throw new GatewayError(
        'RECORDER_BAD_REQUEST',
        `recording name "${name}" must be 1-64 letters, digits, ".", "_" or "-"`,
      );
    }
    const subjects = new Map<string, string>();
    for (const s of request.subjects ?? []) {
      const spec = typeof s === 'string' ? { id: s } : s;
      checkCell('subjects[].id', spec.id, 'RECORDER_BAD_REQUEST');
      subjects.set(spec.id, spec.name ?? spec.id);
    }
    const declaredDevices = new Map<string, RecordingDeviceSpec>();
    const declaredCameras = new Map<string, RecordingCameraSpec>();
    for (const d of request.devices ?? []) {
      if (d.kind === 'camera')
        declaredCameras.set(d.id, { id: d.id, ...(d.rateHz === undefined ? {} : { rateHz: d.rateHz }) });
      else declaredDevices.set(d.id, d);
      if (typeof d.subject === 'string') this.addSubjectTo(subjects, d.subject, `devices[${d.id}].subject`);
    }
    for (const c of request.cameras ?? []) {
      declaredCameras.set(c.id, c);
      for (const subject of Object.values(c.tracks ?? {}))
        this.addSubjectTo(subjects, subject, `cameras[${c.id}].tracks`);
    }

    this.state = 'starting';
    try {
      const origin = recordingOrigin(this.clock.nowNs());
      const dir = await createRecordingDirectory(request.dir, this.options.dir, origin.startTimeMs, name);
      await mkdir(join(dir, 'imu'), { recursive: true });
      await mkdir(join(dir, 'pose'), { recursive: true });
      const session: Session = {
        dir,
        name,
        description: request.description ?? `Recorded by mujo-gateway ${this.gatewayId} (${name}).`,
        origin,
        model: request.model ?? null,
        subjects,
        declaredDevices,
        declaredCameras,
        imu: new Map(),
        cameras: new Map(),
        labels: undefined as never, // opened below: its callbacks need the session
        stems: { imu: new Set(), pose: new Set() },
        openLabels: new Map(),
        dropped: new Map(),
        rows: { imu: 0, pose: 0, labels: 0 },
        reservedBytes: 0,
        writtenBytes: 0,
        failure: undefined,
        checkpoint: Promise.resolve(),
        checkpointPending: false,
        stopping: undefined,
      };
      session.labels = this.openFile(session, 'labels.csv', LABELS_HEADER.join(','));
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
    if (chunk.modality === 'imu') this.writeImu(s, chunk);
    else this.writePose(s, chunk);
    this.metrics.queuedBytes.set(queuedBytes(s));
  }

  /**
   * Appends a label (gateway-clock times, half-open [startNs, endNs)). Throws
   * RECORDER_NOT_RECORDING or RECORDER_BAD_LABEL naming the field.
   */
  label(request: LabelRequest): void {
    this.writeLabel(this.requireRecording(), request);
  }

  private writeLabel(s: Session, request: LabelRequest): void {
    checkCell('subject', request.subject);
    checkCell('activity', request.activity);
    const start = relativeNs(request.startNs, s.origin);
    const end = relativeNs(request.endNs, s.origin);
    if (!Number.isFinite(start) || start < 0) {
      throw new GatewayError(
        'RECORDER_BAD_LABEL',
        `label startNs ${request.startNs} is before the recording started (${s.origin.startTime})`,
      );
    }
    if (!(end > start)) {
      throw new GatewayError(
        'RECORDER_BAD_LABEL',
        `label endNs ${request.endNs} must be after startNs ${request.startNs}`,
      );
    }
    this.addSubject(s, request.subject);
    const line = `${request.subject},${start},${end},${request.activity}\n`;
    // Labels are exempt from the size cap: they are tiny and the reason to record at all.
    s.reservedBytes += Buffer.byteLength(line);
    s.labels.append(line, 1);
  }

  /** Opens a label for a subject now (or at `atNs`), closed by endLabel(), the next beginLabel() or stop. */
  beginLabel(request: { subject: string; activity: string; atNs?: TimeNs }): void {
    const s = this.requireRecording();
    checkCell('subject', request.subject);
    checkCell('activity', request.activity);
    const at = request.atNs ?? this.clock.nowNs();
    if (s.openLabels.has(request.subject)) this.endLabel({ subject: request.subject, atNs: at });
    s.openLabels.set(request.subject, { activity: request.activity, startNs: at });
  }

  /** Closes the subject's open label; returns false when none was open. */
  endLabel(request: { subject: string; atNs?: TimeNs }): boolean {
    const s = this.requireRecording();
    const open = s.openLabels.get(request.subject);
    if (!open) return false;
    s.openLabels.delete(request.subject);
    const end = request.atNs ?? this.clock.nowNs();
    if (end > open.startNs)
      this.writeLabel(s, {
        subject: request.subject,
        startNs: open.startNs,
        endNs: end,
        activity: open.activity,
      });
    return true;
  }

  /** Resolves when what was accepted so far reached the OS (or failed). Pose rows in the reorder window wait for stop. */
  async flush(): Promise<void> {
    const s = this.session;
    if (!s) return;
    while (this.session === s && queuedFileBytes(s) > 0 && s.failure === undefined) {
      await new Promise((r) => setTimeout(r, 2));
    }
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

  // ----------------------------------------------------------------------------- samples

  private writeImu(s: Session, chunk: ImuChunk): void {
    const state = s.imu.get(chunk.sourceId) ?? this.addImu(s, chunk);
    const { tNs, values } = chunk;
    let text = '';
    let rows = 0;
    let capHit = false;
    for (let i = 0; i < tNs.length; i++) {
      const t = relativeNs(tNs[i] as number, s.origin);
      if (!(t >= 0)) {
        this.drop(s, Number.isNaN(t) ? 'invalid' : 'before_start', 1);
        continue;
      }
      if (t <= state.lastT) {
        this.drop(s, 'out_of_order', 1);
        continue;
      }
      const line = formatRow(String(t), values, i * IMU_CHANNELS, IMU_CHANNELS);
      if (line === undefined) {
        this.drop(s, 'invalid', 1);
        continue;
      }
      if (s.reservedBytes + text.length + line.length > this.options.maxBytes) {
        this.drop(s, 'max_bytes', tNs.length - i);
        capHit = true;
        break;
      }
      text += line;
      rows++;
      if (state.seen === 0) state.firstT = t;
      state.lastT = t;
      state.seen++;
    }
    if (rows > 0) this.appendRows(s, state.file, text, rows);
    if (capHit) this.autoStop(s, 'max_bytes');
  }

  private writePose(s: Session, chunk: PoseChunk): void {
    const slash = chunk.sourceId.lastIndexOf('/');
    const cameraId = chunk.sourceId.slice(0, slash);
    const trackText = chunk.sourceId.slice(slash + 1);
    const track = Number(trackText);
    if (slash <= 0 || !/^\d+$/.test(trackText) || !Number.isSafeInteger(track)) {
      this.drop(s, 'invalid', chunk.tNs.length);
      this.logger.warn({ sourceId: chunk.sourceId }, 'pose chunk dropped: sourceId is not <camera>/<track>');
      return;
    }
    const camera = s.cameras.get(cameraId) ?? this.addCamera(s, cameraId);
    let trackState = camera.tracks.get(track);
    if (!trackState) {
      const subject = s.declaredCameras.get(cameraId)?.tracks?.[String(track)] ?? chunk.subjectId;
      trackState = { subject, lastT: -1, firstT: 0, seen: 0 };
      camera.tracks.set(track, trackState);
      if (subject !== undefined) this.addSubject(s, subject);
    } else if (trackState.subject === undefined && chunk.subjectId !== undefined) {
      // The camera-track association may name the person only after a few frames.
      trackState.subject = chunk.subjectId;
      this.addSubject(s, chunk.subjectId);
    }
    const { tNs, values } = chunk;
    let capHit = false;
    const prefix = `,${track}`;
    for (let i = 0; i < tNs.length; i++) {
      const t = relativeNs(tNs[i] as number, s.origin);
      if (!(t >= 0)) {
        this.drop(s, Number.isNaN(t) ? 'invalid' : 'before_start', 1);
        continue;
      }
      if (t <= trackState.lastT) {
        this.drop(s, 'out_of_order', 1);
        continue;
      }
      if (camera.reorder.isLate(t)) {
        this.drop(s, 'late', 1);
        continue;
      }
      const line = formatRow(`${t}${prefix}`, values, i * POSE_VALUES_PER_FRAME, POSE_VALUES_PER_FRAME);
      if (line === undefined) {
        this.drop(s, 'invalid', 1);
        continue;
      }
      if (s.reservedBytes + line.length > this.options.maxBytes) {
        this.drop(s, 'max_bytes', tNs.length - i);
        capHit = true;
        break;
      }
      s.reservedBytes += line.length;
      camera.reorder.hold(t, line);
      if (trackState.seen === 0) trackState.firstT = t;
      trackState.lastT = t;
      trackState.seen++;
    }
    this.releasePose(s, camera, false);
    if (capHit) this.autoStop(s, 'max_bytes');
  }

  /** Hands the camera's held rows that are past the reorder window (all, at stop) to its file, in time order. */
  private releasePose(s: Session, camera: CameraState, all: boolean): void {
    const out = camera.reorder.release(all ? 'all' : this.options.reorderWindowMs * 1e6);
    if (out === undefined) return;
    s.reservedBytes -= out.text.length; // appendRows reserves it again when it is queued
    this.appendRows(s, camera.file, out.text, out.rows);
  }

  private appendRows(s: Session, file: CsvFile, text: string, rows: number): void {
    if (file.failure !== undefined) {
      this.drop(s, dropReasonFor(file.failure), rows);
      return;
    }
    if (!file.hasRoomFor(text.length)) {
      this.drop(s, 'backpressure', rows);
      return;
    }
    s.reservedBytes += text.length;
    file.append(text, rows);
  }

  // ----------------------------------------------------------------------------- streams

  private addImu(s: Session, chunk: ImuChunk): ImuState {
    const declared = s.declaredDevices.get(chunk.sourceId);
    const subject =
      (typeof declared?.subject === 'string' ? declared.subject : undefined) ?? chunk.subjectId ?? null;
    const stem = fileStem(chunk.sourceId, s.stems.imu);
    const state: ImuState = {
      id: chunk.sourceId,
      file: this.openFile(s, `imu/${stem}.csv`, IMU_HEADER.join(',')),
      subject,
      placement: declared?.placement ?? chunk.placement ?? 'unknown',
      placementNote: declared?.placementNote,
      nominalRateHz: declared?.rateHz ?? DEFAULT_RATE_HZ.imu,
      lastT: -1,
      firstT: 0,
      seen: 0,
    };
    s.imu.set(chunk.sourceId, state);
    if (subject !== null) this.addSubject(s, subject);
    if (!declared)
      this.logger.info(
        { device: chunk.sourceId, file: state.file.relative },
        'recording a device that appeared after start',
      );
    return state;
  }

  private addCamera(s: Session, id: string): CameraState {
    const declared = s.declaredCameras.get(id);
    const stem = fileStem(id, s.stems.pose);
    const camera: CameraState = {
      id,
      file: this.openFile(s, `pose/${stem}.csv`, POSE_HEADER.join(',')),
      nominalRateHz: declared?.rateHz ?? DEFAULT_RATE_HZ.camera,
      tracks: new Map(),
      reorder: new PoseReorderBuffer(),
    };
    s.cameras.set(id, camera);
    return camera;
  }

  private openFile(s: Session, relative: string, header: string): CsvFile {
    s.reservedBytes += header.length + 1;
    const kindOf = (file: CsvFile): 'imu' | 'pose' | 'labels' =>
      file.relative.startsWith('imu/') ? 'imu' : file.relative.startsWith('pose/') ? 'pose' : 'labels';
    return new CsvFile(join(s.dir, relative), relative, header, this.options.maxQueuedBytesPerFile, {
      written: (file, rows, bytes) => {
        const first = file.confirmedRows === rows && rows > 0;
        s.writtenBytes += bytes;
        this.metrics.bytesWritten.inc(bytes);
        if (rows > 0) {
          const kind = kindOf(file);
          s.rows[kind] += rows;
          this.metrics.rowsWritten.inc({ kind: kind === 'labels' ? 'label' : kind }, rows);
        }
        // recording.json lists a stream once it has a row on disk, so a crash leaves a readable recording.
        if (first && kindOf(file) !== 'labels') this.scheduleCheckpoint(s);
      },
      dropped: (_file, rows, cause) => this.drop(s, dropReasonFor(cause), rows),
      failed: (file, cause) => {
        if (cause instanceof DrainTimeoutError) return;
        this.onWriteFailure(s, file.path, cause);
      },
    });
  }

  private addSubjectTo(subjects: Map<string, string>, id: string, field: string): void {
    checkCell(field, id, 'RECORDER_BAD_REQUEST');
    if (!subjects.has(id)) subjects.set(id, id);
  }

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
    this.scheduleCheckpoint(s);
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
    if (s.failure === undefined) {
      for (const [subject, open] of s.openLabels) {
        if (endNs > open.startNs) {
          try {
            this.writeLabel(s, { subject, startNs: open.startNs, endNs, activity: open.activity });
          } catch (err) {
            this.logger.warn({ subject, err }, `open label not written: ${errorMessage(err)}`);
          }
        }
      }
    }
    s.openLabels.clear();
    for (const camera of s.cameras.values()) this.releasePose(s, camera, true);
    const files = [
      s.labels,
      ...[...s.imu.values()].map((d) => d.file),
      ...[...s.cameras.values()].map((c) => c.file),
    ];
    await Promise.all(files.map((f) => f.close(this.options.drainTimeoutMs)));
    await s.checkpoint;

    const finalReason = reason;
    for (const f of files) {
      if (f.failure === undefined) continue;
      try {
        await f.truncateToConfirmed();
      } catch (err) {
        this.logger.warn(
          { file: f.path, err },
          `could not cut ${f.relative} back to whole rows: ${errorMessage(err)}`,
        );
      }
    }
    for (const f of files) {
      if (f !== s.labels && f.confirmedRows === 0) await rm(f.path, { force: true }).catch(() => undefined);
    }
    let manifestError: string | undefined;
    try {
      await writeManifest(
        join(s.dir, MANIFEST),
        recordingJson(this.gatewayId, s, { endNs, reason: finalReason }),
      );
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
      reason: finalReason,
      rows: { ...s.rows },
      bytes: files.reduce((sum, f) => sum + f.confirmedBytes, 0),
      dropped: Object.fromEntries(s.dropped),
      devices: [...s.imu.values()].filter((d) => d.file.confirmedRows > 0).map((d) => d.id),
      cameras: [...s.cameras.values()].filter((c) => c.file.confirmedRows > 0).map((c) => c.id),
      ...(s.failure ? { error: { code: s.failure.code, message: s.failure.message } } : {}),
      ...(manifestError !== undefined ? { manifestError } : {}),
    };
    this.metrics.recordings.inc({ reason: finalReason });
    this.last = summary;
    const log =
      s.failure || reason === 'max_bytes'
        ? this.logger.warn.bind(this.logger)
        : this.logger.info.bind(this.logger);
    log(
      { dir: s.dir, reason: finalReason, rows: summary.rows, bytes: summary.bytes, dropped: summary.dropped },
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

  // ----------------------------------------------------------------------------- recording.json

  private scheduleCheckpoint(s: Session): void {
    if (s.checkpointPending || s.stopping || this.session !== s || this.state !== 'recording') return;
    s.checkpointPending = true;
    s.checkpoint = s.checkpoint.then(async () => {
      await new Promise((r) => setImmediate(r));
      s.checkpointPending = false;
      if (s.stopping) return;
      try {
        await writeManifest(join(s.dir, MANIFEST), recordingJson(this.gatewayId, s, null));
      } catch (err) {
        this.onWriteFailure(s, join(s.dir, MANIFEST), err as NodeJS.ErrnoException);
      }
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
