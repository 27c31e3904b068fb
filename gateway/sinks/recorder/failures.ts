import { DrainTimeoutError } from './csv-file.ts';
import type { DropReason } from './metrics.ts';
import type { StopReason } from './types.ts';

/** Why a disk error stops a recording: a full disk (or quota) is told apart from other failures. */
export function diskErrorReason(err: Error): StopReason {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT' ? 'disk_full' : 'write_failed';
}

/** The reason rows are counted under when a file could not take them. */
export function dropReasonFor(err: Error): DropReason {
  if (err instanceof DrainTimeoutError) return 'drain_timeout';
  return diskErrorReason(err) === 'disk_full' ? 'disk_full' : 'write_failed';
}

export function failureCode(reason: StopReason): string {
  return reason === 'disk_full' ? 'RECORDER_DISK_FULL' : 'RECORDER_WRITE_FAILED';
}
