import { join } from 'node:path';
import { PAYLOAD_VERSION, type ActivityEvent, type DeviceState } from '../../../gateway/domain/events.ts';
import type { Modality } from '../../../gateway/domain/samples.ts';
import { NS_PER_S, nsToIso } from '../../../gateway/domain/time.ts';
import { PointSerializer, type PipelineStats } from '../../../gateway/sinks/influx/line-protocol.ts';
import { loadRecording, type Recording } from '../../../gateway/sources/replay/index.ts';
import { prng } from '../../helpers/prng.ts';
import { SetCounter } from '../../../gateway/pipeline/reps/set-counter.ts';
import { repSettingsFor } from '../../../gateway/pipeline/reps/settings.ts';

/*
 * The gateway's InfluxDB points for one pass of recordings/demo, made by the gateway's own
 * serializer (PointSerializer). The model is not run here: ActivityEvents are generated
 * from the recording's ground truth (labels.csv) — a start for each labelled segment, a
 * change where segments touch, an end where a gap follows. What can be measured from the
 * recording is measured (which modalities have data in a segment, repetitions counted by
 * the gateway's own rep counter, each device's received sample rate and gaps); what a
 * recording does not carry (confidence, latency, battery, RSSI, inference time) is
 * synthesised deterministically and named as such below.
 */

export interface DemoPoints {
  readonly gateway: string;
  readonly lines: string[];
  readonly fromNs: number;
  readonly toNs: number;
  readonly subjects: string[];
  readonly devices: string[];
  readonly events: ActivityEvent[];
}

function count(t: Float64Array, from: number, to: number): number {
  let n = 0;
  for (let i = 0; i < t.length; i++) if (t[i]! >= from && t[i]! < to) n++;
  return n;
}

/**
 * Repetitions as the gateway counts them (gateway/pipeline/reps): the segment's IMU and pose
 * through a SetCounter, for activities that are repetitive by default (the rest count nothing).
 */
function repTimes(
  activity: string,
  imu: { tNs: Float64Array; values: Float32Array } | undefined,
  pose: { tNs: Float64Array; values: Float32Array } | undefined,
  from: number,
  to: number,
): number[] {
  const settings = repSettingsFor(activity);
  if (!settings.repetitive) return [];
  const counter = new SetCounter(settings);
  const range = (t: Float64Array): [number, number] => {
    let a = 0;
    while (a < t.length && t[a]! < from) a++;
    let b = a;
    while (b < t.length && t[b]! < to) b++;
    return [a, b];
  };
  const out: number[] = [];
  if (imu) {
    const [a, b] = range(imu.tNs);
    out.push(...counter.pushImu(imu.tNs.subarray(a, b), imu.values.subarray(a * 6, b * 6)).map((r) => r.tNs));
  }
  if (pose) {
    const [a, b] = range(pose.tNs);
    out.push(
      ...counter.pushPose(pose.tNs.subarray(a, b), pose.values.subarray(a * 51, b * 51)).map((r) => r.tNs),
    );
  }
  return out.sort((x, y) => x - y);
}

