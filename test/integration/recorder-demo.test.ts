import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { HealthRegistry } from '../../gateway/observability/health.ts';
import { Recorder, type RecordingSummary } from '../../gateway/sinks/recorder/index.ts';
import { loadRecording, type Recording } from '../../gateway/sources/replay/index.ts';
import {
  DEMO_DIR,
  ORIGIN_2026_NS,
  demoChunks,
  feed,
  fixedClock,
  float64HalfSpacingNs,
  pythonCompare,
  tempDir,
  type PythonComparison,
} from '../unit/recorder/support.ts';

/**
 * Round trip of the bundled demo recording: replay plays it (on a 2026 gateway clock), the
 * recorder records what it emits plus the demo's labels, and both readers (replay's loader
 * and the trainer's read_recording) must see the demo's samples again.
 */
describe('recorder round trip of the demo recording', () => {
  let work: { path: string; remove: () => Promise<void> };
  let demo: Recording;
  let recorded: Recording;
  let summary: RecordingSummary;
  let fedRows = 0;
  let python: PythonComparison;
  const registry = new Registry();
  const health = new HealthRegistry();
  // The gateway clock holds float64: near 1.77e18 ns that is a multiple of 256 ns.
  const timeToleranceNs = float64HalfSpacingNs(ORIGIN_2026_NS * 1.001);

  before(async () => {
    work = await tempDir('recorder-demo');
    const played = await demoChunks(ORIGIN_2026_NS);
    demo = played.recording;
    const recorder = new Recorder({
      gatewayId: 'demo',
      registry,
      health,
      clock: fixedClock(ORIGIN_2026_NS),
      options: { dir: work.path },
    });
    const { dir } = await recorder.start({
      name: 'demo-copy',
      subjects: demo.subjects,
      devices: demo.devices.map((d) => ({
        id: d.id,
        kind: d.kind,
        subject: d.subjectId,
        ...(d.placement === null ? {} : { placement: d.placement }),
        rateHz: d.rateHz,
      })),
      cameras: (demo.meta.cameras ?? []).map((c) => ({ id: c.id, rateHz: c.rateHz, tracks: c.tracks })),
      model: { name: 'default', version: '0.1.0' },
    });
    fedRows = await feed(recorder, played.chunks);
    for (const l of demo.labels) {
      recorder.label({
        subject: l.subject,
        startNs: ORIGIN_2026_NS + l.startNs,
        endNs: ORIGIN_2026_NS + l.endNs,
        activity: l.activity,
      });
    }
    summary = await recorder.stop();
    recorded = await loadRecording(dir);
    python = await pythonCompare(DEMO_DIR, dir);
  });
  after(async () => work.remove());

  it('writes every row it was given, drops none', () => {
    assert.equal(summary.reason, 'requested');
    assert.deepEqual(summary.dropped, {});
    const demoRows = demo.streams.reduce((s, x) => s + x.data.tNs.length, 0);
    assert.equal(fedRows, demoRows);
    assert.equal(summary.rows.imu + summary.rows.pose, demoRows);
    assert.equal(summary.rows.labels, demo.labels.length);
    assert.equal(health.get('recorder')?.status, 'up');
  });

  it('replay reads back the identical float32 samples, times within float64 resolution', () => {
    assert.deepEqual(
      recorded.streams.map((s) => s.sourceId).sort(),
      demo.streams.map((s) => s.sourceId).sort(),
    );
    for (const original of demo.streams) {
      const copy = recorded.streams.find((s) => s.sourceId === original.sourceId);
      assert.ok(copy, original.sourceId);
      assert.equal(copy.subjectId, original.subjectId, `${original.sourceId} subject`);
      assert.equal(copy.modality, original.modality);
      assert.equal(copy.data.tNs.length, original.data.tNs.length, `${original.sourceId} rows`);
      let maxDt = 0;
      for (let i = 0; i < original.data.tNs.length; i++) {
        maxDt = Math.max(maxDt, Math.abs((copy.data.tNs[i] as number) - (original.data.tNs[i] as number)));
      }
      assert.ok(
        maxDt <= timeToleranceNs,
        `${original.sourceId}: times within ${timeToleranceNs} ns (max ${maxDt})`,
      );
      const a = original.data.values;
      const b = copy.data.values;
      assert.equal(b.length, a.length);
      for (let i = 0; i < a.length; i++) {
        if (a[i] !== b[i]) assert.fail(`${original.sourceId} value #${i}: ${a[i]} recorded as ${b[i]}`);
      }
    }
  });

  it('keeps devices, placements, measured rates and the labels', () => {
    for (const d of demo.meta.devices) {
      const copy = recorded.meta.devices.find((x) => x.id === d.id);
      assert.equal(copy?.placement, d.placement);
      assert.equal(copy?.subject, d.subject);
      assert.ok(
        Math.abs((copy?.rateHz ?? 0) - d.rateHz) < 0.5,
        `${d.id}: measured ${copy?.rateHz} Hz vs nominal ${d.rateHz}`,
      );
    }
    assert.deepEqual(recorded.meta.cameras?.[0]?.tracks, demo.meta.cameras?.[0]?.tracks);
    assert.equal(recorded.labels.length, demo.labels.length);
    recorded.labels.forEach((l, i) => {
      const o = demo.labels[i];
      assert.equal(l.subject, o?.subject);
      assert.equal(l.activity, o?.activity);
      assert.ok(
        Math.abs(l.startNs - (o?.startNs ?? 0)) <= timeToleranceNs &&
          Math.abs(l.endNs - (o?.endNs ?? 0)) <= timeToleranceNs,
        `label ${i}`,
      );
    });
    assert.equal(recorded.meta.startTime, '2026-01-01T00:00:00.000Z');
  });

  it("the trainer's reader (encoders.data.recording) reads the same samples as from the demo", () => {
    assert.equal(python.gateway, 'demo');
    assert.deepEqual(python.model, { name: 'default', version: '0.1.0' });
    assert.deepEqual(Object.keys(python.devices).sort(), demo.meta.devices.map((d) => d.id).sort());
    for (const [id, d] of [...Object.entries(python.devices), ...Object.entries(python.tracks)]) {
      assert.equal(d.rows, d.originalRows, `${id}: all rows`);
      assert.equal(d.maxValueDiff, 0, `${id}: values identical as float64 (same decimals)`);
      assert.ok(
        d.maxTimeDiffNs <= timeToleranceNs,
        `${id}: t_ns within ${timeToleranceNs} ns (got ${d.maxTimeDiffNs})`,
      );
    }
    assert.equal(Object.keys(python.tracks).length, 4);
    assert.equal(python.labels.rows, python.labels.originalRows);
    assert.equal(python.labels.sameActivities, true);
    assert.ok(python.labels.maxDiffNs <= timeToleranceNs);
  });

  it('counts what it wrote in the metrics', async () => {
    const text = await registry.metrics();
    assert.match(text, new RegExp(`mujo_recorder_rows_written_total\\{kind="imu"\\} ${summary.rows.imu}\\b`));
    assert.match(
      text,
      new RegExp(`mujo_recorder_rows_written_total\\{kind="pose"\\} ${summary.rows.pose}\\b`),
    );
    assert.match(text, new RegExp(`mujo_recorder_bytes_written_total ${summary.bytes}\\b`));
    assert.match(text, /mujo_recorder_active 0\b/);
  });
});
