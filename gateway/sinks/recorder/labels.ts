import type { Clock, TimeNs } from '../../domain/time.ts';
import { GatewayError, errorMessage } from '../../observability/errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { checkCell, relativeNs } from './format.ts';
import type { Session, SessionHooks } from './session.ts';
import type { LabelRequest } from './types.ts';

/*
 * labels.csv: what each subject was doing when, as half-open [start, end) intervals on the
 * recording's clock. A label is written whole (label()), or opened now and closed later
 * (begin()/end(); the next begin() for the subject, or the end of the recording, closes it).
 * Bad labels are refused with RECORDER_BAD_LABEL naming the field.
 */

export class Labels {
  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly hooks: SessionHooks,
  ) {}

  write(s: Session, request: LabelRequest): void {
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
    this.hooks.addSubject(s, request.subject);
    const line = `${request.subject},${start},${end},${request.activity}\n`;
    // Labels are exempt from the size cap: they are tiny and the reason to record at all.
    s.reservedBytes += Buffer.byteLength(line);
    s.labels.append(line, 1);
  }

  begin(s: Session, request: { subject: string; activity: string; atNs?: TimeNs }): void {
    checkCell('subject', request.subject);
    checkCell('activity', request.activity);
    const at = request.atNs ?? this.clock.nowNs();
    if (s.openLabels.has(request.subject)) this.end(s, { subject: request.subject, atNs: at });
    s.openLabels.set(request.subject, { activity: request.activity, startNs: at });
  }

  /** Closes the subject's open label; false when none was open. */
  end(s: Session, request: { subject: string; atNs?: TimeNs }): boolean {
    const open = s.openLabels.get(request.subject);
    if (!open) return false;
    s.openLabels.delete(request.subject);
    const end = request.atNs ?? this.clock.nowNs();
    if (end > open.startNs)
      this.write(s, { subject: request.subject, startNs: open.startNs, endNs: end, activity: open.activity });
    return true;
  }

  /** The recording ends at `endNs`: every open label ends there too (unless the files already failed). */
  closeAll(s: Session, endNs: TimeNs): void {
    if (s.failure === undefined) {
      for (const [subject, open] of s.openLabels) {
        if (endNs <= open.startNs) continue;
        try {
          this.write(s, { subject, startNs: open.startNs, endNs, activity: open.activity });
        } catch (err) {
          this.logger.warn({ subject, err }, `open label not written: ${errorMessage(err)}`);
        }
      }
    }
    s.openLabels.clear();
  }
}
