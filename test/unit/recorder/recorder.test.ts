import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { firstValueFrom } from 'rxjs';
import type { ImuChunk, PoseChunk } from '../../../gateway/domain/samples.ts';
import { HealthRegistry } from '../../../gateway/observability/health.ts';
import {
  Recorder,
  RecorderOptionsSchema,
  recorderFromConfig,
  type RecorderOptions,
} from '../../../gateway/sinks/recorder/index.ts';
import { loadRecording } from '../../../gateway/sources/replay/index.ts';
import { Value } from '@sinclair/typebox/value';
import { fixedClock, pythonCompare, tempDir } from './support.ts';

const MS = 1e6;
let root: { path: string; remove: () => Promise<void> };
before(async () => (root = await tempDir('recorder-unit')));
after(async () => root.remove());

let n = 0;
function setup(options: Partial<RecorderOptions> = {}, originNs = 0) {
  const registry = new Registry();
  const health = new HealthRegistry();
  const clock = fixedClock(originNs);
  const recorder = new Recorder({
    gatewayId: 'gw1',
    registry,
    health,
    clock,
    options: { dir: join(root.path, `r${++n}`), ...options },
  });
  return { recorder, registry, health, clock };
}

function imu(
  sourceId: string,
  timesMs: readonly number[],
  base = 0,
  extra: Partial<ImuChunk> = {},
): ImuChunk {
  const values = new Float32Array(timesMs.length * 6);
  timesMs.forEach((t, i) => values.set([t / 7, -9.81, 0.125, 0.001 * t, -t, 1 / 3].map(Math.fround), i * 6));
  return {
    modality: 'imu',
    sourceId,
    tNs: Float64Array.from(timesMs, (t) => base + t * MS),
    values,
    ...extra,
  };
}

function pose(
  sourceId: string,
  timesMs: readonly number[],
  base = 0,
  extra: Partial<PoseChunk> = {},
): PoseChunk {
  const values = new Float32Array(timesMs.length * 51);
  timesMs.forEach((t, i) => {
    for (let k = 0; k < 17; k++)
      values.set([((t + k) % 1000) / 1000, (k + 1) / 18, k % 2 === 0 ? 1 : 0.5], i * 51 + k * 3);
  });
  return {
    modality: 'pose',
    sourceId,
    tNs: Float64Array.from(timesMs, (t) => base + t * MS),
    values,
    ...extra,
  };
}

