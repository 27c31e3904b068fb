import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VirtualTimeScheduler } from 'rxjs';
import { NS_PER_S } from '../../../gateway/domain/time.ts';
import { loadRecording } from '../../../gateway/sources/replay/recording.ts';
import { ReplaySource } from '../../../gateway/sources/replay/replay-source.ts';

const DEMO = fileURLToPath(new URL('../../../recordings/demo/', import.meta.url));
const present = existsSync(`${DEMO}recording.json`);

describe(
  'the bundled demo recording',
  { skip: present ? false : `${DEMO} has not been generated yet (encoders make-recording)` },
  () => {
    it('loads, validates and replays every sample at its nominal rate', async () => {
      const rec = await loadRecording(DEMO);
      assert.ok(rec.subjects.length >= 2, 'several subjects');
      assert.ok(
        rec.streams.some((s) => s.modality === 'imu') && rec.streams.some((s) => s.modality === 'pose'),
      );
      assert.ok(rec.labels.length > 0, 'labels for the accuracy test');
      const subjects = new Set(rec.subjects.map((s) => s.id));
      for (const s of rec.streams) {
        assert.ok(s.data.tNs.length > 0, `${s.sourceId} has samples`);
        if (s.subjectId !== undefined) assert.ok(subjects.has(s.subjectId));
      }
      for (const d of rec.devices.filter((d) => d.kind === 'imu')) {
        // Median spacing of the rows against the declared nominal rate.
        const t = rec.streams.find((s) => s.sourceId === d.id)?.data.tNs ?? new Float64Array();
        const gaps = Array.from(
          { length: t.length - 1 },
          (_, i) => (t[i + 1] as number) - (t[i] as number),
        ).sort((a, b) => a - b);
        const median = gaps[Math.floor(gaps.length / 2)] as number;
        assert.ok(
          Math.abs(NS_PER_S / median - d.rateHz) / d.rateHz < 0.05,
          `${d.id}: median rate ${NS_PER_S / median} Hz vs ${d.rateHz} Hz`,
        );
      }

      const scheduler = new VirtualTimeScheduler();
      const source = new ReplaySource(rec, { scheduler, speed: 1000 });
      const counts = new Map<string, number>();
      source.samples$.subscribe((c) => counts.set(c.sourceId, (counts.get(c.sourceId) ?? 0) + c.tNs.length));
      source.start();
      scheduler.flush();
      for (const s of rec.streams) assert.equal(counts.get(s.sourceId), s.data.tNs.length, s.sourceId);
      assert.equal(source.stats().loops, 1);
    });
  },
);
