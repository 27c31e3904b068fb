/**
 * config/schemas/recording.schema.json is the contract between the recorder, the replay source
 * and the trainer: real recordings pass it, broken ones get a coded error naming each field,
 * and its placement enum is the one list every part of the gateway uses.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import recordingSchema from '../../../config/schemas/recording.schema.json' with { type: 'json' };
import ingestSchema from '../../../config/schemas/mqtt-ingest-imu.schema.json' with { type: 'json' };
import { PLACEMENTS, type Placement } from '../../../gateway/domain/placement.ts';
import { recordingJsonProblems } from '../../../gateway/domain/recording-format.ts';
import { GatewayError } from '../../../gateway/observability/errors.ts';
import { writeManifest, type RecordingJsonOut } from '../../../gateway/sinks/recorder/manifest.ts';
import { PLACEMENT_CODES } from '../../../gateway/sources/mqtt/imu-decode.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'mujo-recschema-'));
after(() => rm(dir, { recursive: true, force: true }));

async function json(relative: string): Promise<unknown> {
  return JSON.parse(await readFile(join(ROOT, relative), 'utf8')) as unknown;
}

const fixtureManifest = (await json('test/fixtures/recording-small/recording.json')) as Omit<
  RecordingJsonOut,
  'source' | 'description' | 'model'
>;

/** What the recorder writes: the fixture's devices and cameras under the recorder's own source block. */
function validManifest(): RecordingJsonOut {
  return {
    ...structuredClone(fixtureManifest),
    description: '',
    source: { recorder: 'mujo-gateway', name: 'r', endTime: null, stopReason: null, droppedRows: {} },
    model: { name: 'default', version: '0.1.0' },
  };
}

describe('recording.schema.json', () => {
  it('accepts the bundled demo, the test fixture and what the recorder writes', async () => {
    assert.deepEqual(recordingJsonProblems(await json('recordings/demo/recording.json')), []);
    assert.deepEqual(recordingJsonProblems(await json('test/fixtures/recording-small/recording.json')), []);
    assert.deepEqual(recordingJsonProblems(validManifest()), []);
  });

  it('names every broken field, with what was expected and what it got', () => {
    const broken = JSON.parse(JSON.stringify(validManifest())) as Record<string, unknown> & {
      devices: Record<string, unknown>[];
      cameras: Record<string, unknown>[];
    };
    broken['formatVersion'] = 2;
    delete broken['subjects'];
    broken.devices[0]!['placement'] = 'nose';
    broken.devices[0]!['rateHz'] = 0;
    broken.cameras[0]!['tracks'] = { one: 'alice' };
    const problems = recordingJsonProblems(broken);
    assert.ok(problems.includes('formatVersion: expected 1 (got 2)'), problems.join('\n'));
    assert.ok(problems.includes('subjects: missing'), problems.join('\n'));
    assert.ok(
      problems.includes(
        'devices[0].placement: expected one of wrist, thigh, chest, ankle, waist, upper_arm, pocket, unknown (got "nose")',
      ),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('devices[0].rateHz: must be > 0')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('cameras[0].tracks: key "one" must be an integer track id')),
      problems.join('\n'),
    );
  });

  it('holds the one placement list: the domain, MQTT ingest and the binary codes use it', () => {
    // Compile time: the Placement union has no member without a binary code; run time below:
    // the codes are exactly the schema's enum. Together the union equals the schema's list.
    const everyPlacementHasACode: [Exclude<Placement, (typeof PLACEMENT_CODES)[number]>] extends [never]
      ? true
      : false = true;
    assert.ok(everyPlacementHasACode);
    const fromSchema = recordingSchema.$defs.placement.enum;
    assert.deepEqual([...PLACEMENTS], fromSchema);
    assert.deepEqual(ingestSchema.properties.placement.enum, fromSchema);
    assert.deepEqual(
      [...PLACEMENT_CODES].sort(),
      [...fromSchema].sort(),
      'every placement has a binary code',
    );
  });
});

describe('writeManifest', () => {
  it('writes a manifest that matches the schema', async () => {
    const path = join(dir, 'ok', 'recording.json');
    await mkdir(join(dir, 'ok'), { recursive: true });
    await writeManifest(path, validManifest());
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), validManifest());
  });

  it('refuses one that does not, with RECORDER_MANIFEST_INVALID, and writes nothing', async () => {
    const path = join(dir, 'recording.json');
    const broken = {
      ...validManifest(),
      devices: [{ ...validManifest().devices[0]!, placement: 'nose' as Placement }],
    };
    await assert.rejects(writeManifest(path, broken), (err: unknown) => {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.code, 'RECORDER_MANIFEST_INVALID');
      assert.match(err.message, /config\/schemas\/recording\.schema\.json/);
      assert.match(err.message, /devices\[0\]\.placement: expected one of .* \(got "nose"\)/);
      return true;
    });
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });
});
