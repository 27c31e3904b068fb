import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, afterEach, before, describe, it } from 'node:test';
import { HealthRegistry } from '../../../gateway/observability/health.ts';
import { createMetricsRegistry } from '../../../gateway/observability/metrics.ts';
import { imuSampleLines } from '../../../gateway/sinks/influx/line-protocol.ts';
import { resolveInfluxTarget } from '../../../gateway/sinks/influx/options.ts';
import { InfluxSink, type InfluxSinkOptions } from '../../../gateway/sinks/influx/sink.ts';
import { captureLogger, until } from './helpers.ts';

/*
 * Server answers no real server gives on demand (429 with Retry-After, 503, 401, 400 for
 * one line of a batch): a scripted HTTP server on loopback records every request the sink
 * makes and answers what the test says. The sink's real HTTP client (influxdb-client's
 * transport) is used throughout.
 */

interface Received {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly lines: string[];
  readonly at: number;
}

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** What the server answers; a promise holds the answer back (the request stays outstanding). */
type Responder = (req: Received, n: number) => Answer | Promise<Answer>;

const T0 = 1_767_225_600_000_000_000;

describe('InfluxSink over HTTP (scripted server)', () => {
  let server: Server;
  let url: string;
  let received: Received[];
  let respond: Responder;
  /** Requests received and not answered yet. */
  let outstanding = 0;
  let tmp: string;
  const sinks: InfluxSink[] = [];

  before(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        const r: Received = {
          path: req.url ?? '',
          headers: req.headers,
          lines: body.toString('utf8').split('\n'),
          at: Date.now(),
        };
        received.push(r);
        outstanding++;
        void Promise.resolve(respond(r, received.length)).then((answer) => {
          outstanding--;
          res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
          res.end(
            answer.body ??
              (answer.status >= 300
                ? JSON.stringify({ code: 'x', message: `scripted ${answer.status}` })
                : ''),
          );
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    tmp = mkdtempSync(join(tmpdir(), 'mujo-influx-http-'));
  });
  afterEach(async () => {
    for (const s of sinks.splice(0)) await s.stop();
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(tmp, { recursive: true, force: true });
  });

  function make(name: string, over: Partial<InfluxSinkOptions> = {}) {
    received = [];
    outstanding = 0;
    respond = () => ({ status: 204 });
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const health = new HealthRegistry();
    const log = captureLogger();
    const sink = new InfluxSink({
      gatewayId: 'gw',
      url,
      target: { org: 'my org', bucket: 'b1', token: 'secret-token', flavour: '2.x/3.x' },
      spoolDir: join(tmp, name),
      batchSize: 10,
      flushIntervalMs: 20,
      minRetryDelayMs: 20,
      maxRetryDelayMs: 100,
      maxRetries: 2,
      drainTimeoutMs: 2000,
      logger: log.logger,
      registry,
      health,
      ...over,
    });
    sinks.push(sink);
    const count = async (metric: string, labels: Record<string, string> = {}): Promise<number> => {
      const m = await registry.getSingleMetric(metric)?.get();
      return (m?.values ?? [])
        .filter((v) =>
          Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val),
        )
        .reduce((n, v) => n + v.value, 0);
    };
    return { sink, registry, health, log, count };
  }

  const lineOf = (k: number): string =>
    `pipeline,gateway=gw,stage=t queue_depth=${k}i ${1_700_000_000_000_000_000 + k * 1_000_000}`;
  const writeN = (sink: InfluxSink, from: number, n: number): void =>
    sink.writeLines(Array.from({ length: n }, (_, i) => lineOf(from + i)));
  const allLines = (): string[] => received.flatMap((r) => r.lines);

  it('posts to /api/v2/write with org, bucket, ns precision, the token, and gzip for large bodies', async () => {
    const { sink } = make('headers', { batchSize: 100 });
    await sink.start();
    writeN(sink, 0, 100);
    assert.ok(await sink.flush(5000));
    assert.equal(received.length, 1);
    const r = received[0]!;
    const q = new URL(r.path, url);
    assert.equal(q.pathname, '/api/v2/write');
    assert.equal(q.searchParams.get('org'), 'my org');
    assert.equal(q.searchParams.get('bucket'), 'b1');
    assert.equal(q.searchParams.get('precision'), 'ns');
    assert.equal(r.headers['authorization'], 'Token secret-token');
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.deepEqual(
      r.lines,
      Array.from({ length: 100 }, (_, i) => lineOf(i)),
    );
  });

  it('gzipLevel 0 sends the body as it is; level 9 compresses it to the same lines', async () => {
    for (const [level, encoding] of [
      [0, undefined],
      [9, 'gzip'],
    ] as const) {
      const { sink } = make(`gzip-level-${level}`, { batchSize: 100, gzipLevel: level });
      await sink.start();
      writeN(sink, 0, 100);
      assert.ok(await sink.flush(5000));
      assert.equal(received.length, 1);
      assert.equal(received[0]!.headers['content-encoding'], encoding, `level ${level}`);
      assert.deepEqual(
        received[0]!.lines,
        Array.from({ length: 100 }, (_, i) => lineOf(i)),
      );
      await sink.stop();
    }
  });

  it('points the durability bound spills while the server is slow are sent from memory, not read back from disk', async () => {
    const dir = 'keep-spilled';
    const { sink, count } = make(dir, { batchSize: 10, maxInFlight: 1, syncIntervalMs: 200 });
    await sink.start();
    writeN(sink, 0, 10);
    assert.ok(await sink.flush(5000), 'the first write, answered at once');
    // The server now holds its answers: the batch in flight and the 20 points behind it wait
    // past the durability bound and are spilled (and fdatasynced).
    let release: (() => void) | undefined;
    respond = () => new Promise<Answer>((resolve) => (release = () => resolve({ status: 204 })));
    writeN(sink, 10, 30);
    await until(
      'all 30 points spilled',
      async () => (await count('mujo_influx_spilled_points_total')) === 30,
    );
    // Take the spool files away: whatever is read back from disk now is lost (counted as
    // corrupt), whatever is sent from memory still arrives.
    for (const f of readdirSync(join(tmp, dir))) unlinkSync(join(tmp, dir, f));
    respond = () => ({ status: 204 });
    release?.();
    assert.ok(await sink.flush(5000));
    assert.deepEqual(
      allLines().sort(),
      Array.from({ length: 40 }, (_, i) => lineOf(i)).sort(),
      'every line once',
    );
    assert.equal(await count('mujo_influx_spool_corrupt_total'), 0);
    assert.equal(await count('mujo_influx_points_written_total'), 40);
  });

  it('1.8+ target: bucket database/retentionPolicy and token user:password', () => {
    assert.deepEqual(
      resolveInfluxTarget({ org: '', database: 'mujo', retentionPolicy: 'autogen', token: 'u:p' }),
      {
        org: '',
        bucket: 'mujo/autogen',
        token: 'u:p',
        flavour: '1.8+',
      },
    );
    assert.equal(resolveInfluxTarget({ org: '', database: 'mujo' }).bucket, 'mujo');
    assert.throws(
      () => resolveInfluxTarget({ org: '', bucket: 'a', database: 'b' }),
      /influx\.bucket and influx\.database are both set/,
    );
    assert.throws(
      () => resolveInfluxTarget({ org: '' }),
      (e: Error & { code?: string }) => e.code === 'INFLUX_CONFIG',
    );
  });

  it('batches by size and by time', async () => {
    const { sink } = make('batching', { batchSize: 10, flushIntervalMs: 150 });
    await sink.start();
    writeN(sink, 0, 25);
    await until('two full batches', () => received.length >= 2);
    assert.deepEqual(
      received.map((r) => r.lines.length),
      [10, 10],
    );
    await until('the partial batch after flushIntervalMs', () => received.length >= 3);
    assert.equal(received[2]!.lines.length, 5);
    assert.deepEqual(
      allLines(),
      Array.from({ length: 25 }, (_, i) => lineOf(i)),
    );
  });

  it('honours Retry-After on 429 and retries 503 with backoff, delivering everything once', async () => {
    const { sink, count, health } = make('retry-after', { batchSize: 5 });
    await sink.start();
    respond = (_r, n) =>
      n === 1 ? { status: 429, headers: { 'retry-after': '1' } } : n <= 4 ? { status: 503 } : { status: 204 };
    writeN(sink, 0, 30);
    assert.ok(await sink.flush(15000));
    assert.ok(
      received[1]!.at - received[0]!.at >= 1000,
      `second attempt ${received[1]!.at - received[0]!.at} ms after a Retry-After of 1 s`,
    );
    // Once the server has accepted a write, several batches go out at once: any order.
    const ok = received
      .slice(4)
      .flatMap((r) => r.lines)
      .sort();
    assert.deepEqual(
      ok,
      Array.from({ length: 30 }, (_, i) => lineOf(i)).sort(),
      'accepted requests carry every line once',
    );
    assert.equal(await count('mujo_influx_retries_total', { reason: 'http_429' }), 1);
    assert.equal(await count('mujo_influx_retries_total', { reason: 'http_503' }), 3);
    assert.equal(await count('mujo_influx_points_written_total'), 30);
    assert.equal(health.get('influx')?.status, 'up');
    assert.equal(health.get('influx')?.error?.code, 'INFLUX_UNREACHABLE');
  });

  it('finds the refused line of a 400 batch by halving, drops only it and counts it', async () => {
    const { sink, count, log } = make('bad-line', { batchSize: 16 });
    await sink.start();
    const bad = lineOf(11);
    respond = (r) =>
      r.lines.includes(bad)
        ? { status: 400, body: JSON.stringify({ code: 'invalid', message: 'unable to parse' }) }
        : { status: 204 };
    writeN(sink, 0, 16);
    assert.ok(await sink.flush(5000));
    const accepted = received
      .filter((r) => !r.lines.includes(bad))
      .flatMap((r) => r.lines)
      .sort();
    assert.deepEqual(
      accepted,
      Array.from({ length: 16 }, (_, i) => lineOf(i))
        .filter((l) => l !== bad)
        .sort(),
    );
    assert.equal(await count('mujo_influx_points_failed_total', { reason: 'http_400' }), 1);
    assert.equal(await count('mujo_influx_points_written_total'), 15);
    assert.ok(log.codes().includes('INFLUX_WRITE_REJECTED'));
  });

  it('raw IMU: every sample arrives once, and a refused sample inside a chunk is found alone', async () => {
    const { sink, count } = make('imu-raw', { batchSize: 25, imuRaw: true });
    await sink.start();
    const chunks = Array.from({ length: 10 }, (_, c) => ({
      modality: 'imu' as const,
      sourceId: `imu-${c}`,
      subjectId: `p ${c}`,
      tNs: Float64Array.from({ length: 10 }, (_, i) => T0 + c * 1e9 + i * 2e7),
      values: Float32Array.from({ length: 60 }, (_, k) => c * 100 + Math.floor(k / 6) + (k % 6) / 8),
    }));
    // Sample 7 of chunk 4 (ax = 407) is a line the server refuses.
    const bad = (l: string): boolean => l.includes(' ax=407,');
    respond = (r) => (r.lines.some(bad) ? { status: 400 } : { status: 204 });
    for (const ch of chunks) sink.writeImu(ch);
    assert.ok(await sink.flush(5000));
    const want = chunks.flatMap((ch) => imuSampleLines('gw', ch).lines);
    const accepted = received.filter((r) => !r.lines.some(bad)).flatMap((r) => r.lines);
    assert.deepEqual(accepted.sort(), want.filter((l) => !bad(l)).sort(), 'every other sample once');
    assert.ok(
      received.every((r) => r.lines.length <= 25),
      'no request beyond batchSize',
    );
    assert.equal(await count('mujo_influx_points_failed_total', { reason: 'http_400' }), 1);
    assert.equal(await count('mujo_influx_points_written_total'), 99);
  });

  it('raw IMU spilled to disk while the server is away comes back from the spool line for line', async () => {
    const { sink, count } = make('imu-spill', { batchSize: 40, imuRaw: true, memoryQueuePoints: 30 });
    await sink.start();
    let away = true;
    const accepted: string[] = [];
    respond = (r) => {
      if (away) return { status: 503 };
      accepted.push(...r.lines);
      return { status: 204 };
    };
    const chunks = Array.from({ length: 12 }, (_, c) => ({
      modality: 'imu' as const,
      sourceId: `imu ${c % 3}`,
      subjectId: `p=${c % 3}`,
      tNs: Float64Array.from({ length: 10 }, (_, i) => T0 + c * 2e8 + i * 2e7),
      values: Float32Array.from({ length: 60 }, (_, k) => c * 1000 + k * 0.001),
    }));
    for (const ch of chunks) sink.writeImu(ch);
    await until(
      'points spilled past memoryQueuePoints',
      async () => (await count('mujo_influx_spilled_points_total')) >= 90,
    );
    away = false;
    assert.ok(await sink.flush(10000));
    const want = chunks.flatMap((ch) => imuSampleLines('gw', ch).lines);
    assert.deepEqual(accepted.sort(), want.sort(), 'every sample once, byte for byte');
    assert.equal(await count('mujo_influx_points_written_total'), 120);
  });

  it('retries a 401 maxRetries times, then drops the batch with a coded error and goes on', async () => {
    const { sink, count, health, log } = make('unauthorized', { batchSize: 10, maxRetries: 2 });
    await sink.start();
    respond = (_r, n) => (n <= 3 ? { status: 401 } : { status: 204 });
    writeN(sink, 0, 20);
    assert.ok(await sink.flush(5000));
    assert.equal(received.filter((r) => r.lines[0] === lineOf(0)).length, 3, 'first attempt + 2 retries');
    assert.equal(await count('mujo_influx_points_failed_total', { reason: 'http_401' }), 10);
    assert.equal(await count('mujo_influx_points_written_total'), 10);
    assert.deepEqual(
      received.at(-1)!.lines,
      Array.from({ length: 10 }, (_, i) => lineOf(10 + i)),
    );
    assert.equal(health.get('influx')?.error?.code, 'INFLUX_WRITE_REJECTED');
    assert.ok(log.codes().includes('INFLUX_WRITE_REJECTED'));
  });

  it('a request that times out is retried (the point timestamps make the repeat harmless)', async () => {
    const { sink, count } = make('timeout', { batchSize: 5, timeoutMs: 200 });
    await sink.start();
    let stall = true;
    server.prependOnceListener('request', (_req: IncomingMessage, res: ServerResponse) => {
      if (stall) {
        stall = false;
        // Swallow the first answer: let the client time out.
        res.writeHead = (() => res) as unknown as typeof res.writeHead;
        res.end = (() => res) as unknown as typeof res.end;
      }
    });
    writeN(sink, 0, 5);
    assert.ok(await sink.flush(5000));
    assert.equal(await count('mujo_influx_retries_total', { reason: 'timeout' }), 1);
    assert.equal(await count('mujo_influx_points_written_total'), 5);
    assert.deepEqual(
      received.at(-1)!.lines,
      Array.from({ length: 5 }, (_, i) => lineOf(i)),
    );
  });

  it('once the server has accepted a write, maxInFlight requests go out at once, never more', async () => {
    const { sink, count } = make('concurrent', { batchSize: 10, maxInFlight: 3 });
    await sink.start();
    writeN(sink, 0, 10);
    assert.ok(await sink.flush(5000), 'the first write, alone');
    // Hold every answer until three requests are outstanding: one request at a time would
    // never get there, and the flush would not finish.
    let most = 0;
    let held: Array<() => void> = [];
    respond = () => {
      most = Math.max(most, outstanding);
      const answer = new Promise<Answer>((resolve) => held.push(() => resolve({ status: 204 })));
      if (outstanding >= 3) for (const release of held.splice(0)) release();
      return answer;
    };
    writeN(sink, 10, 60);
    assert.ok(await sink.flush(5000), 'six batches written three at a time');
    held = [];
    assert.equal(most, 3);
    assert.deepEqual(
      allLines().sort(),
      Array.from({ length: 70 }, (_, i) => lineOf(i)).sort(),
      'every line once',
    );
    assert.equal(await count('mujo_influx_points_written_total'), 70);
  });

  it('while writes fail, the batches held retry one at a time; after recovery every point arrives once', async () => {
    const { sink, count } = make('probe', { batchSize: 10, maxInFlight: 3 });
    await sink.start();
    writeN(sink, 0, 10);
    assert.ok(await sink.flush(5000));
    // The server fails the next 8 requests, each answer held back a little so that requests
    // sent at the same time overlap at the server and are counted together.
    let failures = 0;
    let firstFailureAnswered = false;
    let mostWhileFailing = 0;
    respond = async () => {
      if (failures >= 8) return { status: 204 };
      failures++;
      if (firstFailureAnswered) mostWhileFailing = Math.max(mostWhileFailing, outstanding);
      await new Promise((r) => setTimeout(r, 30));
      firstFailureAnswered = true;
      return { status: 503 };
    };
    writeN(sink, 10, 30);
    assert.ok(await sink.flush(15000));
    assert.equal(failures, 8);
    assert.equal(mostWhileFailing, 1, 'retries after the first failure go one at a time');
    const accepted = received
      .slice(0, 1)
      .concat(received.slice(9))
      .flatMap((r) => r.lines);
    assert.deepEqual(accepted.sort(), Array.from({ length: 40 }, (_, i) => lineOf(i)).sort());
    assert.equal(await count('mujo_influx_points_written_total'), 40);
    assert.equal(await count('mujo_influx_retries_total', { reason: 'http_503' }), 8);
  });

  it('a server that keeps up gets partial batches before the durability bound: nothing is spilled to disk', async () => {
    // flushIntervalMs 1000 is longer than the durability bound; the sink sends a partial
    // batch after a quarter of syncIntervalMs instead, so the tick finds nothing to spill.
    const { sink, count } = make('no-spill', { batchSize: 1000, flushIntervalMs: 1000, syncIntervalMs: 400 });
    await sink.start();
    for (let round = 0; round < 5; round++) {
      writeN(sink, round * 3, 3);
      await until(`round ${round} at the server`, () => allLines().length >= (round + 1) * 3);
    }
    // The counter moves when the server's answer is read, just after the lines arrived.
    await until(
      'every write acknowledged',
      async () => (await count('mujo_influx_points_written_total')) === 15,
    );
    assert.equal(await count('mujo_influx_spilled_points_total'), 0);
  });
});
