/**
 * Enrollment at the gateway on real servers: the bundled demo recording replays (looping)
 * through the bundled model against a real mosquitto; a client enrolls one class live over
 * MQTT and another from the recording's intervals over REST; the events that follow carry
 * the new class ids. Bad enrollments get coded errors while events keep flowing; versions can
 * be listed, rolled back, activated and a class removed; the bundled model is never written.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GatewayApp } from '../../gateway/app.ts';
import { validateConfig } from '../../gateway/config/index.ts';
import type { ActivityEvent } from '../../gateway/domain/events.ts';
import { validateManifest } from '../../gateway/model/manifest.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { commandRequest, observe, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

const MODEL_DIR = 'models/default';
const DEMO = 'recordings/demo';
const GW = 'enr';
const TOKEN = 'enroll-test-token';
/** Fast, so a pass of the demo (and the enrolled intervals' return) comes around quickly. */
const SPEED = 40;

const skip = existsSync(join(MODEL_DIR, 'manifest.json')) ? false : 'models/default is not built yet';

let broker: Mosquitto;
let workDir: string;

before(async () => {
  broker = await startMosquitto();
  workDir = await mkdtemp(join(tmpdir(), 'mujo-enroll-'));
});

after(async () => {
  await broker?.dispose();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

interface Reply {
  ok: boolean;
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
}

test(
  'enroll over MQTT and REST: the next events carry the new classes; bad requests are coded; versions roll back',
  { skip },
  async () => {
    const bundledBefore = await readFile(join(MODEL_DIR, 'manifest.json'), 'utf8');
    const storeDir = join(workDir, 'models');
    const config = validateConfig({
      gateway: { id: GW },
      mqtt: { url: broker.url, queue: { spoolDir: join(workDir, 'spool') } },
      http: { enabled: true, port: 0, token: TOKEN },
      ingest: { enabled: false },
      replay: { path: DEMO, speed: SPEED, loop: true },
      enrollment: { storeDir, graceS: 5 },
      log: { level: 'silent' },
    });
    const listener = await observe(broker.url, [`mujo/${GW}/subjects/+/activity`, `mujo/${GW}/response/+`]);
    const app = new GatewayApp(config, { logger: silentLogger() });
    const events: ActivityEvent[] = [];
    app.activity$.subscribe((e) => events.push(e));

    // Commands that change the gateway carry the command token (http.token here).
    const mqttRequest = (action: string, body: object) =>
      commandRequest<Reply>(listener, GW, TOKEN, action, body, 60_000);
    const activityOnMqtt = (activity: string) =>
      listener.waitFor(
        (m) =>
          m.topic.endsWith('/activity') &&
          (JSON.parse(m.payload.toString()) as ActivityEvent).activity === activity,
        1,
        120_000,
      );

    try {
      const endpoints = await app.start();
      const http = endpoints.http!;
      const rest = async (method: string, path: string, body?: object, token: string | null = TOKEN) => {
        const res = await fetch(`${http}${path}`, {
          method,
          headers: {
            ...(body ? { 'content-type': 'application/json' } : {}),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      // Subjects appear once the replay runs; wait for the first events.
      await listener.waitFor((m) => m.topic.endsWith('/activity'), 1, 60_000);
      const bundled = app.models.requireCurrent();

      // --- live enrollment over MQTT: the next 4 s of s4 are 'my_move' ---------------------------
      const live = await mqttRequest('enroll', { subject: 's4', class: 'my_move', seconds: 4 });
      assert.equal(live.ok, true, JSON.stringify(live.error));
      const liveResult = live.result as {
        model: { version: string; dir: string };
        classes: { id: string; k: number; windows: Record<string, number>; modalities: string[] }[];
        timings: { collectMs: number; buildMs: number; loadMs: number };
      };
      assert.equal(liveResult.classes[0]!.id, 'my_move');
      assert.deepEqual(liveResult.classes[0]!.modalities, ['imu', 'pose']);
      assert.ok(liveResult.classes[0]!.windows['imu']! >= 3);
      assert.equal(app.models.requireCurrent().version, liveResult.model.version);
      console.log(`live enrollment (MQTT, 4 s of data at ${SPEED}x): ${JSON.stringify(liveResult.timings)}`);

      // --- from the recording's intervals over REST: s2's first jog is 'my_jog' ------------------
      const unauthorised = await rest('POST', '/api/model/enroll', { recording: DEMO }, null);
      assert.equal(unauthorised.status, 401);
      const started = performance.now();
      const fromRecording = await rest('POST', '/api/model/enroll', {
        recording: DEMO,
        class: 'my_jog',
        name: 'My jog',
        intervals: [{ subject: 's2', startS: 0, endS: 2.78 }],
      });
      const restMs = performance.now() - started;
      assert.equal(fromRecording.status, 201, JSON.stringify(fromRecording.body));
      const recResult = fromRecording.body as unknown as typeof liveResult;
      console.log(
        `recording enrollment (REST, 1 interval): ${restMs.toFixed(0)} ms request, ${JSON.stringify(recResult.timings)}`,
      );
      const classes = await rest('GET', '/api/model/classes');
      const listed = classes.body['classes'] as {
        id: string;
        name: string;
        enrolled: { k: number } | null;
      }[];
      assert.equal(listed.length, bundled.classes.length + 2);
      assert.equal(listed.find((c) => c.id === 'my_jog')?.name, 'My jog');
      assert.equal(listed.find((c) => c.id === 'my_move')?.enrolled?.k, 1);
      assert.equal(listed.find((c) => c.id === 'jog')?.enrolled, null);

      // The next events carry the new classes (the demo loops over the enrolled intervals).
      await activityOnMqtt('my_jog');
      await activityOnMqtt('my_move');

      // --- bad enrollments: coded errors, the model keeps serving, events keep flowing ------------
      const serving = app.models.requireCurrent().version;
      const unknownSubject = await mqttRequest('enroll', { subject: 'nobody', class: 'x_move' });
      assert.equal(unknownSubject.error?.code, 'ENROLL_UNKNOWN_SUBJECT');
      const tooFew = await mqttRequest('enroll', { subject: 's6', class: 'short_move', seconds: 2.2 });
      assert.equal(tooFew.error?.code, 'ENROLL_TOO_FEW_WINDOWS', JSON.stringify(tooFew));
      const empty = await rest('POST', '/api/model/enroll', {
        recording: DEMO,
        class: 'tiny',
        intervals: [{ subject: 's2', startS: 5, endS: 5.5 }],
      });
      assert.equal(empty.status, 422);
      assert.equal((empty.body['error'] as { code: string }).code, 'ENROLL_EMPTY_INTERVAL');
      const badId = await rest('POST', '/api/model/enroll', { subject: 's2', class: 'Not An Id' });
      assert.equal((badId.body['error'] as { code: string }).code, 'ENROLL_BAD_REQUEST');
      const unknownClass = await rest('DELETE', '/api/model/classes/no_such_class');
      assert.equal(unknownClass.status, 404);
      assert.equal((unknownClass.body['error'] as { code: string }).code, 'ENROLL_UNKNOWN_CLASS');
      // Busy: a second change while a live enrollment collects (enroll() holds the lock from its call).
      const slow = app.enrollment.enroll({ subject: 's8', class: 's8_move', seconds: 6 });
      const busy = await rest('POST', '/api/model/rollback');
      const busyMqtt = await mqttRequest('remove_class', { class: 'my_move' });
      assert.equal(busyMqtt.error?.code, 'ENROLL_BUSY');
      assert.equal((await slow).classes[0]?.id, 's8_move');
      assert.equal(busy.status, 409);
      assert.equal((busy.body['error'] as { code: string }).code, 'ENROLL_BUSY');
      const afterErrors = events.length;
      await listener.waitFor((m) => m.topic.endsWith('/activity'), afterErrors + 3, 60_000);
      assert.ok(app.models.requireCurrent().version !== serving); // s8_move was added

      // --- versions: list, roll back, remove a class, activate the bundled model ------------------
      const versions = await mqttRequest('list_versions', {});
      const listedVersions = (
        versions.result as { versions: { version: string; bundled: boolean; active: boolean }[] }
      ).versions;
      assert.equal(listedVersions.length, 4); // bundled + three enrollments
      assert.equal(listedVersions.filter((v) => v.active).length, 1);
      const back = await mqttRequest('rollback_model', {});
      assert.equal(back.ok, true, JSON.stringify(back.error));
      assert.equal(app.models.requireCurrent().version, recResult.model.version);
      const removed = await rest('DELETE', '/api/model/classes/my_move');
      assert.equal(removed.status, 200, JSON.stringify(removed.body));
      const afterRemove = app.models.requireCurrent();
      assert.ok(!afterRemove.classes.some((c) => c.id === 'my_move'));
      assert.ok(afterRemove.classes.some((c) => c.id === 'my_jog'));
      assert.deepEqual(
        afterRemove.manifest.enrollment?.classes.map((c) => c.id),
        ['my_jog'],
      );
      const toBundled = await rest('POST', '/api/model/activate', { version: 'bundled' });
      assert.equal(toBundled.status, 200, JSON.stringify(toBundled.body));
      assert.equal(app.models.requireCurrent().dir, bundled.dir);
      const active = JSON.parse(readFileSync(join(storeDir, 'active.json'), 'utf8')) as {
        active: string | null;
      };
      assert.equal(active.active, null);

      // Every stored version is a valid, self-contained model directory.
      for (const entry of (await readdir(storeDir, { withFileTypes: true })).filter((e) => e.isDirectory())) {
        const file = join(storeDir, entry.name, 'manifest.json');
        validateManifest(JSON.parse(await readFile(file, 'utf8')), file);
      }
      assert.equal(await readFile(join(MODEL_DIR, 'manifest.json'), 'utf8'), bundledBefore);
    } finally {
      await app.stop();
      await listener.close();
    }
  },
);
