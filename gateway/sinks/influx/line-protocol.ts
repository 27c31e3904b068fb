import { Point, escape } from '@influxdata/influxdb-client';
import type { ActivityEvent, DeviceState, SubjectState } from '../../domain/events.ts';
import { IMU_CHANNELS, type ImuChunk, type Modality } from '../../domain/samples.ts';
import { NS_PER_MS, NS_PER_S, nsToBigInt, type TimeNs } from '../../domain/time.ts';

/*
 * Line protocol for the measurements of DESIGN.md (InfluxDB table). Numeric fields only, so
 * the same data works on InfluxDB 1.8+/2.x/3.x and compatible stores; every point carries
 * its own nanosecond timestamp taken from the event, so writing a batch twice (a retry, a
 * replayed spool segment) overwrites the same points instead of adding new ones.
 *
 * Field types are fixed per field (InfluxDB refuses a type change within a shard):
 * integers for counts, bitmasks and 0/1 flags, floats for everything measured.
 */

export const MODALITY_BITS: Readonly<Record<Modality, number>> = { imu: 1, pose: 2 };

export function modalityMask(modalities: readonly Modality[]): number {
  let mask = 0;
  for (const m of modalities) mask |= MODALITY_BITS[m];
  return mask;
}

/** A periodic snapshot of one pipeline stage (or sink), written as measurement `pipeline`. */
export interface PipelineStats {
  /** Stage name: `window`, `inference:<encoder>`, `fusion`, `sink:mqtt`, `sink:influx`, an edge name… */
  readonly stage: string;
  readonly timeNs: TimeNs;
  /** Items waiting on this stage now. */
  readonly queueDepth?: number;
  /** Items this stage has dropped since start (cumulative). */
  readonly dropped?: number;
  /** Mean windows per inference batch over the period. */
  readonly batchSize?: number;
  /** Mean inference time per batch over the period, µs. */
  readonly inferenceUs?: number;
  /** Windows this stage has handled since start (cumulative; dashboards take the rate). */
  readonly windows?: number;
  /** For sink stages: connected to the server now. */
  readonly connected?: boolean;
}

/** A repetition count (RepsEvent of the MQTT sink has this shape). */
export interface RepsRecord {
  readonly subject: string;
  readonly activity: string;
  readonly count: number;
  readonly timeNs: TimeNs;
}

/** One averaged IMU sample for measurement `imu`. */
export interface ImuPoint {
  readonly device: string;
  readonly subject?: string | undefined;
  readonly timeNs: TimeNs;
  /** ax, ay, az [m/s²], gx, gy, gz [rad/s]. */
  readonly values: ArrayLike<number>;
}

const ts = (t: TimeNs): string => nsToBigInt(t).toString();

function line(p: Point): string {
  const out = p.toLineProtocol();
  // A point without fields has no line; the callers below always set at least one.
  if (out === undefined) throw new Error(`internal: point ${p.toString()} has no field`);
  return out;
}

/**
 * `activity`: one point where an activity starts (confidence > 0, window_s 0) and one where
 * it stops (confidence 0, window_s = how long it lasted), each in the series of that
 * activity. A `changed` event is both: the new activity starts, the previous one stops.
 * `previousStartNs` (when the caller knows it) gives the stopped activity's duration.
 */
export function activityLines(gateway: string, e: ActivityEvent, previousStartNs?: TimeNs): string[] {
  const modalities = modalityMask(e.modalities);
  const point = (activity: string, confidenceIn: number, windowS: number | undefined, t: TimeNs): string => {
    const confidence = Number.isFinite(confidenceIn) ? confidenceIn : 0;
    const p = new Point('activity')
      .tag('gateway', gateway)
      .tag('subject', e.subject)
      .tag('activity', activity)
      .tag('model', e.model)
      .floatField('confidence', confidence)
      .intField('modalities', modalities)
      .timestamp(ts(t));
    // A value that is not a number is left out: line protocol has no NaN.
    if (Number.isFinite(e.latencyMs)) p.floatField('latency_ms', e.latencyMs);
    if (windowS !== undefined && Number.isFinite(windowS)) p.floatField('window_s', windowS);
    return line(p);
  };
  switch (e.transition) {
    case 'started':
      return [point(e.activity, e.confidence, 0, e.startNs)];
    case 'changed': {
      const out = [point(e.activity, e.confidence, 0, e.startNs)];
      if (e.previous !== undefined) {
        const endNs = e.endNs ?? e.startNs;
        const duration =
          previousStartNs === undefined ? undefined : Math.max(0, endNs - previousStartNs) / NS_PER_S;
        out.push(point(e.previous, 0, duration, endNs));
      }
      return out;
    }
    case 'ended': {
      const endNs = e.endNs ?? e.startNs;
      return [point(e.activity, 0, Math.max(0, endNs - e.startNs) / NS_PER_S, endNs)];
    }
  }
}

