import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { firstValueFrom } from 'rxjs';
import type { ImuChunk } from '../../gateway/domain/samples.ts';
import { HealthRegistry } from '../../gateway/observability/health.ts';
import { Recorder } from '../../gateway/sinks/recorder/index.ts';
import { loadRecording } from '../../gateway/sources/replay/index.ts';
import {
  DEMO_DIR,
  ORIGIN_2026_NS,
  demoChunks,
  feed,
  fixedClock,
  pythonCompare,
  tempDir,
} from '../unit/recorder/support.ts';

/**
 * The disk as it really fails: a tiny tmpfs fills up (needs root to mount; without it the
 * unit test on /dev/full still proves ENOSPC handling), and a FIFO nobody reads stands in
 * for a disk that cannot keep up (writes block in the kernel, as on a stalled SD card).
 */

async function metric(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (
    m?.values
      .filter((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v))
      .reduce((s, x) => s + x.value, 0) ?? 0
  );
}

describe('recorder on a full disk (tmpfs of 64 KiB)', () => {
  let work: { path: string; remove: () => Promise<void> };
  let mountPoint = '';
  let mounted = false;
  let skipReason = '';

  before(async () => {
    work = await tempDir('recorder-tmpfs');
    mountPoint = join(work.path, 'disk');
    await mkdir(mountPoint);
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint], {
      encoding: 'utf8',
    });
    mounted = r.status === 0;
    if (!mounted)
      skipReason = `cannot mount a tmpfs here (${(r.stderr || r.error?.message || '').trim()}); ENOSPC is covered by the /dev/full unit test`;
  });
  after(async () => {
    if (mounted) spawnSync('umount', [mountPoint]);
    await work.remove();
  });

  it('stops with RECORDER_DISK_FULL, health degraded, rows counted, and leaves a readable recording of whole rows', async (t) => {
    if (!mounted) return t.skip(skipReason);
    const { recording: demo, chunks } = await demoChunks(ORIGIN_2026_NS);
    const registry = new Registry();
    const health = new HealthRegistry();
    const recorder = new Recorder({
      gatewayId: 'gw',
      registry,
      health,
      clock: fixedClock(ORIGIN_2026_NS),
      options: { dir: mountPoint },
    });
    const { dir } = await recorder.start({
      name: 'full',
      subjects: demo.subjects,
      devices: demo.devices.map((d) => ({
        id: d.id,
        kind: d.kind,
        subject: d.subjectId,
        ...(d.placement ? { placement: d.placement } : {}),
      })),
      cameras: (demo.meta.cameras ?? []).map((c) => ({ id: c.id, rateHz: c.rateHz, tracks: c.tracks })),
    });
    const stopped = firstValueFrom(recorder.stopped$);
    const fed = await feed(recorder, chunks, 5);
    assert.ok(fed < chunks.reduce((s, c) => s + c.tNs.length, 0), 'the disk filled before the demo ended');
    const summary = await stopped;

    assert.equal(summary.reason, 'disk_full');
    assert.equal(summary.error?.code, 'RECORDER_DISK_FULL');
    assert.equal(health.get('recorder')?.status, 'degraded');
    assert.equal(health.get('recorder')?.error?.code, 'RECORDER_DISK_FULL');
    assert.match(health.get('recorder')?.error?.message ?? '', /disk is full/);
    const dropped = summary.dropped['disk_full'] ?? 0;
    assert.ok(dropped > 0, 'rows that did not fit are counted');
    assert.equal(
      await metric(registry, 'mujo_recorder_dropped_samples_total', { reason: 'disk_full' }),
      dropped,
    );
    const droppedAll = Object.values(summary.dropped).reduce((a, b) => a + b, 0);
    assert.equal(
      summary.rows.imu + summary.rows.pose + droppedAll,
      fed,
      'every row fed is written or counted',
    );
    assert.equal(recorder.recording, false);
    recorder.write(chunks[0] as ImuChunk); // the gateway keeps sending: ignored, no throw

    // Whatever reached the disk is a readable recording: every file cut back to whole rows.
    const back = await loadRecording(dir);
    const written = back.streams.reduce((s, x) => s + x.data.tNs.length, 0);
    assert.equal(written, summary.rows.imu + summary.rows.pose);
    assert.ok(written > 0);
    const py = await pythonCompare(DEMO_DIR, dir);
    for (const [id, d] of [...Object.entries(py.devices), ...Object.entries(py.tracks)]) {
      assert.ok(d.rows <= d.originalRows, id);
      assert.equal(d.maxValueDiff, 0, `${id}: a prefix of the demo's rows, values identical`);
      assert.ok(d.maxTimeDiffNs <= 128, id);
    }
    // A new recording on a disk with room works again and clears the error.
    const elsewhere = join(work.path, 'roomy');
    await recorder.start({ dir: elsewhere });
    assert.equal(health.get('recorder')?.status, 'up');
    await recorder.stop();
  });
});

