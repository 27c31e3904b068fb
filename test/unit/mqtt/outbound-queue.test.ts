import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { createMetricsRegistry } from '../../../gateway/observability/metrics.ts';
import { MqttMetrics } from '../../../gateway/sinks/mqtt/metrics.ts';
import { OutboundQueue, type QueueItem } from '../../../gateway/sinks/mqtt/outbound-queue.ts';
import { decodeSpoolRecord, encodeSpoolRecord } from '../../../gateway/sinks/mqtt/spool-record.ts';
import { decodeRecord, frameRecord } from '../../../gateway/spool/segment-log.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function queue(
  dir: string,
  memoryMessages = 1000,
  registry = createMetricsRegistry({ defaultMetrics: false }),
  logger: Logger = silentLogger(),
) {
  const q = new OutboundQueue({
    spoolDir: dir,
    memoryMessages,
    maxSpoolBytes: 1 << 20,
    segmentBytes: 4096,
    logger,
    metrics: new MqttMetrics(registry),
  });
  q.open();
  return q;
}
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mujo-q-'));
  dirs.push(d);
  return d;
}
const msg = (n: number, retain = false, topic = retain ? 'state' : 'events') => ({
  topic,
  payload: Buffer.from(String(n)),
  qos: 1 as const,
  retain,
  kind: 'test',
});
const body = (i: QueueItem) => Number(i.payload.toString());

function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** Takes everything out, acknowledging as it goes. */
function drain(q: OutboundQueue): number[] {
  const out: number[] = [];
  for (let item = q.next(); item; item = q.next()) {
    out.push(body(item));
    q.ack(item);
  }
  return out;
}

describe('spool record codec', () => {
  it('round-trips inside SegmentLog framing, which detects a flipped byte', () => {
    const rec = {
      seq: 2 ** 40 + 3,
      topic: 'mujo/gw/subjects/ü/state',
      payload: Buffer.from('{"a":1}'),
      qos: 1 as const,
      retain: true,
      kind: 'subject_state',
    };
    const buf = frameRecord(encodeSpoolRecord(rec));
    const r = decodeRecord(buf, 0);
    assert.ok(r.ok);
    assert.deepEqual(decodeSpoolRecord(r.payload), rec);
    assert.equal(r.next, buf.length);
    buf[buf.length - 2] = buf[buf.length - 2]! ^ 1;
    const bad = decodeRecord(buf, 0);
    assert.deepEqual(bad, { ok: false, reason: 'bad_crc' });
    assert.deepEqual(decodeRecord(buf.subarray(0, 10), 0), { ok: false, reason: 'truncated' });
  });

  it('rejects a body whose fields do not fit together', () => {
    const body = encodeSpoolRecord({
      seq: 1,
      topic: 't',
      payload: Buffer.alloc(0),
      qos: 0,
      retain: false,
      kind: 'k',
    });
    assert.equal(decodeSpoolRecord(body.subarray(0, 11)), undefined, 'shorter than the fixed fields');
    const longTopic = Buffer.from(body);
    longTopic.writeUInt16LE(2, 11); // topic length past the end
    assert.equal(decodeSpoolRecord(longTopic), undefined);
    const qos3 = Buffer.from(body);
    qos3[8] = 3;
    assert.equal(decodeSpoolRecord(qos3), undefined, 'QoS 3 does not exist');
  });
});

