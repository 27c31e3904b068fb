import { IMU_CHANNELS, POSE_VALUES_PER_FRAME, type ImuChunk, type PoseChunk } from '../../domain/samples.ts';
import type { Logger } from '../../observability/logger.ts';
import type { CsvFile } from './csv-file.ts';
import { dropReasonFor } from './failures.ts';
import { formatRow, relativeNs } from './format.ts';
import type { RecorderOptions } from './options.ts';
import type { CameraState, Session, SessionHooks } from './session.ts';
import type { StreamFiles } from './stream-files.ts';

/*
 * Turns sample chunks into CSV rows of the stream's file. Every row that cannot be written is
 * counted by reason, never thrown: before the recording started, out of time order, late for
 * the pose reorder window, not finite, over the size cap, or refused by a slow or failed file.
 * Reaching the size cap stops the recording.
 */

export class SampleRows {
  constructor(
    private readonly options: RecorderOptions,
    private readonly files: StreamFiles,
    private readonly logger: Logger,
    private readonly hooks: SessionHooks,
  ) {}

  imu(s: Session, chunk: ImuChunk): void {
    const state = this.files.imu(s, chunk);
    const { tNs, values } = chunk;
    let text = '';
    let rows = 0;
    let capHit = false;
    for (let i = 0; i < tNs.length; i++) {
      const t = relativeNs(tNs[i] as number, s.origin);
      if (!(t >= 0)) {
        this.hooks.drop(s, Number.isNaN(t) ? 'invalid' : 'before_start', 1);
        continue;
      }
      if (t <= state.lastT) {
        this.hooks.drop(s, 'out_of_order', 1);
        continue;
      }
      const line = formatRow(String(t), values, i * IMU_CHANNELS, IMU_CHANNELS);
      if (line === undefined) {
        this.hooks.drop(s, 'invalid', 1);
        continue;
      }
      if (s.reservedBytes + text.length + line.length > this.options.maxBytes) {
        this.hooks.drop(s, 'max_bytes', tNs.length - i);
        capHit = true;
        break;
      }
      text += line;
      rows++;
      if (state.seen === 0) state.firstT = t;
      state.lastT = t;
      state.seen++;
    }
    if (rows > 0) this.append(s, state.file, text, rows);
    if (capHit) this.hooks.autoStop(s, 'max_bytes');
  }

  pose(s: Session, chunk: PoseChunk): void {
    const slash = chunk.sourceId.lastIndexOf('/');
    const cameraId = chunk.sourceId.slice(0, slash);
    const trackText = chunk.sourceId.slice(slash + 1);
    const track = Number(trackText);
    if (slash <= 0 || !/^\d+$/.test(trackText) || !Number.isSafeInteger(track)) {
      this.hooks.drop(s, 'invalid', chunk.tNs.length);
      this.logger.warn({ sourceId: chunk.sourceId }, 'pose chunk dropped: sourceId is not <camera>/<track>');
      return;
    }
    const camera = this.files.camera(s, cameraId);
    let trackState = camera.tracks.get(track);
    if (!trackState) {
      const subject = s.declaredCameras.get(cameraId)?.tracks?.[String(track)] ?? chunk.subjectId;
      trackState = { subject, lastT: -1, firstT: 0, seen: 0 };
      camera.tracks.set(track, trackState);
      if (subject !== undefined) this.hooks.addSubject(s, subject);
    } else if (trackState.subject === undefined && chunk.subjectId !== undefined) {
      // The camera-track association may name the person only after a few frames.
      trackState.subject = chunk.subjectId;
      this.hooks.addSubject(s, chunk.subjectId);
    }
    const { tNs, values } = chunk;
    let capHit = false;
    const prefix = `,${track}`;
    for (let i = 0; i < tNs.length; i++) {
      const t = relativeNs(tNs[i] as number, s.origin);
      if (!(t >= 0)) {
        this.hooks.drop(s, Number.isNaN(t) ? 'invalid' : 'before_start', 1);
        continue;
      }
      if (t <= trackState.lastT) {
        this.hooks.drop(s, 'out_of_order', 1);
        continue;
      }
      if (camera.reorder.isLate(t)) {
        this.hooks.drop(s, 'late', 1);
        continue;
      }
      const line = formatRow(`${t}${prefix}`, values, i * POSE_VALUES_PER_FRAME, POSE_VALUES_PER_FRAME);
      if (line === undefined) {
        this.hooks.drop(s, 'invalid', 1);
        continue;
      }
      if (s.reservedBytes + line.length > this.options.maxBytes) {
        this.hooks.drop(s, 'max_bytes', tNs.length - i);
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
    if (capHit) this.hooks.autoStop(s, 'max_bytes');
  }

  /** Hands the camera's held rows that are past the reorder window (all, at stop) to its file, in time order. */
  releasePose(s: Session, camera: CameraState, all: boolean): void {
    const out = camera.reorder.release(all ? 'all' : this.options.reorderWindowMs * 1e6);
    if (out === undefined) return;
    s.reservedBytes -= out.text.length; // append reserves it again when it is queued
    this.append(s, camera.file, out.text, out.rows);
  }

  private append(s: Session, file: CsvFile, text: string, rows: number): void {
    if (file.failure !== undefined) {
      this.hooks.drop(s, dropReasonFor(file.failure), rows);
      return;
    }
    if (!file.hasRoomFor(text.length)) {
      this.hooks.drop(s, 'backpressure', rows);
      return;
    }
    s.reservedBytes += text.length;
    file.append(text, rows);
  }
}