export function repsLine(gateway: string, r: RepsRecord): string {
  return line(
    new Point('reps')
      .tag('gateway', gateway)
      .tag('subject', r.subject)
      .tag('activity', r.activity)
      .intField('count', r.count)
      .timestamp(ts(r.timeNs)),
  );
}

/** A subject's state carries its repetition count; nothing to write while it has none. */
export function subjectStateLines(gateway: string, s: SubjectState): string[] {
  if (s.activity === null || s.reps <= 0) return [];
  return [
    repsLine(gateway, {
      subject: s.subject,
      activity: s.activity,
      count: s.reps,
      timeNs: Date.parse(s.updated) * NS_PER_MS,
    }),
  ];
}

/** `device`; unknown values (null) are left out rather than written as 0. */
export function deviceLine(gateway: string, d: DeviceState, timeNs: TimeNs): string {
  const p = new Point('device')
    .tag('gateway', gateway)
    .tag('device', d.device)
    .tag('kind', d.kind)
    .intField('connected', d.connected ? 1 : 0)
    .intField('dropped', d.dropped)
    .intField('reconnects', d.reconnects)
    .timestamp(ts(timeNs));
  if (d.rssi !== null && Number.isFinite(d.rssi)) p.floatField('rssi', d.rssi);
  if (d.battery !== null && Number.isFinite(d.battery)) p.floatField('battery', d.battery);
  if (d.rateHz !== null && Number.isFinite(d.rateHz)) p.floatField('rate_hz', d.rateHz);
  return line(p);
}

/** `pipeline`; undefined returns nothing when the record has no value at all. */
export function pipelineLine(gateway: string, s: PipelineStats): string | undefined {
  const p = new Point('pipeline').tag('gateway', gateway).tag('stage', s.stage).timestamp(ts(s.timeNs));
  let any = false;
  const int = (name: string, v: number | undefined): void => {
    if (v === undefined || !Number.isFinite(v)) return;
    p.intField(name, v);
    any = true;
  };
  const float = (name: string, v: number | undefined): void => {
    if (v === undefined || !Number.isFinite(v)) return;
    p.floatField(name, v);
    any = true;
  };
  int('queue_depth', s.queueDepth);
  int('dropped', s.dropped);
  float('batch_size', s.batchSize);
  float('inference_us', s.inferenceUs);
  int('windows', s.windows);
  if (s.connected !== undefined) int('connected', s.connected ? 1 : 0);
  return any ? line(p) : undefined;
}

const IMU_FIELDS = ['ax', 'ay', 'az', 'gx', 'gy', 'gz'] as const;

/*
 * `imu` is the one measurement written at the sample rate (up to one point per sample of
 * every device), so its lines are built as strings rather than through a `Point` per sample:
 * the tags are the same for a whole chunk and are escaped once (with the client's escaper),
 * field keys are fixed, and the layout is `Point.toLineProtocol`'s (tags sorted by key, empty
 * tag values left out, non-finite values left out) — the unit tests compare the two. Values
 * are written with 9 significant digits (imuValue), not `String(v)`.
 */

