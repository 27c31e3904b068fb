import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnInfluxChild, type InfluxChild } from '../helpers/influx-child.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../helpers/victoria-metrics.ts';

/*
 * The durability bound for InfluxDB points: whatever the sink accepted is on disk within
 * influx.syncIntervalMs (default 1000 ms), so kill -9 during a database outage loses at most
 * what arrived in that last interval. Real VictoriaMetrics, a real gateway-like child process.
 */
describe(
  'InfluxDB sink: kill -9 during a database outage (real VictoriaMetrics)',
  { timeout: 90_000 },
  () => {
    let vm: VictoriaMetrics;
    let root: string;
    const children: InfluxChild[] = [];
    before(async () => {
      vm = await startVictoriaMetrics({ dedup: true });
      root = mkdtempSync(join(tmpdir(), 'mujo-influx-crash-'));
    });
    after(async () => {
      for (const c of children) await c.kill9();
      await vm.dispose();
      rmSync(root, { recursive: true, force: true });
    });

    it('points accepted more than syncIntervalMs before the kill are delivered after the restart, once each', async () => {
      const spoolDir = join(root, 'spool');
      await vm.stop(); // the outage
      const first = await spawnInfluxChild({ url: vm.url, gatewayId: 'gw-crash', spoolDir });
      children.push(first);
      first.send('write 1 577');
      await first.waitFor('written');
      // The documented bound (1000 ms) and a margin for a loaded machine.
      await new Promise((r) => setTimeout(r, 2500));
      await first.kill9();

      await vm.start();
      const second = await spawnInfluxChild({ url: vm.url, gatewayId: 'gw-crash', spoolDir });
      children.push(second);
      const series = await vm.exportSettled('activity_latency_ms{gateway="gw-crash"}', 577, 30_000);
      const values = series.flatMap((s) => s.values).sort((a, b) => a - b);
      assert.equal(values.length, 577, `expected 577 points, got ${values.length}`);
      assert.deepEqual(
        values,
        Array.from({ length: 577 }, (_, i) => i + 1),
        'each point once',
      );
    });
  },
);
