import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadRecording } from '../../../gateway/sources/replay/recording.ts';
import { GatewayError } from '../../../gateway/observability/errors.ts';

const FIXTURE = fileURLToPath(new URL('../../fixtures/recording-small/', import.meta.url));
const MS = 1_000_000;

const temps: string[] = [];
after(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

/** A copy of the fixture with one file changed, so each case breaks exactly one thing. */
async function brokenCopy(change: (dir: string) => Promise<void>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mujo-rec-'));
  temps.push(dir);
  await cp(FIXTURE, dir, { recursive: true });
  await change(dir);
  return dir;
}

// Each case pokes an arbitrary path into the JSON; typing every shape would hide the intent.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function editJson(dir: string, edit: (json: Record<string, any>) => void): Promise<void> {
  const path = join(dir, 'recording.json');
  const json = JSON.parse(await readFile(path, 'utf8'));
  edit(json);
  await writeFile(path, JSON.stringify(json));
}

async function editText(dir: string, file: string, edit: (text: string) => string): Promise<void> {
  const path = join(dir, file);
  await writeFile(path, edit(await readFile(path, 'utf8')));
}

async function rejectsWith(dir: string, code: string, ...fragments: string[]): Promise<void> {
  await assert.rejects(loadRecording(dir), (err: unknown) => {
    assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const f of fragments)
      assert.ok(err.message.includes(f), `message "${err.message}" should mention "${f}"`);
    return true;
  });
}

