import assert from 'node:assert/strict';
import {
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import {
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
  SegmentLog,
  type CorruptionReport,
  type EvictionReport,
  type SegmentLogOptions,
} from '../../../gateway/spool/segment-log.ts';

function captureLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

const rec = (i: number, size = 40): Buffer =>
  Buffer.from(`record-${String(i).padStart(6, '0')}-`.padEnd(size, 'x'));

describe('SegmentLog', () => {
  let dir: string;
  let evictions: EvictionReport[];
  let corruptions: CorruptionReport[];
  let log: ReturnType<typeof captureLogger>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mujo-seglog-'));
    evictions = [];
    corruptions = [];
    log = captureLogger();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const make = (over: Partial<SegmentLogOptions> = {}): SegmentLog =>
    new SegmentLog({
      dir,
      prefix: 'test',
      maxBytes: 1 << 20,
      segmentBytes: 1024,
      codePrefix: 'TEST',
      maxBytesKey: 'test.maxSpoolBytes',
      logger: log.logger,
      onEvicted: (r) => evictions.push(r),
      onCorrupt: (r) => corruptions.push(r),
      ...over,
    });
  const files = (): string[] =>
    readdirSync(dir)
      .filter((n) => n.endsWith('.seg'))
      .sort();
  const readAll = (l: SegmentLog, batch = 7): string[] => {
    const out: string[] = [];
    for (;;) {
      const got = l.read(batch);
      if (got.length === 0) return out;
      for (const e of got) {
        out.push(e.payload.toString());
        l.ack(e.position);
      }
    }
  };

  it('reads back in append order across rotated segments, and deletes each segment once acknowledged', () => {
    const l = make();
    l.open();
    const written = Array.from({ length: 200 }, (_, i) => rec(i));
    for (let i = 0; i < written.length; i += 13) l.append(written.slice(i, i + 13));
    assert.ok(files().length > 5, `expected rotation, got ${files().length} segments`);
    // Each sealed segment holds at least one record and stops growing once past segmentBytes.
    for (const f of files()) assert.ok(statSync(join(dir, f)).size < 1024 + 13 * (RECORD_HEADER_BYTES + 40));
    assert.equal(l.pending, 200);
    assert.deepEqual(readAll(l), written.map(String));
    assert.equal(l.pending, 0);
    assert.deepEqual(files(), []);
    assert.equal(l.bytes, 0);
    l.close();
  });

  it('resumes after a restart: records left on disk are scanned, visited and delivered', () => {
    const first = make();
    first.open();
    first.append(Array.from({ length: 50 }, (_, i) => rec(i)));
    // Deliver 20 and stop: the rest must come back after the restart.
    const got = first.read(20);
    for (const e of got) first.ack(e.position);
    first.close();

    const visited: string[] = [];
    const second = make();
    const report = second.open((p) => visited.push(p.toString()));
    const remaining = readAll(second);
    // At least once: a segment that was partly acknowledged is delivered again from its start.
    assert.ok(remaining.length >= 30);
    assert.deepEqual(
      remaining.slice(-30),
      Array.from({ length: 30 }, (_, i) => rec(20 + i).toString()),
    );
    assert.deepEqual(visited, remaining);
    assert.equal(report.records, remaining.length);
    // Segment numbers keep increasing across runs, so order survives restarts.
    second.append([rec(999)]);
    assert.deepEqual(readAll(second), [rec(999).toString()]);
    assert.deepEqual(files(), []);
  });

  it('a corrupt record ends its segment with a coded error; every other segment is delivered', () => {
    const first = make();
    first.open();
    const placed = first.append(Array.from({ length: 120 }, (_, i) => rec(i)));
    first.close();
    const segs = files();
    assert.ok(segs.length >= 4);
    // Flip one payload byte of the 3rd record of the 2nd segment.
    const second = segs[1]!;
    const inSecond = placed.filter((p) => p.segment.name === second);
    const victimEnd = inSecond[2]!.end;
    const path = join(dir, second);
    const bytes = readFileSync(path);
    bytes[victimEnd - 5] = bytes[victimEnd - 5]! ^ 0xff;
    writeFileSync(path, bytes);

    const l = make();
    l.open();
    const got = readAll(l);
    const lostIdx = new Set(
      placed.flatMap((p, i) => (p.segment.name === second && p.end >= victimEnd ? [i] : [])),
    );
    const expected = Array.from({ length: 120 }, (_, i) => i)
      .filter((i) => !lostIdx.has(i))
      .map((i) => rec(i).toString());
    assert.deepEqual(got, expected);
    assert.equal(corruptions.length, 1);
    assert.equal(corruptions[0]!.segment, second);
    assert.equal(corruptions[0]!.reason, 'bad_crc');
    assert.equal(corruptions[0]!.offset, inSecond[1]!.end);
    assert.equal(corruptions[0]!.lostRecords, 0, 'found by the scan: nothing past the damage was counted');
    const err = log.lines.find((x) => x['code'] === 'TEST_SPOOL_CORRUPT');
    assert.ok(err, 'a TEST_SPOOL_CORRUPT error is logged');
    assert.equal(err['level'], 50);
    assert.deepEqual(files(), []);
  });

  it('damage that appears after the scan is caught while reading, and reading goes on', () => {
    const l = make();
    l.open();
    l.append(Array.from({ length: 60 }, (_, i) => rec(i)));
    l.close();
    const segs = files();
    // Zero the length field of the first record of the first segment: bad length or CRC.
    const path = join(dir, segs[0]!);
    const bytes = readFileSync(path);
    bytes.writeUInt32LE(0xfffffff0, SEGMENT_HEADER_BYTES);
    writeFileSync(path, bytes);
    const got = readAll(l);
    assert.equal(corruptions.length, 1);
    assert.equal(corruptions[0]!.reason, 'bad_length');
    assert.equal(
      corruptions[0]!.lostRecords,
      60 - got.length,
      'damage found while reading reports the records it costs',
    );
    assert.ok(got.length > 0 && got.length < 60);
    assert.equal(got[0], rec(60 - got.length).toString(), 'the later segments are delivered in order');
    assert.deepEqual(files(), []);
  });

  it('a torn last record (crash mid-write) and a file with a bad header are reported and skipped', () => {
    const l = make({ segmentBytes: 1 << 20 });
    l.open();
    l.append(Array.from({ length: 10 }, (_, i) => rec(i)));
    l.close();
    const [seg] = files();
    truncateSync(join(dir, seg!), statSync(join(dir, seg!)).size - 3);
    writeFileSync(join(dir, 'test-0000000000000000.seg'), 'not a segment');
    const again = make();
    again.open();
    assert.deepEqual(
      readAll(again),
      Array.from({ length: 9 }, (_, i) => rec(i).toString()),
    );
    assert.deepEqual(corruptions.map((c) => c.reason).sort(), ['bad_header', 'truncated']);
    assert.deepEqual(files(), []);
  });

  it('holds the size cap by evicting the oldest segments, counting every lost record', () => {
    const maxBytes = 4096;
    const l = make({ maxBytes, segmentBytes: 1024 });
    l.open();
    for (let i = 0; i < 400; i += 10) {
      l.append(Array.from({ length: 10 }, (_, k) => rec(i + k)));
      const total = files().reduce((n, f) => n + statSync(join(dir, f)).size, 0);
      assert.equal(total, l.bytes);
      assert.ok(total <= maxBytes, `on disk ${total} > cap ${maxBytes}`);
    }
    const evicted = evictions.reduce((n, e) => n + e.records, 0);
    assert.ok(evicted > 0);
    const left = readAll(l);
    assert.equal(evicted + left.length, 400, 'every record is either delivered or counted as evicted');
    // Oldest first: what is left is exactly the newest records.
    assert.deepEqual(
      left,
      Array.from({ length: left.length }, (_, i) => rec(400 - left.length + i).toString()),
    );
    assert.ok(log.lines.some((x) => x['code'] === 'TEST_SPOOL_EVICTED'));
  });

  it('never evicts a segment whose records are out for delivery', () => {
    const l = make({ maxBytes: 2048, segmentBytes: 1024 });
    l.open();
    l.append(Array.from({ length: 10 }, (_, i) => rec(i)));
    const out = l.read(3);
    l.append(Array.from({ length: 60 }, (_, i) => rec(100 + i)));
    // The first segment is held by the reader: its remaining records are still delivered.
    for (const e of out) l.ack(e.position);
    const rest = readAll(l);
    assert.deepEqual(
      rest.slice(0, 7),
      Array.from({ length: 7 }, (_, i) => rec(3 + i).toString()),
    );
    assert.equal(evictions.reduce((n, e) => n + e.records, 0) + 10 + rest.length - 7, 70);
  });

  it('markRead lets a caller append records it still holds without reading them back', () => {
    const l = make();
    l.open();
    const held = l.append([rec(0), rec(1)]);
    for (const p of held) l.markRead(p);
    l.append([rec(2)]);
    assert.deepEqual(
      l.read(10).map((e) => e.payload.toString()),
      [rec(2).toString()],
    );
    assert.throws(() => l.markRead(held[0]!), /not the oldest segment/);
  });

  it('syncs in the background, also while its segment is sealed and closed under it', async () => {
    const first = make();
    first.open();
    first.append([rec(1), rec(2)]);
    first.syncInBackground();
    first.syncInBackground(); // folded into the one running
    first.close(); // seals (fdatasync) and closes the descriptor the background sync holds
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(first.diskFull, undefined, 'no error from the descriptor closed under the sync');
    const second = make();
    assert.equal(second.open().records, 2);
    assert.deepEqual(readAll(second), [rec(1), rec(2)].map(String));
    second.close();
  });

  it('records larger than the read chunk and empty records round-trip', () => {
    const l = make({ segmentBytes: 8 << 20, maxBytes: 64 << 20 });
    l.open();
    const big = Buffer.alloc(600 * 1024, 7);
    l.append([Buffer.alloc(0), big, rec(1)]);
    const got = l.read(10);
    assert.equal(got.length, 3);
    assert.equal(got[0]!.payload.length, 0);
    assert.ok(got[1]!.payload.equals(big));
    assert.equal(got[2]!.payload.toString(), rec(1).toString());
    for (const e of got) l.ack(e.position);
    assert.deepEqual(files(), []);
  });
});
