import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  PAYLOAD_VERSION,
  type ActivityEvent,
  type DeviceState,
  type SubjectState,
} from '../../../gateway/domain/events.ts';
import { ImuDownsampler } from '../../../gateway/sinks/influx/imu-downsampler.ts';
import { LineSlabs, writeTimestamp } from '../../../gateway/sinks/influx/line-slabs.ts';
import {
  activityLines,
  deviceLine,
  imuLine,
  imuSampleLines,
  imuValue,
  modalityMask,
  pipelineLine,
  repsLine,
  subjectStateLines,
} from '../../../gateway/sinks/influx/line-protocol.ts';
import { classifyWriteError, parseRetryAfter, retryDelayMs } from '../../../gateway/sinks/influx/retry.ts';
import { HttpError, Point } from '@influxdata/influxdb-client';

const T = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z in ns (exactly representable)

function event(over: Partial<ActivityEvent>): ActivityEvent {
  return {
    v: PAYLOAD_VERSION,
    gateway: 'gw',
    subject: 's1',
    transition: 'started',
    activity: 'squat',
    activityName: 'Squat',
    confidence: 0.75,
    topK: [],
    start: '',
    startNs: T,
    model: 'mujo',
    modelVersion: '1',
    latencyMs: 12.5,
    seq: 1,
    modalities: ['imu', 'pose'],
    sources: [],
    ...over,
  };
}