describe('OutboundQueue ordering', () => {
  it('keeps publish order across memory, spills, in-flight requeues and a restart', () => {
    const dir = tempDir();
    const q = queue(dir, 5);
    for (let i = 0; i < 3; i++) q.push(msg(i));
    const a = q.next()!;
    const b = q.next()!;
    assert.deepEqual([body(a), body(b)], [0, 1]);
    for (let i = 3; i < 20; i++) q.push(msg(i)); // crosses the memory cap: everything memory-only spills
    assert.ok(q.spoolBytes > 0);
    assert.ok(q.memoryOnlyCount <= 5);
    q.requeue(b); // connection lost before its PUBACK
    q.ack(a);
    const c = q.next()!;
    assert.equal(body(c), 1, 'a requeued message goes out before anything newer');
    q.ack(c);
    const d = q.next()!; // in flight when the process stops: stays on disk
    assert.equal(body(d), 2);
    q.spill();
    q.close();
    assert.equal(q.size, 18);

    const q2 = queue(dir, 5);
    assert.equal(q2.size, 18, 'unacknowledged messages survive a restart');
    for (let i = 20; i < 25; i++) q2.push(msg(i));
    assert.deepEqual(
      drain(q2),
      [...Array(23).keys()].map((i) => i + 2),
      'spooled first, in order, then new ones',
    );
    assert.equal(q2.size, 0);
    assert.equal(q2.spoolBytes, 0, 'delivered segments are deleted');
  });

  it('coalesces retained messages per topic, in memory and on disk', () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const q = queue(tempDir(), 1000, registry);
    q.push(msg(1, true));
    q.push(msg(2));
    q.push(msg(3, true));
    q.spill();
    q.push(msg(4, true));
    q.push(msg(5));
    assert.deepEqual(drain(q), [2, 4, 5], 'only the newest retained state is sent, events all');
    assert.equal(q.size, 0);
  });
});

describe('OutboundQueue events first', () => {
  it('sends events ahead of state queued before them, each topic in its own order', () => {
    const q = queue(tempDir());
    // A hop: state for three subjects, then an event, state again for one of them, one more event.
    q.push(msg(1, true, 'state/a'));
    q.push(msg(2, true, 'state/b'));
    q.push(msg(3, true, 'state/c'));
    q.push(msg(4, false, 'activity/a'));
    q.push(msg(5, true, 'state/a')); // supersedes 1
    q.push(msg(6, false, 'activity/b'));
    assert.deepEqual(drain(q), [4, 6, 2, 3, 5]);
    assert.equal(q.size, 0);
  });

  it('after a backlog, events queued behind it are not overtaken by newer events', () => {
    const q = queue(tempDir(), 1000);
    q.push(msg(1, false, 'activity/a'));
    q.spill(); // broker away: the backlog is on disk
    q.push(msg(2, true, 'state/a')); // queued behind the backlog, in seq order
    q.push(msg(3, false, 'activity/a'));
    const backlog = q.next()!;
    assert.equal(body(backlog), 1);
    q.ack(backlog);
    const state = q.next()!; // the disk is drained: what waited behind it moves up
    assert.equal(body(state), 2);
    q.push(msg(4, false, 'activity/a')); // a new event while 3 is still queued
    q.ack(state);
    assert.deepEqual(drain(q), [3, 4], 'the event topic keeps its order');
    q.push(msg(5, true, 'state/b'));
    q.push(msg(6, false, 'activity/b'));
    assert.deepEqual(drain(q), [6, 5], 'events first again once the backlog is gone');
  });

  it('a requeued event goes out first again; a spill and a restart lose nothing and resend nothing delivered', () => {
    const dir = tempDir();
    const q = queue(dir, 1000);
    q.push(msg(1, true, 'state/a'));
    q.push(msg(2, false, 'activity/a'));
    q.push(msg(3, true, 'state/b'));
    const event = q.next()!;
    assert.equal(body(event), 2);
    q.requeue(event); // connection lost before its PUBACK
    const again = q.next()!;
    assert.equal(body(again), 2, 'the requeued event is still first');
    const state = q.next()!;
    assert.equal(body(state), 1);
    q.ack(state);
    q.push(msg(4, false, 'activity/b'));
    q.spill(); // everything memory-only to disk; the event in flight stays held
    q.push(msg(5, false, 'activity/c')); // backlog on disk: seq order from here
    assert.deepEqual(
      [q.next(), q.next(), q.next()].map((i) => body(i!)),
      [3, 4, 5],
    );
    q.spill(); // what the sink does on stop
    q.close();
    const q2 = queue(dir, 1000);
    const restored = q2.next()!;
    q2.push(msg(6, false, 'activity/d')); // an event now waits for the backlog from disk
    q2.ack(restored);
    assert.deepEqual(
      [body(restored), ...drain(q2)],
      [2, 3, 4, 5, 6],
      'every unacknowledged message survives the restart, the backlog ahead of new events',
    );
  });
});