describe('recorder on a disk that cannot keep up (a FIFO)', () => {
  let work: { path: string; remove: () => Promise<void> };
  before(async () => (work = await tempDir('recorder-fifo')));
  after(async () => work.remove());

  it('bounds what it queues, counts the rest as backpressure, and writes the accepted rows in order once the disk moves', async () => {
    const dir = join(work.path, 'rec');
    await mkdir(join(dir, 'imu'), { recursive: true });
    const fifo = join(dir, 'imu', 'slow.csv');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    const maxQueuedBytesPerFile = 64 * 1024;
    const registry = new Registry();
    const recorder = new Recorder({
      gatewayId: 'gw',
      registry,
      clock: fixedClock(0),
      options: { maxQueuedBytesPerFile, drainTimeoutMs: 30000 },
    });
    await recorder.start({ dir });
    // Nobody reads the FIFO yet: opening it blocks in the kernel, like a stalled disk.
    let fed = 0;
    let maxQueued = 0;
    for (let k = 0; k < 400; k++) {
      const times = Array.from({ length: 50 }, (_, i) => (k * 50 + i) * 1e7);
      const values = new Float32Array(times.length * 6).map((_, i) => Math.fround(Math.sin(k + i) * 9.81));
      recorder.write({ modality: 'imu', sourceId: 'slow', tNs: Float64Array.from(times), values });
      fed += times.length;
      maxQueued = Math.max(maxQueued, recorder.status().queuedBytes ?? 0);
      if (k % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    const backpressure = recorder.status().dropped?.['backpressure'] ?? 0;
    assert.ok(backpressure > 0, 'rows beyond the queue limit are dropped');
    assert.ok(
      maxQueued <= maxQueuedBytesPerFile + 100,
      `queued at most ${maxQueued} bytes (limit ${maxQueuedBytesPerFile})`,
    );
    assert.equal(
      await metric(registry, 'mujo_recorder_dropped_samples_total', { reason: 'backpressure' }),
      backpressure,
    );

    // The disk starts moving: a reader takes everything.
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    reader.stdout.on('data', (d: Buffer) => (text += d.toString()));
    const readerDone = new Promise((r) => reader.on('close', r));
    const summary = await recorder.stop();
    await readerDone;

    assert.equal(summary.rows.imu + backpressure, fed, 'every row is written or counted');
    const lines = text.trim().split('\n');
    assert.equal(lines[0], 't_ns,ax,ay,az,gx,gy,gz');
    assert.equal(
      lines.length - 1,
      summary.rows.imu,
      'the rows the recorder counted are the rows on the "disk"',
    );
    const times = lines.slice(1).map((l) => Number(l.split(',')[0]));
    assert.ok(
      times.every((t, i) => i === 0 || t > (times[i - 1] as number)),
      'in time order',
    );
  });
});
