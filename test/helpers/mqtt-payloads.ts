import {
  PAYLOAD_VERSION,
  type ActivityEvent,
  type DeviceState,
  type SubjectState,
} from '../../gateway/domain/events.ts';

/** A realistic activity event; `seq` makes each one identifiable at the receiver. */
export function activityEventFor(gateway: string, subject: string, seq: number): ActivityEvent {
  const startNs = 1_717_000_000_000_000_000 + seq * 1e9;
  return {
    v: PAYLOAD_VERSION,
    gateway,
    subject,
    transition: seq === 0 ? 'started' : 'changed',
    activity: 'squat',
    activityName: 'Squat',
    confidence: 0.91,
    topK: [
      { activity: 'squat', confidence: 0.91 },
      { activity: 'lunge', confidence: 0.05 },
    ],
    start: new Date(startNs / 1e6).toISOString(),
    startNs,
    ...(seq > 0 ? { end: new Date(startNs / 1e6).toISOString(), endNs: startNs, previous: 'walk' } : {}),
    model: 'mujo-utd',
    modelVersion: '1.0.0',
    latencyMs: 3.2,
    seq,
    modalities: ['imu', 'pose'],
    sources: ['wrist1', 'cam1/1'],
  };
}

export function subjectStateFor(gateway: string, subject: string, activity: string): SubjectState {
  return {
    v: PAYLOAD_VERSION,
    gateway,
    subject,
    activity,
    activityName: activity,
    confidence: 0.8,
    since: new Date().toISOString(),
    reps: 3,
    updated: new Date().toISOString(),
    modalities: ['imu'],
    sources: ['wrist1'],
  };
}

export function deviceStateFor(gateway: string, device: string, battery: number): DeviceState {
  return {
    v: PAYLOAD_VERSION,
    gateway,
    device,
    kind: 'imu',
    subject: 's1',
    connected: true,
    battery,
    rssi: -61,
    rateHz: 50.1,
    dropped: 0,
    reconnects: 1,
    lastSeen: new Date().toISOString(),
  };
}
