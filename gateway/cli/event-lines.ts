import type { ActivityEvent } from '../domain/events.ts';

/**
 * One terminal line per activity event, so whoever starts the demo sees it work:
 * `s6 started Squat (87 %) imu+pose`, `s6 Squat → Walking (74 %)`, `s6 ended Squat after 42 s`.
 * An ended activity's own probability at its end is meaningless, so it is not shown.
 */
export function activityLine(event: ActivityEvent): string {
  const percent = `${Math.round(event.confidence * 100)} %`;
  const modalities = modalityNames(event);
  switch (event.transition) {
    case 'started':
      return `${event.subject} started ${event.activityName} (${percent})${modalities}`;
    case 'changed':
      return `${event.subject} ${event.previous ?? '?'} → ${event.activityName} (${percent})${modalities}`;
    case 'ended': {
      const seconds =
        event.endNs !== undefined ? ` after ${Math.round((event.endNs - event.startNs) / 1e9)} s` : '';
      return `${event.subject} ended ${event.activityName}${seconds}`;
    }
  }
}

function modalityNames(event: ActivityEvent): string {
  return event.modalities.length > 0 ? ` ${event.modalities.join('+')}` : '';
}
