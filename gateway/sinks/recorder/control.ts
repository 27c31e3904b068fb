import type { Clock, TimeNs } from '../../domain/time.ts';
import { GatewayError } from '../../observability/errors.ts';
import type { Recorder } from './recorder.ts';
import type { RecorderStatus, RecordingSummary, StartRequest } from './types.ts';

/** What a recording is started with besides the user's name/description: who and what is live now. */
export type RecordingContext = () => Omit<StartRequest, 'name' | 'description' | 'dir'>;

/**
 * The user-facing recording commands, shared by MQTT (`start_recording`, `stop_recording`,
 * `label`, `recording_status`) and HTTP (`/api/recording/*`): parses loose JSON arguments into
 * the recorder's typed requests, with RECORDER_BAD_REQUEST naming the bad field.
 */
export class RecordingControl {
  constructor(
    private readonly recorder: Recorder,
    private readonly context: RecordingContext,
    private readonly clock: Clock,
  ) {}

  status(): RecorderStatus {
    return this.recorder.status();
  }

  start(args: Record<string, unknown>): Promise<{ dir: string; startTime: string }> {
    return this.recorder.start({
      ...this.context(),
      ...optionalString(args, 'name'),
      ...optionalString(args, 'description'),
    });
  }

  stop(): Promise<RecordingSummary> {
    return this.recorder.stop('requested');
  }

  /**
   * `{subject, activity, start?, end?}` writes a finished label (times ISO 8601 or gateway-clock
   * ns; `end` defaults to now); `{subject, activity, action: 'begin'}` opens one now and
   * `{subject, action: 'end'}` closes it — what a "now doing squats" button needs.
   */
  label(args: Record<string, unknown>): { ok: true } {
    const subject = requiredString(args, 'subject');
    const action = args['action'];
    if (action === 'end') {
      if (!this.recorder.endLabel({ subject })) {
        throw new GatewayError('RECORDER_BAD_LABEL', `subject ${subject} has no open label to end`);
      }
      return { ok: true };
    }
    const activity = requiredString(args, 'activity');
    if (action === 'begin') {
      this.recorder.beginLabel({ subject, activity });
      return { ok: true };
    }
    if (action !== undefined) {
      throw new GatewayError(
        'RECORDER_BAD_REQUEST',
        `action must be "begin" or "end" (got ${JSON.stringify(action)})`,
      );
    }
    const startNs = timeArg(args, 'start');
    if (startNs === undefined)
      throw new GatewayError('RECORDER_BAD_REQUEST', 'label needs "start" (or action "begin")');
    const endNs = timeArg(args, 'end') ?? this.clock.nowNs();
    this.recorder.label({ subject, activity, startNs, endNs });
    return { ok: true };
  }
}

function optionalString(args: Record<string, unknown>, key: string): Record<string, string> {
  const value = args[key];
  if (value === undefined) return {};
  if (typeof value !== 'string') {
    throw new GatewayError(
      'RECORDER_BAD_REQUEST',
      `"${key}" must be a string (got ${JSON.stringify(value)})`,
    );
  }
  return { [key]: value };
}

function requiredString(args: Record<string, unknown>, key: string): string {
  const value = args[key];
  if (typeof value !== 'string' || value === '') {
    throw new GatewayError(
      'RECORDER_BAD_REQUEST',
      `"${key}" must be a non-empty string (got ${JSON.stringify(value)})`,
    );
  }
  return value;
}

/** ISO 8601 text or a number of gateway-clock ns since the Unix epoch. */
function timeArg(args: Record<string, unknown>, key: string): TimeNs | undefined {
  const value = args[key];
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return ms * 1e6;
  }
  throw new GatewayError(
    'RECORDER_BAD_REQUEST',
    `"${key}" must be an ISO 8601 time or ns since the epoch (got ${JSON.stringify(value)})`,
  );
}