describe('loadRecording', () => {
  it('reads the fixture: subjects, devices, one stream per IMU and per camera track, labels, span', async () => {
    const rec = await loadRecording(FIXTURE);
    assert.deepEqual(
      rec.subjects.map((s) => s.id),
      ['s1', 's2'],
    );
    assert.deepEqual(
      rec.devices.map((d) => [d.id, d.kind, d.subjectId, d.placement, d.rateHz, d.sourceIds]),
      [
        ['imu-s1', 'imu', 's1', 'wrist', 50, ['imu-s1']],
        ['imu-s2', 'imu', 's2', 'thigh', 50, ['imu-s2']],
        ['cam1', 'camera', null, null, 20, ['cam1/1', 'cam1/2', 'cam1/7']],
      ],
    );
    const byId = new Map(rec.streams.map((s) => [s.sourceId, s]));
    assert.equal(byId.get('imu-s1')?.data.tNs.length, 150);
    assert.equal(byId.get('imu-s1')?.data.values.length, 150 * 6);
    // 25 samples of imu-s2 fall in its 1.0-1.5 s gap.
    assert.equal(byId.get('imu-s2')?.data.tNs.length, 150 - 25);
    assert.equal(byId.get('cam1/1')?.subjectId, 's1');
    assert.equal(byId.get('cam1/2')?.subjectId, 's2');
    assert.equal(byId.get('cam1/7')?.subjectId, undefined, 'unmapped track has no subject');
    assert.equal(byId.get('cam1/7')?.data.tNs.length, 4);
    assert.equal(byId.get('cam1/1')?.data.values.length, 60 * 51);
    // First imu-s1 row: t=0, ax = sin(0) = 0, az = 9.81.
    assert.equal(byId.get('imu-s1')?.data.values[2], Math.fround(9.81));
    assert.equal(rec.labels.length, 3);
    assert.deepEqual(rec.labels[0], { subject: 's1', startNs: 0, endNs: 1500 * MS, activity: 'wave' });
    // Last imu-s2 sample at 2985 ms + one 20 ms period.
    assert.equal(rec.spanNs, 3005 * MS);
    assert.equal(rec.startTimeNs, Date.parse('2026-01-01T00:00:00.000Z') * MS);
  });

  it('REPLAY_NOT_FOUND for a missing directory, recording.json or CSV, naming the path and field', async () => {
    await rejectsWith(join(tmpdir(), 'no-such-recording-dir'), 'REPLAY_NOT_FOUND', 'no-such-recording-dir');
    await rejectsWith(
      await brokenCopy((d) => unlink(join(d, 'recording.json'))),
      'REPLAY_NOT_FOUND',
      'recording.json',
    );
    await rejectsWith(
      await brokenCopy((d) => unlink(join(d, 'pose', 'cam1.csv'))),
      'REPLAY_NOT_FOUND',
      'cameras[0].file',
      'cam1.csv',
    );
  });

  it('REPLAY_INVALID for recording.json problems, naming file and field', async () => {
    await rejectsWith(
      await brokenCopy((d) => writeFile(join(d, 'recording.json'), '{"format":')),
      'REPLAY_INVALID',
      'recording.json',
      'not valid JSON',
    );
    await rejectsWith(
      await brokenCopy((d) => editJson(d, (j) => (j.devices[1].rateHz = 'fast'))),
      'REPLAY_INVALID',
      'recording.json',
      'devices[1].rateHz',
      '"fast"',
    );
    await rejectsWith(
      await brokenCopy((d) => editJson(d, (j) => (j.formatVersion = 2))),
      'REPLAY_INVALID',
      'formatVersion',
    );
    await rejectsWith(
      await brokenCopy((d) => editJson(d, (j) => (j.devices[0].placement = 'nose'))),
      'REPLAY_INVALID',
      'config/schemas/recording.schema.json',
      'devices[0].placement',
      '"nose"',
    );
    await rejectsWith(
      await brokenCopy((d) => editJson(d, (j) => delete j.subjects)),
      'REPLAY_INVALID',
      'subjects',
    );
    await rejectsWith(
      await brokenCopy((d) => editJson(d, (j) => (j.cameras[0].tracks['2'] = 's9'))),
      'REPLAY_INVALID',
      'cameras[0].tracks.2',
      's9',
    );
    await rejectsWith(
      await brokenCopy((d) => editJson(d, (j) => (j.devices[1].id = 'imu-s1'))),
      'REPLAY_INVALID',
      'devices[1].id',
      'duplicate',
    );
    await rejectsWith(
      await brokenCopy((d) => editJson(d, (j) => (j.devices[0].file = '../../etc/passwd'))),
      'REPLAY_INVALID',
      'devices[0].file',
    );
    await rejectsWith(
      await brokenCopy((d) => editJson(d, (j) => (j.startTime = 'yesterday'))),
      'REPLAY_INVALID',
      'startTime',
    );
  });

  it('REPLAY_INVALID for CSV problems, naming file, line and column', async () => {
    await rejectsWith(
      await brokenCopy((d) => editText(d, 'imu/imu-s1.csv', (t) => t.replace('t_ns,ax', 't,ax'))),
      'REPLAY_INVALID',
      'imu-s1.csv:1',
      'header',
    );
    await rejectsWith(
      await brokenCopy((d) =>
        editText(d, 'imu/imu-s1.csv', (t) =>
          t
            .split('\n')
            .map((l, i) => (i === 3 ? l.replace(/,[^,]*$/, ',abc') : l))
            .join('\n'),
        ),
      ),
      'REPLAY_INVALID',
      'imu-s1.csv:4',
      'column gz',
      '"abc"',
    );
    // An empty cell must not be read as 0.
    await rejectsWith(
      await brokenCopy((d) =>
        editText(d, 'imu/imu-s1.csv', (t) =>
          t
            .split('\n')
            .map((l, i) => (i === 5 ? l.replace(/^([^,]*),[^,]*/, '$1,') : l))
            .join('\n'),
        ),
      ),
      'REPLAY_INVALID',
      'imu-s1.csv:6',
      'column ax',
    );
    await rejectsWith(
      await brokenCopy((d) =>
        editText(d, 'imu/imu-s1.csv', (t) => {
          const lines = t.split('\n');
          [lines[10], lines[11]] = [lines[11] as string, lines[10] as string];
          return lines.join('\n');
        }),
      ),
      'REPLAY_INVALID',
      'imu-s1.csv:12',
      't_ns must increase',
    );
    await rejectsWith(
      await brokenCopy((d) =>
        editText(d, 'pose/cam1.csv', (t) =>
          t
            .split('\n')
            .map((l, i) => (i === 2 ? l.split(',').slice(0, 20).join(',') : l))
            .join('\n'),
        ),
      ),
      'REPLAY_INVALID',
      'cam1.csv:3',
      'expected 53 columns',
    );
    await rejectsWith(
      await brokenCopy((d) => editText(d, 'labels.csv', (t) => t + 's3,0,1000,walk\n')),
      'REPLAY_INVALID',
      'labels.csv:5',
      '"s3"',
    );
    await rejectsWith(
      await brokenCopy((d) =>
        editText(d, 'labels.csv', (t) => t.replace('s2,0,3000000000', 's2,3000000000,0')),
      ),
      'REPLAY_INVALID',
      'labels.csv:3',
      'end_ns',
    );
  });
});