/**
 * A sample value as line protocol: 9 significant digits, which is exact for the float32
 * samples travel in (any float32 survives a round trip through 9 digits) and more than any
 * IMU measures. `String(v)` of a float32 widened to a double gives 17 digits ("9.8100004196167")
 * and was the main cost of this measurement (profile in bench/PROFILE.md); toPrecision is
 * several times cheaper and the lines shorter. Integers stay as they are; trailing zeros go.
 */
export function imuValue(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const s = v.toPrecision(9);
  if (s.includes('e')) return s;
  let end = s.length;
  while (s.charCodeAt(end - 1) === 48) end--; // '0'
  if (s.charCodeAt(end - 1) === 46) end--; // '.'
  return end === s.length ? s : s.slice(0, end);
}

/** `imu,device=…,gateway=…[,subject=…] ` — tag values escaped per the line protocol (comma, equals sign, space). */
export function imuPrefix(gateway: string, device: string, subject: string | undefined): string {
  let out = 'imu';
  if (device) out += `,device=${escape.tag(device)}`;
  if (gateway) out += `,gateway=${escape.tag(gateway)}`;
  if (subject) out += `,subject=${escape.tag(subject)}`;
  return out + ' ';
}

/** The field set of one sample, or '' when no value is finite (line protocol has no NaN). */
function imuFields(values: ArrayLike<number>, offset: number): string {
  let fields = '';
  for (let c = 0; c < IMU_FIELDS.length; c++) {
    const v = values[offset + c];
    if (v === undefined || !Number.isFinite(v)) continue;
    fields += `${fields === '' ? '' : ','}${IMU_FIELDS[c]}=${imuValue(v)}`;
  }
  return fields;
}

export function imuLine(gateway: string, s: ImuPoint): string {
  const fields = imuFields(s.values, 0);
  if (fields === '') throw new Error(`internal: imu point of ${s.device} has no finite value`);
  return `${imuPrefix(gateway, s.device, s.subject)}${fields} ${ts(s.timeNs)}`;
}

/**
 * One `imu` line per sample of `chunk`, each at the sample's own (gateway-clock) time, so
 * samples that arrive out of order or close together all stay distinct points. Samples with
 * no finite value are counted in `skipped` (they have no line).
 */
export function imuSampleLines(
  gateway: string,
  chunk: ImuChunk,
  out: string[] = [],
): { lines: string[]; skipped: number } {
  const prefix = imuPrefix(gateway, chunk.sourceId, chunk.subjectId);
  let skipped = 0;
  for (let i = 0; i < chunk.tNs.length; i++) {
    const fields = imuFields(chunk.values, i * IMU_CHANNELS);
    if (fields === '') {
      skipped++;
      continue;
    }
    out.push(`${prefix}${fields} ${ts(chunk.tNs[i] as number)}`);
  }
  return { lines: out, skipped };
}

/**
 * The gateway's points, one call per domain value. Remembers each subject's current
 * activity so a `changed` event can carry how long the previous activity lasted.
 */
export class PointSerializer {
  private readonly current = new Map<string, { activity: string; startNs: TimeNs }>();

  constructor(readonly gateway: string) {}

  activity(e: ActivityEvent): string[] {
    const prev = this.current.get(e.subject);
    const previousStartNs =
      e.transition === 'changed' && prev !== undefined && prev.activity === e.previous
        ? prev.startNs
        : undefined;
    if (e.transition === 'ended') this.current.delete(e.subject);
    else this.current.set(e.subject, { activity: e.activity, startNs: e.startNs });
    return activityLines(this.gateway, e, previousStartNs);
  }

  reps(r: RepsRecord): string[] {
    return [repsLine(this.gateway, r)];
  }

  subjectState(s: SubjectState): string[] {
    return subjectStateLines(this.gateway, s);
  }

  device(d: DeviceState, timeNs: TimeNs): string[] {
    return [deviceLine(this.gateway, d, timeNs)];
  }

  pipeline(stats: readonly PipelineStats[]): string[] {
    const out: string[] = [];
    for (const s of stats) {
      const l = pipelineLine(this.gateway, s);
      if (l !== undefined) out.push(l);
    }
    return out;
  }

  imu(points: readonly ImuPoint[]): string[] {
    return points.map((p) => imuLine(this.gateway, p));
  }
}