describe('line protocol', () => {
  it('activity: a start point, and a stop point (confidence 0, duration) for ended and changed', () => {
    assert.deepEqual(activityLines('gw', event({})), [
      `activity,activity=squat,gateway=gw,model=mujo,subject=s1 confidence=0.75,latency_ms=12.5,modalities=3i,window_s=0 ${T}`,
    ]);
    assert.deepEqual(
      activityLines('gw', event({ transition: 'ended', endNs: T + 4_000_000_000, modalities: ['pose'] })),
      [
        `activity,activity=squat,gateway=gw,model=mujo,subject=s1 confidence=0,latency_ms=12.5,modalities=2i,window_s=4 ${T + 4_000_000_000}`,
      ],
    );
    const changed = event({
      transition: 'changed',
      activity: 'lunge',
      previous: 'squat',
      startNs: T + 6e9,
      endNs: T + 6e9,
      modalities: ['imu'],
    });
    assert.deepEqual(activityLines('gw', changed, T), [
      `activity,activity=lunge,gateway=gw,model=mujo,subject=s1 confidence=0.75,latency_ms=12.5,modalities=1i,window_s=0 ${T + 6e9}`,
      `activity,activity=squat,gateway=gw,model=mujo,subject=s1 confidence=0,latency_ms=12.5,modalities=1i,window_s=6 ${T + 6e9}`,
    ]);
    // Without the previous start, the duration is unknown and left out rather than invented.
    assert.doesNotMatch(activityLines('gw', changed)[1]!, /window_s/);
  });

  it('escapes tag values and leaves out values that are not numbers', () => {
    const [l] = activityLines('gw 1', event({ subject: 'Ann, B=2', latencyMs: Number.NaN }));
    assert.equal(
      l,
      `activity,activity=squat,gateway=gw\\ 1,model=mujo,subject=Ann\\,\\ B\\=2 confidence=0.75,modalities=3i,window_s=0 ${T}`,
    );
  });

  it('device, pipeline, reps and imu: numeric fields only, integers typed as such', () => {
    const d: DeviceState = {
      v: PAYLOAD_VERSION,
      gateway: 'gw',
      device: 'wrist-1',
      kind: 'imu',
      subject: null,
      connected: true,
      battery: 87.5,
      rssi: null,
      rateHz: 50.2,
      dropped: 3,
      reconnects: 1,
      lastSeen: null,
    };
    assert.equal(
      deviceLine('gw', d, T),
      `device,device=wrist-1,gateway=gw,kind=imu battery=87.5,connected=1i,dropped=3i,rate_hz=50.2,reconnects=1i ${T}`,
    );
    assert.equal(
      pipelineLine('gw', {
        stage: 'inference:imu',
        timeNs: T,
        queueDepth: 2,
        dropped: 0,
        batchSize: 3.5,
        inferenceUs: 140,
        windows: 99,
      }),
      `pipeline,gateway=gw,stage=inference:imu batch_size=3.5,dropped=0i,inference_us=140,queue_depth=2i,windows=99i ${T}`,
    );
    assert.equal(
      pipelineLine('gw', { stage: 'sink:mqtt', timeNs: T, connected: false }),
      `pipeline,gateway=gw,stage=sink:mqtt connected=0i ${T}`,
    );
    assert.equal(pipelineLine('gw', { stage: 'empty', timeNs: T }), undefined);
    assert.equal(
      repsLine('gw', { subject: 's1', activity: 'squat', count: 7, timeNs: T }),
      `reps,activity=squat,gateway=gw,subject=s1 count=7i ${T}`,
    );
    assert.equal(
      imuLine('gw', { device: 'd', subject: 's1', timeNs: T, values: [1, 2, 3, 0.5, 0, -1] }),
      `imu,device=d,gateway=gw,subject=s1 ax=1,ay=2,az=3,gx=0.5,gy=0,gz=-1 ${T}`,
    );
    const state: SubjectState = {
      v: PAYLOAD_VERSION,
      gateway: 'gw',
      subject: 's1',
      activity: 'squat',
      activityName: 'Squat',
      confidence: 0.8,
      since: null,
      reps: 4,
      updated: '2026-01-01T00:00:01.000Z',
      modalities: [],
      sources: [],
    };
    assert.deepEqual(subjectStateLines('gw', state), [
      `reps,activity=squat,gateway=gw,subject=s1 count=4i ${T + 1e9}`,
    ]);
    assert.deepEqual(subjectStateLines('gw', { ...state, reps: 0 }), []);
    assert.equal(modalityMask([]), 0);
  });

  it('raw IMU: one line per sample at its own time, laid out and escaped as a Point per sample, values exact', () => {
    // Times out of order and 1 µs apart (as arrival stamping can make them), awkward names.
    const tNs = Float64Array.from([T + 40_000_000, T + 20_000_000, T + 20_001_000, T + 1]);
    const values = Float32Array.from([
      ...[1, 2, 3, 0.5, 0, -1],
      ...[9.81, -0.000001, 1e21, 3.3, 2.25, -7],
      ...[NaN, 1, Infinity, 2, -Infinity, 3],
      ...[NaN, NaN, NaN, NaN, NaN, NaN],
    ]);
    const device = 'wrist 1,left=x';
    const subject = 'Ann "A"';
    const { lines, skipped } = imuSampleLines('gw=1', {
      modality: 'imu',
      sourceId: device,
      subjectId: subject,
      tNs,
      values,
    });
    assert.equal(skipped, 1, 'the sample with no finite value has no line and is counted');
    assert.equal(lines.length, 3);
    // The client's Point, one per sample, is the reference for layout and escaping; the
    // values are compared as the float32 they were (this sink writes 9 digits, Point 17).
    const fieldsOf = (line: string): Map<string, number> =>
      new Map(
        line
          .split(/(?<!\\) /)[1]!
          .split(',')
          .map((kv) => [kv.split('=')[0]!, Number(kv.split('=')[1])]),
      );
    [0, 1, 2].forEach((i) => {
      const p = new Point('imu').tag('gateway', 'gw=1').tag('device', device).tag('subject', subject);
      ['ax', 'ay', 'az', 'gx', 'gy', 'gz'].forEach((f, c) => {
        const v = values[i * 6 + c]!;
        if (Number.isFinite(v)) p.floatField(f, v);
      });
      const reference = p.timestamp(BigInt(tNs[i]!).toString()).toLineProtocol()!;
      // key, fields, time: split at the spaces the escaping left unescaped.
      const [refKey, , refTime] = reference.split(/(?<!\\) /);
      const [key, , time] = lines[i]!.split(/(?<!\\) /);
      assert.equal(key, refKey, 'tags and their escaping as Point makes them');
      assert.equal(time, refTime);
      const got = fieldsOf(lines[i]!);
      const want = fieldsOf(reference);
      assert.deepEqual([...got.keys()], [...want.keys()]);
      for (const [k, v] of want)
        assert.equal(Math.fround(got.get(k)!), Math.fround(v), `${k} of sample ${i}`);
    });
    assert.equal(
      lines[0],
      `imu,device=wrist\\ 1\\,left\\=x,gateway=gw\\=1,subject=Ann\\ "A" ax=1,ay=2,az=3,gx=0.5,gy=0,gz=-1 ${T + 40_000_000}`,
    );
    const stamps = lines.map((l) => l.split(' ').at(-1));
    assert.deepEqual(
      stamps,
      [0, 1, 2].map((i) => BigInt(tNs[i]!).toString()),
      'each sample keeps its own time, in the order given',
    );
    assert.equal(new Set(stamps).size, 3, 'samples 1 µs apart stay distinct points');
    const noSubject = imuSampleLines('gw', { modality: 'imu', sourceId: 'd', tNs: tNs.slice(0, 1), values });
    assert.equal(
      noSubject.lines[0],
      `imu,device=d,gateway=gw ax=1,ay=2,az=3,gx=0.5,gy=0,gz=-1 ${T + 40_000_000}`,
    );
  });

  it('raw IMU written into byte slabs is byte for byte what imuSampleLines makes', () => {
    const slabs = new LineSlabs('gw=1', 4096); // small slabs: chunks also start new ones
    // Values across magnitudes and signs, integers, non-finite ones, a sample with none.
    const special = [0, -0, 1, -1, 1e-7, -3.5e-5, 1e8, 123456789, 1e21, NaN, Infinity, 0.001, 99999.99];
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    for (let c = 0; c < 300; c++) {
      const values = Float32Array.from({ length: 60 }, (_, k) =>
        k % 11 === 0 ? special[(c + k) % special.length]! : random() * 10 ** (((c + k) % 9) - 4),
      );
      if (c % 50 === 0) values.fill(NaN, 0, 6);
      const chunk = {
        modality: 'imu' as const,
        sourceId: `wrist ${c},left=x`,
        subjectId: c % 3 === 0 ? undefined : `Ann "${c}"`,
        // Nanosecond times above 2^53 (today's) and below (a device clock from its boot).
        tNs: Float64Array.from({ length: 10 }, (_, i) =>
          c % 4 === 0 ? c * 1e9 + i * 2e7 + 0.4 : T + c * 1e9 + i * 2e7 + c * 256,
        ),
        values,
      };
      const want = imuSampleLines('gw=1', chunk);
      const got = slabs.imuChunk(chunk);
      assert.equal(got.count, want.lines.length, `chunk ${c}`);
      assert.equal(got.skipped, want.skipped, `chunk ${c}`);
      assert.equal(
        got.slab.toString('utf8', got.start, got.end),
        want.lines.map((l) => `${l}\n`).join(''),
        `chunk ${c}`,
      );
    }
  });

  it('timestamps written without BigInt are the exact integers BigInt makes', () => {
    const buf = Buffer.alloc(32);
    let seed = 3;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 20000; i++) {
      const t = [
        random() * 4.5e18,
        random() * 2 ** 53,
        T + random() * 1e15,
        2 ** 53 + i * 2,
        4.6e18 + i * 1024,
      ][i % 5]!;
      const end = writeTimestamp(buf, 0, t);
      assert.equal(buf.toString('latin1', 0, end), BigInt(Math.round(t)).toString(), `${t}`);
    }
  });

  it('IMU values: 9 significant digits, exact for every float32, short for round numbers', () => {
    assert.equal(imuValue(9.81), '9.81');
    assert.equal(imuValue(Math.fround(9.81)), '9.81000042');
    assert.equal(imuValue(-1), '-1');
    assert.equal(imuValue(0.5), '0.5');
    assert.equal(imuValue(1e-7), '1.00000000e-7');
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    for (let k = 0; k < 20000; k++) {
      u32[0] = (k * 2654435761) >>> 0; // spread over every exponent
      const v = f32[0]!;
      if (!Number.isFinite(v)) continue;
      assert.equal(Math.fround(Number(imuValue(v))), v, `float32 ${v} through ${imuValue(v)}`);
    }
  });

  it('IMU downsampling averages into epoch-aligned buckets, so a replay yields the same points', () => {
    const chunk = (t0: number, n: number) => ({
      modality: 'imu' as const,
      sourceId: 'd1',
      subjectId: 's1',
      tNs: Float64Array.from({ length: n }, (_, i) => t0 + i * 20_000_000),
      values: Float32Array.from({ length: n * 6 }, (_, i) => Math.floor(i / 6)),
    });
    const a = new ImuDownsampler(10);
    const out = [...a.push(chunk(T + 10_000_000, 7)), ...a.push(chunk(T + 150_000_000, 10)), ...a.flush()];
    // Samples at 10, 30, …, 130 ms | 150 … 330 ms → buckets [0,100), [100,200), [200,300), [300,400) ms.
    assert.deepEqual(
      out.map((p) => (p.timeNs - T) / 1e6),
      [0, 100, 200, 300],
    );
    assert.deepEqual(
      out.map((p) => p.values[0]),
      [2, (5 + 6 + 0 + 1 + 2) / 5, (3 + 4 + 5 + 6 + 7) / 5, (8 + 9) / 2],
    );
    const b = new ImuDownsampler(10);
    const again = [...b.push(chunk(T + 10_000_000, 7)), ...b.push(chunk(T + 150_000_000, 10)), ...b.flush()];
    assert.deepEqual(again, out);
  });
});

