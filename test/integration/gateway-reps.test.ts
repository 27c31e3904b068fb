/**
 * Repetition counting end to end, against real mosquitto: the bundled rep sets
 * (test/fixtures/rep-sets — real UTD-MHAD arm curls and squats of subject 2 taken from the
 * demo recording, 6 reps per set, rebuilt by `python3 -m encoders make-rep-fixture`) replayed
 * through the gateway with the bundled model. The activity comes from the model (not from
 * the labels), the reps from the counter; on the broker: one `rep` event per repetition,
 * numbered 1, 2, … within each set, a `set` summary per set agreeing with its reps, every
 * payload valid against its schema, and the retained subject state carrying the count.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { firstValueFrom } from 'rxjs';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import type { RepsEvent, SubjectState } from '../../gateway/domain/events.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { observe, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

const FIXTURE = 'test/fixtures/rep-sets';
const MODEL_DIR = 'models/default';
// Real-time-ish: at 8× a loaded machine moved the recogniser's set boundaries (4 of 6 squats once).
const SPEED = 2;

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
const validateReps = ajv.compile(
  JSON.parse(readFileSync('config/schemas/mqtt-reps.schema.json', 'utf8')) as object,
);
const validateState = ajv.compile(
  JSON.parse(readFileSync('config/schemas/mqtt-subject-state.schema.json', 'utf8')) as object,
);

const skip =
  existsSync(join(MODEL_DIR, 'manifest.json')) || process.env['MUJO_REQUIRE_DEFAULT_MODEL']
    ? false
    : 'models/default is not built yet (python3 -m encoders train-default)';

let broker: Mosquitto;
let workDir: string;

before(async () => {
  broker = await startMosquitto();
  workDir = await mkdtemp(join(tmpdir(), 'mujo-reps-'));
});

after(async () => {
  await broker?.dispose();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

test(
  'rep sets replayed through the gateway: rep events counted and numbered on mosquitto',
  { skip },
  async () => {
    const truth = JSON.parse(readFileSync(join(FIXTURE, 'sets.json'), 'utf8')) as {
      sets: { activity: string; count: number }[];
    };
    const config = validateConfig({
      gateway: { id: 'gw-reps' },
      mqtt: { url: broker.url, queue: { spoolDir: join(workDir, 'spool') } },
      http: { enabled: false },
      ingest: { enabled: false },
      replay: { path: FIXTURE, speed: SPEED, loop: false },
      log: { level: 'silent' },
    });
    const listener = await observe(broker.url, [
      'mujo/gw-reps/subjects/+/reps',
      'mujo/gw-reps/subjects/+/state',
    ]);
    const app = new GatewayApp(config, { logger: silentLogger() });
    const emitted: RepsEvent[] = [];
    app.reps$.subscribe((e) => emitted.push(e));
    try {
      await app.start();
      const replay = app.replaySource;
      assert.ok(replay);
      await firstValueFrom(replay.done$);
      await app.stop();
      const repMessages = await listener.waitFor((m) => m.topic.endsWith('/reps'), emitted.length, 20_000);
      const received = repMessages.map((m) => {
        const value: unknown = JSON.parse(m.payload.toString());
        assert.ok(validateReps(value), `reps payload: ${ajv.errorsText(validateReps.errors)}`);
        return value as RepsEvent;
      });
      assert.deepEqual(
        received.map((e) => e.seq),
        emitted.map((e) => e.seq),
        'every reps event reaches the broker, once, in order',
      );

      const sets = received.filter((e) => e.kind === 'set');
      if (process.env['MUJO_DEBUG_REPS'])
        for (const e of received)
          console.log(
            e.kind,
            e.activity,
            e.set,
            e.count,
            e.modality,
            e.confidence.toFixed(2),
            e.latencyMs?.toFixed(0),
          );
      const reps = received.filter((e) => e.kind === 'rep');
      assert.ok(sets.length >= truth.sets.length, `${sets.length} set summaries`);
      // Numbering: 1, 2, … within each set; each summary's count is its last rep's number.
      for (const set of sets) {
        const own = reps.filter((r) => r.set === set.set);
        assert.deepEqual(
          own.map((r) => r.count),
          own.map((_, i) => i + 1),
          `set ${set.set} numbering`,
        );
        assert.equal(set.count, own.length, `set ${set.set} summary count`);
        assert.equal(
          own.every((r) => r.activity === set.activity),
          true,
        );
      }
      // Counts per activity within ±1 of the truth (the recogniser may split a set in two).
      for (const t of truth.sets) {
        const counted = reps.filter((r) => r.activity === t.activity).length;
        assert.ok(Math.abs(counted - t.count) <= 1, `${t.activity}: ${counted} reps counted of ${t.count}`);
      }

      const states = listener.messages
        .filter((m) => m.topic === 'mujo/gw-reps/subjects/s2/state')
        .map((m) => {
          const value: unknown = JSON.parse(m.payload.toString());
          assert.ok(validateState(value), `state payload: ${ajv.errorsText(validateState.errors)}`);
          return value as SubjectState;
        });
      assert.ok(
        states.some((s) => s.reps >= 5),
        `the retained state carries the count (max ${Math.max(...states.map((s) => s.reps))})`,
      );
    } finally {
      await app.stop();
      await listener.close();
    }
  },
);
