import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { createMetricsRegistry } from '../../../gateway/observability/metrics.ts';
import { MqttMetrics } from '../../../gateway/sinks/mqtt/metrics.ts';
import { OutboundQueue, type QueueItem } from '../../../gateway/sinks/mqtt/outbound-queue.ts';
import { decodeRecord, encodeRecord } from '../../../gateway/sinks/mqtt/spool.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function queue(
  dir: string,
  memoryMessages = 1000,
  registry = createMetricsRegistry({ defaultMetrics: false }),
) {
  const q = new OutboundQueue({
    spoolDir: dir,
    memoryMessages,
    maxSpoolBytes: 1 << 20,
    segmentBytes: 4096,
    logger: silentLogger(),
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
  it('round-trips and detects a flipped byte', () => {
    const rec = {
      seq: 2 ** 40 + 3,
      topic: 'mujo/gw/subjects/ü/state',
      payload: Buffer.from('{"a":1}'),
      qos: 1 as const,
      retain: true,
      kind: 'subject_state',
    };
    const buf = encodeRecord(rec);
    const r = decodeRecord(buf, 0);
    assert.ok(r.ok);
    assert.deepEqual(r.record, rec);
    assert.equal(r.next, buf.length);
    buf[buf.length - 2] = buf[buf.length - 2]! ^ 1;
    const bad = decodeRecord(buf, 0);
    assert.deepEqual(bad, { ok: false, reason: 'bad_crc' });
    assert.deepEqual(decodeRecord(buf.subarray(0, 10), 0), { ok: false, reason: 'truncated' });
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
