import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../../observability/metrics.ts';

/** Why a sample row (or label) did not reach the recording. */
export type DropReason =
  | 'before_start'
  | 'out_of_order'
  | 'late'
  | 'invalid'
  | 'device_clock'
  | 'backpressure'
  | 'max_bytes'
  | 'disk_full'
  | 'write_failed'
  | 'drain_timeout';

/** Everything the recorder counts (documented in docs/recording.md). Reused when a recorder is rebuilt on one registry. */
export class RecorderMetrics {
  readonly rowsWritten: Counter<'kind'>;
  readonly bytesWritten: Counter;
  readonly dropped: Counter<'reason'>;
  readonly active: Gauge;
  readonly queuedBytes: Gauge;
  readonly recordings: Counter<'reason'>;

  constructor(registry: Registry) {
    this.rowsWritten = counter(
      registry,
      'mujo_recorder_rows_written_total',
      'Rows the operating system accepted into recording files, by kind (imu, pose, label).',
      ['kind'],
    );
    this.bytesWritten = counter(
      registry,
      'mujo_recorder_bytes_written_total',
      'Bytes the operating system accepted into recording CSV files (headers included).',
    );
    this.dropped = counter(
      registry,
      'mujo_recorder_dropped_samples_total',
      'Sample rows (and labels) that did not reach the recording, by reason.',
      ['reason'],
    );
    this.active = gauge(registry, 'mujo_recorder_active', '1 while a recording is running, else 0.');
    this.queuedBytes = gauge(
      registry,
      'mujo_recorder_queued_bytes',
      'Bytes accepted but not yet on disk (write queues and the pose reorder buffer).',
    );
    this.recordings = counter(
      registry,
      'mujo_recorder_recordings_total',
      'Finished recordings, by stop reason (requested, max_bytes, disk_full, write_failed, shutdown).',
      ['reason'],
    );
  }
}