describe('OutboundQueue spool across restarts', () => {
  it('does not re-send the delivered head of a partly delivered segment after a restart', () => {
    const dir = tempDir();
    const q = queue(dir, 5);
    for (let i = 0; i < 40; i++) q.push(msg(i)); // spilled: one segment holds them all
    assert.equal(q.spoolSegments.length, 1);
    for (let i = 0; i < 12; i++) {
      const item = q.next()!;
      assert.equal(body(item), i);
      q.ack(item);
    }
    q.spill(); // what the sink does on stop: the last few were memory-only
    q.close();

    const q2 = queue(dir, 5);
    assert.equal(q2.size, 28, 'the 12 acknowledged ones are not counted again');
    assert.deepEqual(
      drain(q2),
      [...Array(28).keys()].map((i) => i + 12),
    );
    q2.push(msg(99));
    const next = q2.next()!;
    assert.ok(next.seq > 40, `new seqs stay above what was on disk (${next.seq})`);
    assert.equal(q2.spoolBytes, 0);
  });
});

describe('OutboundQueue with an old-format spool (seg-*.spool)', () => {
  /** What the previous version wrote: "MJSP" v1 header, then the same framing around the same body. */
  function writeLegacy(dir: string, firstSeq: number, count: number, tail = Buffer.alloc(0)): string {
    const records = Array.from({ length: count }, (_, i) =>
      frameRecord(encodeSpoolRecord({ seq: firstSeq + i, ...msg(firstSeq + i, (firstSeq + i) % 10 === 0) })),
    );
    const name = `seg-${String(firstSeq).padStart(16, '0')}.spool`;
    writeFileSync(
      join(dir, name),
      Buffer.concat([Buffer.from('MJSP\u0001\u0000\u0000\u0000', 'latin1'), ...records, tail]),
    );
    return name;
  }

  it('carries the old files over once, in order, honouring their delivered mark, then deletes them', () => {
    const dir = tempDir();
    // seqs 1-30 and 31-50; a torn record at the end of the second; 1-5 delivered before the upgrade.
    const a = writeLegacy(dir, 1, 30);
    const b = writeLegacy(dir, 31, 20, Buffer.from([9, 0, 0, 0, 1, 2]));
    const mark = Buffer.alloc(8);
    mark.writeBigUInt64LE(5n);
    writeFileSync(join(dir, 'delivered'), mark);
    const keep = tempDir();
    copyFileSync(join(dir, a), join(keep, a));
    copyFileSync(join(dir, b), join(keep, b));

    const registry = createMetricsRegistry({ defaultMetrics: false });
    const { logger, lines } = capturingLogger();
    const q = queue(dir, 1000, registry, logger);
    const legacy = lines.filter((l) => l['code'] === 'MQTT_SPOOL_LEGACY');
    assert.equal(legacy.length, 1);
    assert.deepEqual(legacy[0]!['files'], [join(dir, a), join(dir, b)]);
    assert.equal(legacy[0]!['messages'], 45);
    const corrupt = lines.filter((l) => l['code'] === 'MQTT_SPOOL_CORRUPT');
    assert.equal(corrupt.length, 1, 'the torn tail is reported');
    assert.equal(corrupt[0]!['reason'], 'truncated');
    assert.equal(corrupt[0]!['file'], join(dir, b));
    assert.equal(
      readdirSync(dir).filter((f) => f.endsWith('.spool')).length,
      0,
      'old files deleted once carried over',
    );
    assert.ok(readdirSync(dir).some((f) => f.endsWith('.seg')));
    assert.equal(q.size, 45);
    q.close();

    // A crash before the deletion: the old files are found again, but nothing is duplicated.
    copyFileSync(join(keep, a), join(dir, a));
    copyFileSync(join(keep, b), join(dir, b));
    const q2 = queue(dir, 1000, registry);
    assert.equal(q2.size, 45);
    q2.push(msg(1000));
    // Retained "state" messages at seqs 10..50 step 10: only the newest (50) is sent.
    const expected = [...Array(45).keys()].map((i) => i + 6).filter((n) => n % 10 !== 0 || n === 50);
    assert.deepEqual(drain(q2), [...expected, 1000]);
    assert.equal(q2.spoolBytes, 0);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.spool') || f.endsWith('.seg')),
      [],
    );
  });
});