describe('retry policy', () => {
  const http = (status: number, retryAfter?: string) =>
    new HttpError(
      status,
      'x',
      '',
      retryAfter,
      'application/json',
      undefined,
      retryAfter ? { 'retry-after': retryAfter } : {},
    );

  it('classifies failures', () => {
    assert.deepEqual(
      [429, 503, 502, 504, 408, 500, 401, 404, 400, 413, 422].map((s) => classifyWriteError(http(s)).kind),
      ['away', 'away', 'away', 'away', 'away', 'limited', 'limited', 'limited', 'split', 'split', 'split'],
    );
    assert.equal(
      classifyWriteError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })).reason,
      'econnrefused',
    );
    assert.equal(
      classifyWriteError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })).kind,
      'away',
    );
    assert.equal(
      classifyWriteError(Object.assign(new Error('cert'), { code: 'CERT_HAS_EXPIRED' })).kind,
      'limited',
    );
    assert.equal(classifyWriteError(http(429, '7')).retryAfterMs, 7000);
  });

  it('Retry-After in seconds or as an HTTP date', () => {
    assert.equal(parseRetryAfter('3', 0), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
    assert.equal(parseRetryAfter('soon', 0), undefined);
  });

  it('backs off exponentially with jitter, capped, and lets Retry-After win', () => {
    const f = { kind: 'away' as const, reason: 'x', message: '' };
    const o = { minDelayMs: 100, maxDelayMs: 1000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 9].map((a) => retryDelayMs(a, f, o, () => 0)),
      [50, 100, 200, 400, 500, 500],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5, 9].map((a) => retryDelayMs(a, f, o, () => 1)),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.equal(
      retryDelayMs(1, { ...f, retryAfterMs: 3000 }, o, () => 0),
      3000,
    );
    assert.equal(
      retryDelayMs(1, { ...f, retryAfterMs: 3_600_000 }, o, () => 0),
      10_000,
    );
  });
});