export async function demoPoints(repoRoot: string): Promise<DemoPoints> {
  const rec: Recording = await loadRecording(join(repoRoot, 'recordings', 'demo'));
  const gateway = rec.meta.gateway ?? 'demo';
  const t0 = rec.startTimeNs;
  const points = new PointSerializer(gateway);
  const lines: string[] = [];
  const events: ActivityEvent[] = [];
  const random = prng(7);
  const imuOf = new Map(
    rec.streams.filter((s) => s.modality === 'imu' && s.subjectId).map((s) => [s.subjectId!, s]),
  );
  const poseOf = new Map(
    rec.streams.filter((s) => s.modality === 'pose' && s.subjectId).map((s) => [s.subjectId!, s]),
  );
  const subjects = [...new Set(rec.labels.map((l) => l.subject))].sort();
  let seq = 0;

  for (const subject of subjects) {
    const labels = rec.labels.filter((l) => l.subject === subject).sort((a, b) => a.startNs - b.startNs);
    const imu = imuOf.get(subject);
    const pose = poseOf.get(subject);
    let previous: { activity: string; startNs: number; endNs: number } | undefined;
    for (const l of labels) {
      const modalities: Modality[] = [];
      if (imu && count(imu.data.tNs, l.startNs, l.endNs) > 0) modalities.push('imu');
      if (pose && count(pose.data.tNs, l.startNs, l.endNs) > 0) modalities.push('pose');
      const base = {
        v: PAYLOAD_VERSION as typeof PAYLOAD_VERSION,
        gateway,
        subject,
        activity: l.activity,
        activityName: l.activity,
        confidence: 0.55 + 0.4 * random(), // synthesised: no model runs here
        topK: [],
        start: nsToIso(t0 + l.startNs),
        startNs: t0 + l.startNs,
        model: 'demo-labels',
        modelVersion: '0',
        latencyMs: 20 + 30 * random(), // synthesised
        modalities,
        sources: [imu?.sourceId, pose?.sourceId].filter((s): s is string => s !== undefined),
      };
      if (previous && previous.activity === l.activity && previous.endNs === l.startNs) {
        previous = { ...previous, endNs: l.endNs };
        continue;
      }
      if (previous && previous.endNs === l.startNs) {
        events.push({
          ...base,
          transition: 'changed',
          previous: previous.activity,
          end: nsToIso(t0 + l.startNs),
          endNs: t0 + l.startNs,
          seq: ++seq,
        });
      } else {
        if (previous) {
          events.push({
            ...base,
            activity: previous.activity,
            activityName: previous.activity,
            transition: 'ended',
            start: nsToIso(t0 + previous.startNs),
            startNs: t0 + previous.startNs,
            end: nsToIso(t0 + previous.endNs),
            endNs: t0 + previous.endNs,
            seq: ++seq,
          });
        }
        events.push({ ...base, transition: 'started', seq: ++seq });
      }
      repTimes(l.activity, imu?.data, pose?.data, l.startNs, l.endNs).forEach((t, i) => {
        lines.push(...points.reps({ subject, activity: l.activity, count: i + 1, timeNs: t0 + t }));
      });
      previous = { activity: l.activity, startNs: l.startNs, endNs: l.endNs };
    }
    if (previous) {
      events.push({
        v: PAYLOAD_VERSION,
        gateway,
        subject,
        transition: 'ended',
        activity: previous.activity,
        activityName: previous.activity,
        confidence: 0.3,
        topK: [],
        start: nsToIso(t0 + previous.startNs),
        startNs: t0 + previous.startNs,
        end: nsToIso(t0 + previous.endNs),
        endNs: t0 + previous.endNs,
        model: 'demo-labels',
        modelVersion: '0',
        latencyMs: 25,
        seq: ++seq,
        modalities: ['imu'],
        sources: [],
      });
    }
  }
  for (const e of events) lines.push(...points.activity(e));

  // Device and pipeline health every 5 s of recording time.
  const stepNs = 5 * NS_PER_S;
  const devices = rec.devices.map((d) => d.id);
  const dropped = new Map<string, number>();
  for (let t = stepNs; t <= rec.spanNs; t += stepNs) {
    let windows = 0;
    let active = 0;
    for (const d of rec.devices) {
      const streams = rec.streams.filter((s) => s.deviceId === d.id);
      const times = new Set<number>();
      let gaps = dropped.get(d.id) ?? 0;
      for (const s of streams) {
        const tt = s.data.tNs;
        for (let i = 0; i < tt.length; i++) {
          if (tt[i]! >= t - stepNs && tt[i]! < t) {
            times.add(tt[i]!);
            // A gap longer than 1.5 sample periods is counted as dropped samples.
            if (d.kind === 'imu' && i > 0)
              gaps += Math.max(0, Math.round(((tt[i]! - tt[i - 1]!) * d.rateHz) / NS_PER_S) - 1);
          }
        }
        if (s.modality === 'imu')
          windows += Math.max(0, Math.floor((Math.min(t, tt[tt.length - 1] ?? 0) - (tt[0] ?? 0)) / NS_PER_S));
      }
      dropped.set(d.id, gaps);
      if (d.kind === 'imu' && times.size > 0) active++;
      const state: DeviceState = {
        v: PAYLOAD_VERSION,
        gateway,
        device: d.id,
        kind: d.kind,
        subject: d.subjectId,
        connected: times.size > 0,
        battery: d.kind === 'imu' ? 100 - (20 * t) / rec.spanNs : null, // synthesised: recordings carry no battery level
        rssi: d.kind === 'imu' ? -55 - 8 * Math.sin(t / (37 * NS_PER_S)) : null, // synthesised
        rateHz: times.size / 5,
        dropped: gaps,
        reconnects: 0,
        lastSeen: null,
      };
      lines.push(...points.device(state, t0 + t));
    }
    const stats: PipelineStats[] = [
      { stage: 'window:imu', timeNs: t0 + t, windows, queueDepth: 0, dropped: 0 },
      // Synthesised from the figures in ENVIRONMENT.md (~150 µs per IMU window batch).
      {
        stage: 'inference:imu',
        timeNs: t0 + t,
        batchSize: active,
        inferenceUs: 140 + 20 * active,
        queueDepth: active > 2 ? 1 : 0,
        dropped: 0,
        windows,
      },
      { stage: 'sink:mqtt', timeNs: t0 + t, connected: true, queueDepth: 0, dropped: 0 },
      { stage: 'sink:influx', timeNs: t0 + t, connected: true, queueDepth: 0, dropped: 0 },
    ];
    lines.push(...points.pipeline(stats));
  }
  return { gateway, lines, fromNs: t0, toNs: t0 + rec.spanNs, subjects, devices, events };
}
