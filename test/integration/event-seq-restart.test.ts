import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lastValueFrom, take } from 'rxjs';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { SequenceFile } from '../../gateway/spool/sequence-file.ts';
import { observe, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

/*
 * Event identity across restarts: `seq` of activity events never repeats for a gateway, so
 * (gateway, seq) is a dedupe key (docs/mqtt.md). Real mosquitto, the real app, restarted.
 */
const EVENTS_PER_RUN = 4;

describe('activity seq across restarts', { timeout: 120_000 }, () => {
  let broker: Mosquitto;
  let workDir: string;
  before(async () => {
    broker = await startMosquitto();
    workDir = await mkdtemp(join(tmpdir(), 'mujo-seq-'));
  });
  after(async () => {
    await broker?.dispose();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  async function run(): Promise<number[]> {
    const config = validateConfig({
      gateway: { id: 'seq1' },
      model: { providers: ['cpu'] },
      mqtt: { url: broker.url, queue: { spoolDir: join(workDir, 'spool') } },
      http: { enabled: false },
      ingest: { enabled: false },
      // The demo through the bundled model announces an activity every few seconds; each run
      // stops after a few events (a 3 s fixture's events hung on wall-clock fusion timing).
      replay: { path: 'recordings/demo', speed: 10, loop: false },
      log: { level: 'silent' },
    });
    // Activity and reps events share the gateway's one sequence.
    const listener = await observe(broker.url, [
      'mujo/seq1/subjects/+/activity',
      'mujo/seq1/subjects/+/reps',
    ]);
    const app = new GatewayApp(config, { logger: silentLogger() });
    let emitted = 0;
    const enough = lastValueFrom(app.activity$.pipe(take(EVENTS_PER_RUN)));
    app.activity$.subscribe(() => emitted++);
    app.reps$.subscribe(() => emitted++);
    try {
      await app.start();
      await enough;
      await app.stop();
      const got = await listener.waitFor(() => true, emitted, 20_000);
      return got.map((m) => (JSON.parse(m.payload.toString()) as { seq: number }).seq);
    } finally {
      await app.stop();
      await listener.close();
    }
  }

  it('a restarted gateway continues above every seq it published before', async () => {
    const first = await run();
    const second = await run();
    assert.ok(first.length > 0 && second.length > 0, `events: ${first.length}, ${second.length}`);
    const seen = new Set(first);
    assert.deepEqual(
      second.filter((s) => seen.has(s)),
      [],
      'no seq of the second run repeats one of the first',
    );
    assert.ok(Math.min(...second) > Math.max(...first), 'and numbering goes on upwards');
    // A clean stop gives back the unused reservation: no gap.
    assert.equal(Math.min(...second), Math.max(...first) + 1);
  });

  it('after a crash (no close) numbering skips the reserved rest instead of repeating', async () => {
    const path = join(workDir, 'crash', 'event-seq.json');
    const a = new SequenceFile({ path, block: 100, logger: silentLogger() });
    a.open();
    const before = Array.from({ length: 250 }, () => a.next());
    // kill -9 here: no close()
    const b = new SequenceFile({ path, block: 100, logger: silentLogger() });
    b.open();
    const next = b.next();
    assert.ok(next > Math.max(...before), `${next} after ${Math.max(...before)}`);
    assert.ok(next <= Math.max(...before) + 101, 'skips at most one block');
    assert.equal(b.boot, 2);
  });
});