async function metric(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

describe('Recorder', () => {
  it('writes IMU, pose and labels that the replay reader and the trainer read back exactly', async () => {
    const { recorder, registry, health } = setup();
    const { dir, startTime } = await recorder.start({
      name: 'unit',
      subjects: [{ id: 'alice', name: 'Alice' }],
      devices: [{ id: 'wrist-1', kind: 'imu', subject: 'alice', placement: 'wrist', rateHz: 50 }],
      cameras: [{ id: 'cam1', rateHz: 20, tracks: { '3': 'alice' } }],
      model: { name: 'default', version: '0.1.0' },
    });
    assert.equal(startTime, '1970-01-01T00:00:00.000Z');
    assert.equal(health.get('recorder')?.status, 'up');
    assert.equal(await metric(registry, 'mujo_recorder_active'), 1);
    const imuChunks = [imu('wrist-1', [0, 20, 40, 60]), imu('wrist-1', [80, 100, 120])];
    // Tracks arrive in separate chunks, each ahead of the other in turn; the file must be in time order.
    const poseChunks = [
      pose('cam1/3', [0, 50, 100]),
      pose('cam1/7', [0, 25, 75, 125]),
      pose('cam1/3', [150, 200]),
      pose('cam1/7', [175]),
    ];
    for (const c of [...imuChunks, ...poseChunks]) recorder.write(c);
    recorder.label({ subject: 'alice', startNs: 10 * MS, endNs: 130 * MS, activity: 'squat' });
    recorder.label({ subject: 'bob', startNs: 0, endNs: 50 * MS, activity: 'walk' });
    const summary = await recorder.stop();

    assert.equal(summary.reason, 'requested');
    assert.deepEqual(summary.rows, { imu: 7, pose: 10, labels: 2 });
    assert.deepEqual(summary.dropped, {});
    assert.deepEqual(summary.devices, ['wrist-1']);
    assert.deepEqual(summary.cameras, ['cam1']);

    const poseText = await readFile(join(dir, 'pose', 'cam1.csv'), 'utf8');
    const times = poseText
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => Number(l.split(',')[0]));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
      'pose rows ascending across tracks',
    );
    assert.match(
      (await readFile(join(dir, 'imu', 'wrist-1.csv'), 'utf8')).split('\n')[2] ?? '',
      /^20000000,/,
    );

    const back = await loadRecording(dir);
    const byId = new Map(back.streams.map((s) => [s.sourceId, s]));
    assert.deepEqual([...byId.keys()].sort(), ['cam1/3', 'cam1/7', 'wrist-1']);
    // Zero's sign is not kept ("0", not "-0"): compare values, not Object.is.
    const plain = (a: ArrayLike<number> | undefined) => Array.from(a ?? [], (v) => v + 0);
    const expectImu = plain(imuChunks.flatMap((c) => [...c.values]));
    assert.deepEqual(plain(byId.get('wrist-1')?.data.values), expectImu);
    assert.deepEqual(
      [...(byId.get('wrist-1')?.data.tNs ?? [])],
      imuChunks.flatMap((c) => [...c.tNs]),
    );
    for (const track of ['cam1/3', 'cam1/7']) {
      const chunks = poseChunks.filter((c) => c.sourceId === track);
      assert.deepEqual(
        [...(byId.get(track)?.data.tNs ?? [])],
        chunks.flatMap((c) => [...c.tNs]),
        track,
      );
      assert.deepEqual(
        plain(byId.get(track)?.data.values),
        plain(chunks.flatMap((c) => [...c.values])),
        track,
      );
    }
    assert.equal(byId.get('cam1/3')?.subjectId, 'alice');
    assert.equal(byId.get('cam1/7')?.subjectId, undefined, 'an unassigned track stays unmapped');
    assert.equal(byId.get('wrist-1')?.subjectId, 'alice');
    assert.deepEqual(back.labels, [
      { subject: 'bob', startNs: 0, endNs: 50 * MS, activity: 'walk' },
      { subject: 'alice', startNs: 10 * MS, endNs: 130 * MS, activity: 'squat' },
    ]);
    assert.deepEqual(
      back.subjects.map((s) => s.id),
      ['alice', 'bob'],
      'a labelled subject is added',
    );
    const meta = back.meta;
    assert.equal(meta.gateway, 'gw1');
    assert.deepEqual(meta.model, { name: 'default', version: '0.1.0' });
    assert.equal(meta.devices[0]?.rateHz, 50, 'measured: 7 rows over 120 ms');
    assert.equal(meta.cameras?.[0]?.rateHz, 20, 'measured on the busiest track (cam1/3: 5 rows over 200 ms)');

    const py = await pythonCompare(dir, dir);
    assert.equal(py.devices['wrist-1']?.rows, 7);
    assert.equal(py.tracks['cam1/3']?.rows, 5);
    assert.equal(py.tracks['cam1/7']?.rows, 5);
    assert.equal(py.labels.rows, 2);

    assert.equal(await metric(registry, 'mujo_recorder_rows_written_total', { kind: 'imu' }), 7);
    assert.equal(await metric(registry, 'mujo_recorder_rows_written_total', { kind: 'pose' }), 10);
    assert.equal(await metric(registry, 'mujo_recorder_rows_written_total', { kind: 'label' }), 2);
    assert.equal(await metric(registry, 'mujo_recorder_active'), 0);
    assert.equal(await metric(registry, 'mujo_recorder_recordings_total', { reason: 'requested' }), 1);
    const csvBytes = (
      await Promise.all(['imu/wrist-1.csv', 'pose/cam1.csv', 'labels.csv'].map((f) => readFile(join(dir, f))))
    ).reduce((s, b) => s + b.length, 0);
    assert.equal(await metric(registry, 'mujo_recorder_bytes_written_total'), csvBytes);
    assert.equal(summary.bytes, csvBytes);
  });

  it('drops and counts rows it cannot write in order, before the start, non-finite or on a device clock', async () => {
    const base = 1_000 * MS;
    const { recorder, registry } = setup({ reorderWindowMs: 0 }, base);
    const { dir } = await recorder.start();
    recorder.write(imu('d1', [-20, 0, 20], base)); // -20 ms: before the recording started
    recorder.write(imu('d1', [20, 10, 40], base)); // 20 repeats, 10 goes back
    const bad = imu('d1', [60, 80], base);
    (bad.values as Float32Array)[7] = Number.NaN; // the row at 80 ms
    recorder.write(bad);
    recorder.write(imu('d2', [0, 20], base, { clockDomain: 'device' }));
    recorder.write({ ...imu('d3', [0, 20], base), values: new Float32Array(5) });
    recorder.write(pose('cam1/1', [0, 100], base));
    recorder.write(pose('cam1/2', [50, 150], base)); // 50 ms: older than what was written (window 0)
    recorder.write(pose('no-track', [0], base));
    const summary = await recorder.stop();
    assert.deepEqual(summary.dropped, {
      before_start: 1,
      out_of_order: 2,
      invalid: 1 + 2 + 1,
      device_clock: 2,
      late: 1,
    });
    for (const [reason, count] of Object.entries(summary.dropped)) {
      assert.equal(await metric(registry, 'mujo_recorder_dropped_samples_total', { reason }), count, reason);
    }
    assert.deepEqual(summary.rows, { imu: 4, pose: 3, labels: 0 });
    const back = await loadRecording(dir);
    assert.deepEqual(
      [...(back.streams.find((s) => s.sourceId === 'd1')?.data.tNs ?? [])],
      [0, 20 * MS, 40 * MS, 60 * MS],
    );
    assert.deepEqual(
      await readdir(join(dir, 'imu')),
      ['d1.csv'],
      'files of streams without a row are removed',
    );
  });

  it('validates labels with coded errors naming the value, and closes open labels at stop', async () => {
    const { recorder, clock } = setup({}, 5_000 * MS);
    assert.throws(() => recorder.label({ subject: 's', startNs: 0, endNs: 1, activity: 'a' }), {
      code: 'RECORDER_NOT_RECORDING',
    });
    const { dir } = await recorder.start({ subjects: ['s1'] });
    const at = (ms: number) => 5_000 * MS + ms * MS;
    assert.throws(() => recorder.label({ subject: 's1', startNs: at(10), endNs: at(5), activity: 'squat' }), {
      code: 'RECORDER_BAD_LABEL',
      message: /must be after/,
    });
    assert.throws(() => recorder.label({ subject: 's1', startNs: at(-1), endNs: at(5), activity: 'squat' }), {
      code: 'RECORDER_BAD_LABEL',
      message: /before the recording started/,
    });
    assert.throws(
      () => recorder.label({ subject: 's1', startNs: at(0), endNs: at(5), activity: 'squat,jump' }),
      { code: 'RECORDER_BAD_LABEL', message: /"squat,jump"/ },
    );
    assert.throws(() => recorder.label({ subject: ' s1', startNs: at(0), endNs: at(5), activity: 'squat' }), {
      code: 'RECORDER_BAD_LABEL',
    });
    recorder.write(imu('d1', [0, 20, 40, 60, 80, 100, 120, 140, 160, 180], 5_000 * MS));
    recorder.beginLabel({ subject: 's1', activity: 'squat', atNs: at(20) });
    recorder.beginLabel({ subject: 's1', activity: 'lunge', atNs: at(60) }); // closes squat
    assert.equal(recorder.endLabel({ subject: 's1', atNs: at(100) }), true);
    assert.equal(recorder.endLabel({ subject: 's1', atNs: at(110) }), false);
    recorder.beginLabel({ subject: 's2', activity: 'walk', atNs: at(120) });
    assert.deepEqual(recorder.status().openLabels, [{ subject: 's2', activity: 'walk', startNs: at(120) }]);
    clock.set(at(200));
    await recorder.stop();
    const back = await loadRecording(dir);
    assert.deepEqual(back.labels, [
      { subject: 's1', startNs: 20 * MS, endNs: 60 * MS, activity: 'squat' },
      { subject: 's1', startNs: 60 * MS, endNs: 100 * MS, activity: 'lunge' },
      { subject: 's2', startNs: 120 * MS, endNs: 200 * MS, activity: 'walk' },
    ]);
  });

  it('refuses a second start, an existing recording and a bad name; names default directories by time', async () => {
    const parent = join(root.path, 'named');
    const { recorder } = setup({ dir: parent }, Date.parse('2026-05-06T07:08:09.010Z') * MS);
    await assert.rejects(recorder.stop(), { code: 'RECORDER_NOT_RECORDING' });
    await assert.rejects(recorder.start({ name: 'a/b' }), { code: 'RECORDER_BAD_REQUEST' });
    const first = await recorder.start({ name: 'gym' });
    assert.equal(first.dir, join(parent, '2026-05-06T07-08-09Z-gym'));
    await assert.rejects(recorder.start(), { code: 'RECORDER_BUSY' });
    recorder.write(imu('d1', [0, 10], Date.parse('2026-05-06T07:08:09.010Z') * MS));
    await recorder.stop();
    const second = await recorder.start({ name: 'gym' });
    assert.equal(
      second.dir,
      join(parent, '2026-05-06T07-08-09Z-gym-2'),
      'same second: a new directory, never the old one',
    );
    await recorder.stop();
    await assert.rejects(recorder.start({ dir: first.dir }), {
      code: 'RECORDER_BAD_REQUEST',
      message: /already holds a recording/,
    });
  });

  it('stops cleanly with reason max_bytes before a row would pass the cap', async () => {
    const maxBytes = 20_000;
    const { recorder, registry } = setup({ maxBytes });
    const { dir } = await recorder.start();
    const stopped = firstValueFrom(recorder.stopped$);
    let fed = 0;
    for (let k = 0; recorder.recording && k < 1000; k++) {
      const times = Array.from({ length: 10 }, (_, i) => (k * 10 + i) * 20);
      for (const chunk of [imu('d1', times), pose('cam1/1', times)]) {
        if (!recorder.recording) break;
        recorder.write(chunk);
        fed += chunk.tNs.length;
      }
    }
    const summary = await stopped;
    assert.equal(summary.reason, 'max_bytes');
    assert.equal(recorder.recording, false);
    const files = ['imu/d1.csv', 'pose/cam1.csv', 'labels.csv'];
    const sizes = await Promise.all(files.map(async (f) => (await readFile(join(dir, f))).length));
    const total = sizes.reduce((a, b) => a + b, 0);
    assert.ok(total <= maxBytes, `${total} bytes on disk within the cap ${maxBytes}`);
    assert.ok(total > maxBytes - 1200, `${total} bytes: filled up to the cap (a pose row is < 1200 bytes)`);
    const written = summary.rows.imu + summary.rows.pose;
    assert.equal(written + (summary.dropped['max_bytes'] ?? 0), fed, 'every row fed is written or counted');
    assert.equal(await metric(registry, 'mujo_recorder_recordings_total', { reason: 'max_bytes' }), 1);
    const back = await loadRecording(dir);
    assert.equal(
      back.streams.reduce((s, x) => s + x.data.tNs.length, 0),
      written,
    );
    assert.equal((back.meta.source as { stopReason: string }).stopReason, 'max_bytes');
    await assert.rejects(recorder.stop(), { code: 'RECORDER_NOT_RECORDING' });
  });

  it('reports a file that cannot be opened as RECORDER_WRITE_FAILED, keeps what was written, and keeps running', async () => {
    const { recorder, registry, health } = setup();
    const { dir } = await recorder.start();
    recorder.write(imu('good', [0, 20, 40]));
    await recorder.flush();
    await mkdir(join(dir, 'imu', 'bad.csv')); // opening it for writing fails with EISDIR
    const stopped = firstValueFrom(recorder.stopped$);
    recorder.write(imu('bad', [0, 20]));
    const summary = await stopped;
    assert.equal(summary.reason, 'write_failed');
    assert.equal(summary.error?.code, 'RECORDER_WRITE_FAILED');
    assert.match(summary.error?.message ?? '', /bad\.csv/);
    const h = health.get('recorder');
    assert.equal(h?.status, 'degraded');
    assert.equal(h?.error?.code, 'RECORDER_WRITE_FAILED');
    assert.equal(
      await metric(registry, 'mujo_recorder_dropped_samples_total', { reason: 'write_failed' }),
      2,
    );
    recorder.write(imu('good', [60])); // ignored, no throw
    const back = await loadRecording(dir);
    assert.deepEqual(
      back.streams.map((s) => [s.sourceId, s.data.tNs.length]),
      [['good', 3]],
    );
    // The next recording clears the error.
    await recorder.start();
    assert.equal(health.get('recorder')?.status, 'up');
    await recorder.stop();
  });

  it('reports a disk that refuses bytes (/dev/full, ENOSPC) as RECORDER_DISK_FULL', async () => {
    const { recorder, registry, health } = setup();
    const dir = join(root.path, 'devfull');
    await mkdir(join(dir, 'imu'), { recursive: true });
    const { symlink } = await import('node:fs/promises');
    await symlink('/dev/full', join(dir, 'imu', 'full.csv'));
    await recorder.start({ dir });
    const stopped = firstValueFrom(recorder.stopped$);
    recorder.write(imu('full', [0, 20, 40]));
    const summary = await stopped;
    assert.equal(summary.reason, 'disk_full');
    assert.equal(health.get('recorder')?.error?.code, 'RECORDER_DISK_FULL');
    assert.equal(await metric(registry, 'mujo_recorder_dropped_samples_total', { reason: 'disk_full' }), 3);
  });

  it('exposes a config section whose defaults match the brief', () => {
    const defaults = Value.Default(RecorderOptionsSchema, {}) as RecorderOptions;
    assert.equal(defaults.enabled, false);
    assert.equal(defaults.dir, 'var/recordings');
    assert.equal(defaults.autoStart, false);
    assert.ok(defaults.maxBytes >= 4096);
    assert.equal(Value.Check(RecorderOptionsSchema, defaults), true);
    assert.equal(Value.Check(RecorderOptionsSchema, { ...defaults, maxBytes: 10 }), false);
    assert.equal(Value.Check(RecorderOptionsSchema, { ...defaults, extra: 1 }), false);
    const ctx = { gatewayId: 'gw', registry: new Registry() };
    assert.equal(recorderFromConfig(defaults, ctx), undefined, 'disabled: no recorder');
    const enabled = recorderFromConfig({ ...defaults, enabled: true, maxBytes: 8192 }, ctx);
    assert.equal(enabled?.options.maxBytes, 8192);
  });

  it('writes recording.json while recording, so a crash leaves a readable recording', async () => {
    const { recorder } = setup();
    const { dir } = await recorder.start({ subjects: ['s1'] });
    recorder.write(imu('d1', [0, 20, 40], 0, { subjectId: 's1' }));
    await recorder.flush(); // the rows on disk, and recording.json rewritten to list their device
    const meta = JSON.parse(await readFile(join(dir, 'recording.json'), 'utf8')) as {
      devices: { id: string }[];
      source: { stopReason: string | null };
    };
    assert.deepEqual(
      meta.devices.map((d) => d.id),
      ['d1'],
    );
    assert.equal(meta.source.stopReason, null);
    const back = await loadRecording(dir); // mid-recording, as after a crash
    assert.equal(back.streams[0]?.data.tNs.length, 3);
    await writeFile(join(dir, 'note.txt'), 'a note of the user');
    await recorder.stop();
    assert.equal(
      await readFile(join(dir, 'note.txt'), 'utf8'),
      'a note of the user',
      'other files are left alone',
    );
  });
});
