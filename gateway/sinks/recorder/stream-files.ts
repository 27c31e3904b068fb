import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Timers } from '../../clock/timers.ts';
import type { ImuChunk } from '../../domain/samples.ts';
import { errorMessage } from '../../observability/errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { CsvFile, DrainTimeoutError } from './csv-file.ts';
import { dropReasonFor } from './failures.ts';
import { IMU_HEADER, POSE_HEADER, fileStem } from './format.ts';
import type { RecorderMetrics } from './metrics.ts';
import type { RecorderOptions } from './options.ts';
import { PoseReorderBuffer } from './pose-reorder.ts';
import type { CameraState, ImuState, Session, SessionHooks } from './session.ts';

/*
 * The files of a recording: one CSV per IMU device and per camera, opened when the stream's
 * first chunk arrives (declared at start or not), with the row and byte accounting every file
 * reports into; and closing them at the end, cut back to whole rows after a failure, empty
 * streams removed.
 */

/** Nominal rates recording.json states for streams the start request did not declare. */
const DEFAULT_RATE_HZ = { imu: 50, camera: 30 } as const;

export class StreamFiles {
  constructor(
    private readonly options: RecorderOptions,
    private readonly metrics: RecorderMetrics,
    private readonly logger: Logger,
    private readonly hooks: SessionHooks,
    private readonly timers: Timers,
  ) {}

  /** Opens a file of the recording; its header counts against the size cap. */
  open(s: Session, relative: string, header: string): CsvFile {
    s.reservedBytes += header.length + 1;
    return new CsvFile(
      join(s.dir, relative),
      relative,
      header,
      this.options.maxQueuedBytesPerFile,
      {
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
          if (first && kindOf(file) !== 'labels') this.hooks.checkpoint(s);
        },
        dropped: (_file, rows, cause) => this.hooks.drop(s, dropReasonFor(cause), rows),
        failed: (file, cause) => {
          if (cause instanceof DrainTimeoutError) return;
          this.hooks.writeFailed(s, file.path, cause);
        },
      },
      this.timers,
    );
  }

  imu(s: Session, chunk: ImuChunk): ImuState {
    const existing = s.imu.get(chunk.sourceId);
    if (existing) return existing;
    const declared = s.declaredDevices.get(chunk.sourceId);
    const subject =
      (typeof declared?.subject === 'string' ? declared.subject : undefined) ?? chunk.subjectId ?? null;
    const stem = fileStem(chunk.sourceId, s.stems.imu);
    const state: ImuState = {
      id: chunk.sourceId,
      file: this.open(s, `imu/${stem}.csv`, IMU_HEADER.join(',')),
      subject,
      placement: declared?.placement ?? chunk.placement ?? 'unknown',
      placementNote: declared?.placementNote,
      nominalRateHz: declared?.rateHz ?? DEFAULT_RATE_HZ.imu,
      lastT: -1,
      firstT: 0,
      seen: 0,
    };
    s.imu.set(chunk.sourceId, state);
    if (subject !== null) this.hooks.addSubject(s, subject);
    if (!declared)
      this.logger.info(
        { device: chunk.sourceId, file: state.file.relative },
        'recording a device that appeared after start',
      );
    return state;
  }

  camera(s: Session, id: string): CameraState {
    const existing = s.cameras.get(id);
    if (existing) return existing;
    const declared = s.declaredCameras.get(id);
    const stem = fileStem(id, s.stems.pose);
    const camera: CameraState = {
      id,
      file: this.open(s, `pose/${stem}.csv`, POSE_HEADER.join(',')),
      nominalRateHz: declared?.rateHz ?? DEFAULT_RATE_HZ.camera,
      tracks: new Map(),
      reorder: new PoseReorderBuffer(),
    };
    s.cameras.set(id, camera);
    return camera;
  }

  /** Every file of the recording: labels, then IMU devices, then cameras. */
  all(s: Session): CsvFile[] {
    return [
      s.labels,
      ...[...s.imu.values()].map((d) => d.file),
      ...[...s.cameras.values()].map((c) => c.file),
    ];
  }

  /** Closes every file, waiting at most drainTimeoutMs for the disk. Returns the files closed. */
  async closeAll(s: Session): Promise<CsvFile[]> {
    const files = this.all(s);
    await Promise.all(files.map((f) => f.close(this.options.drainTimeoutMs)));
    return files;
  }

  /** After closing: cuts failed files back to whole rows and removes streams that never got a row. */
  async tidy(s: Session, files: readonly CsvFile[]): Promise<void> {
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
  }
}

function kindOf(file: CsvFile): 'imu' | 'pose' | 'labels' {
  return file.relative.startsWith('imu/') ? 'imu' : file.relative.startsWith('pose/') ? 'pose' : 'labels';
}
