import type { Placement } from '../../domain/samples.ts';
import type { TimeNs } from '../../domain/time.ts';
import type { CsvFile } from './csv-file.ts';
import type { RecordingOrigin } from './format.ts';
import type { DropReason } from './metrics.ts';
import type { PoseReorderBuffer } from './pose-reorder.ts';
import type { RecordingCameraSpec, RecordingDeviceSpec, RecordingSummary, StopReason } from './types.ts';

/*
 * The state of one running recording: its files, streams, labels and byte accounting, and what
 * the recorder's parts (stream-files, sample-rows, labels, checkpoints) may ask of the recorder.
 */

/** The recorder's side of a running recording, as its parts see it. */
export interface SessionHooks {
  /** Counts rows that will never be written, by reason. */
  drop(s: Session, reason: DropReason, rows: number): void;
  /** A subject seen in the data (a label, a device, a camera track): recording.json lists it. */
  addSubject(s: Session, id: string): void;
  /** Rewrites recording.json soon: a stream got its first row on disk. */
  checkpoint(s: Session): void;
  /** Stops the recording from inside (size cap reached, a file failed). */
  autoStop(s: Session, reason: StopReason): void;
  /** A file (or the manifest) could not be written: the recording stops with a coded error. */
  writeFailed(s: Session, path: string, cause: NodeJS.ErrnoException): void;
}

export interface ImuState {
  readonly id: string;
  readonly file: CsvFile;
  subject: string | null;
  placement: Placement;
  readonly placementNote: string | undefined;
  readonly nominalRateHz: number;
  lastT: number;
  firstT: number;
  seen: number;
}

export interface TrackState {
  subject: string | undefined;
  lastT: number;
  firstT: number;
  seen: number;
}

export interface CameraState {
  readonly id: string;
  readonly file: CsvFile;
  readonly nominalRateHz: number;
  readonly tracks: Map<number, TrackState>;
  /** Rows held for the reorder window; their bytes are already reserved against the cap. */
  readonly reorder: PoseReorderBuffer;
}

export interface OpenLabel {
  readonly activity: string;
  readonly startNs: TimeNs;
}

export interface Session {
  readonly dir: string;
  readonly name: string;
  readonly description: string;
  readonly origin: RecordingOrigin;
  readonly model: { readonly name: string; readonly version: string } | null;
  readonly subjects: Map<string, string>;
  readonly declaredDevices: Map<string, RecordingDeviceSpec>;
  readonly declaredCameras: Map<string, RecordingCameraSpec>;
  readonly imu: Map<string, ImuState>;
  readonly cameras: Map<string, CameraState>;
  labels: CsvFile;
  readonly stems: { imu: Set<string>; pose: Set<string> };
  readonly openLabels: Map<string, OpenLabel>;
  readonly dropped: Map<string, number>;
  readonly rows: { imu: number; pose: number; labels: number };
  /** Bytes accepted (queued, buffered or written): what the size cap is checked against. */
  reservedBytes: number;
  writtenBytes: number;
  failure: { readonly code: string; readonly message: string; readonly reason: StopReason } | undefined;
  checkpoint: Promise<void>;
  checkpointPending: boolean;
  stopping: Promise<RecordingSummary> | undefined;
}

/** A new recording's state; its labels file is opened next (the file's callbacks need the session). */
export function newSession(
  start: Pick<
    Session,
    'dir' | 'name' | 'description' | 'origin' | 'model' | 'subjects' | 'declaredDevices' | 'declaredCameras'
  >,
): Session {
  return {
    ...start,
    imu: new Map(),
    cameras: new Map(),
    labels: undefined as never,
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
}

/** Bytes accepted by the files but not yet on disk. */
export function queuedFileBytes(s: Session): number {
  let bytes = s.labels.queuedBytes;
  for (const d of s.imu.values()) bytes += d.file.queuedBytes;
  for (const c of s.cameras.values()) bytes += c.file.queuedBytes;
  return bytes;
}

/** Bytes held in memory: queued for the files plus pose rows in the reorder windows. */
export function queuedBytes(s: Session): number {
  let bytes = queuedFileBytes(s);
  for (const c of s.cameras.values()) bytes += c.reorder.bytes;
  return bytes;
}
