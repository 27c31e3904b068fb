/*
 * Reliability soak (not a test): the real gateway process (gateway/main.ts) replays the demo
 * recording in a loop through the default model, publishing to a real mosquitto and writing
 * to a real VictoriaMetrics; in the middle the broker is down for a while, then the database.
 * Every 30 s the gateway's RSS is sampled. At the end (SIGTERM, drain) it counts:
 *   events: generated (the gateway's seq numbering: 1..N) vs received by a persistent
 *           subscriber (distinct seq, duplicates, order);
 *   points: the `activity` points those events make (the sink's own serialiser run over the
 *           received events, one sample per series and millisecond) vs stored in VictoriaMetrics.
 *
 *   node --import tsx bench/reliability/soak.ts [--minutes 6] [--speed 5]
 *
 * Writes bench/reliability/results.json.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ActivityEvent } from '../../gateway/domain/events.ts';
import { PointSerializer } from '../../gateway/sinks/influx/line-protocol.ts';
import { freePort, observe, startMosquitto } from '../../test/helpers/mosquitto.ts';
import { startVictoriaMetrics } from '../../test/helpers/victoria-metrics.ts';

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '6' }, speed: { type: 'string', default: '5' } },
});
const minutes = Number(values.minutes);
const speed = Number(values.speed);
const HERE = fileURLToPath(new URL('.', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

async function main(): Promise<void> {
  const broker = await startMosquitto({ persistence: true });
  const vm = await startVictoriaMetrics({ dedup: true });
  const dir = mkdtempSync(join(tmpdir(), 'mujo-soak-'));
  const port = await freePort();
  const obs = await observe(broker.url, ['mujo/soak/subjects/+/activity'], {
    clientId: 'soak-observer',
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
  });
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts', '--port', String(port)], {
    env: {
      ...process.env,
      MUJO__GATEWAY__ID: 'soak',
      MUJO__REPLAY__PATH: 'recordings/demo',
      MUJO__REPLAY__SPEED: String(speed),
      MUJO__REPLAY__LOOP: 'true',
      MUJO__MQTT__URL: broker.url,
      MUJO__MQTT__QUEUE__SPOOL_DIR: join(dir, 'spool-mqtt'),
      MUJO__INFLUX__ENABLED: 'true',
      MUJO__INFLUX__URL: vm.url,
      MUJO__INFLUX__BUCKET: 'soak',
      MUJO__INFLUX__SPOOL_DIR: join(dir, 'spool-influx'),
      MUJO__LOG__LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const totalMs = minutes * 60_000;
  const outageMs = Math.round(totalMs / 6);
  const plan = [
    { atMs: totalMs / 6, what: 'broker down', run: () => broker.stop() },
    { atMs: totalMs / 6 + outageMs, what: 'broker up', run: () => broker.start() },
    { atMs: (3 * totalMs) / 6, what: 'database down', run: () => vm.stop() },
    { atMs: (3 * totalMs) / 6 + outageMs, what: 'database up', run: () => vm.start() },
  ];
  const rss: Array<{ s: number; rssMiB: number }> = [];
  const started = Date.now();
  for (let t = 0; t <= totalMs; t += 30_000) {
    while (plan.length > 0 && plan[0]!.atMs <= t) {
      const step = plan.shift()!;
      process.stdout.write(`${Math.round(t / 1000)} s: ${step.what}\n`);
      await step.run();
    }
    const sample = { s: Math.round((Date.now() - started) / 1000), rssMiB: rssMiB(child.pid!) };
    rss.push(sample);
    process.stdout.write(`${sample.s} s: RSS ${sample.rssMiB} MiB\n`);
    if (t < totalMs) await sleep(Math.min(30_000, totalMs - t));
  }
  child.kill('SIGTERM');
  const code = await exited;
  const seqFile = JSON.parse(readFileSync(join(dir, 'spool-mqtt', 'event-seq.json'), 'utf8')) as {
    reserved: number;
  };
  const generated = seqFile.reserved;
  await sleep(3000);
  const events = obs.messages.map((m) => JSON.parse(m.payload.toString()) as ActivityEvent);
  const seqs = events.map((e) => e.seq);
  // What the InfluxDB sink wrote for these events: activity lines, one sample per series and ms.
  const serializer = new PointSerializer('soak');
  const expectedPoints = new Set<string>();
  for (const e of [...new Map(events.map((e) => [e.seq, e])).values()].sort((a, b) => a.seq - b.seq))
    for (const l of serializer.activity(e)) {
      const [head, , t] = l.split(' ');
      expectedPoints.add(`${head}@${Math.floor(Number(t) / 1e6)}`);
    }
  const distinct = new Set(seqs);
  let outOfOrder = 0;
  for (let i = 1; i < seqs.length; i++) if (seqs[i]! < seqs[i - 1]!) outOfOrder++;
  const series = await vm.exportSettled('activity_confidence{gateway="soak"}', expectedPoints.size, 30_000);
  const points = series.reduce((n, s) => n + s.values.length, 0);
  const rssValues = rss.slice(1).map((r) => r.rssMiB);
  const result = {
    minutes,
    replaySpeed: speed,
    outages: { brokerS: outageMs / 1000, databaseS: outageMs / 1000 },
    exitCode: code,
    events: {
      generated,
      received: distinct.size,
      missing: [...Array(generated).keys()].map((i) => i + 1).filter((s) => !distinct.has(s)).length,
      duplicates: seqs.length - distinct.size,
      outOfOrder,
    },
    activityPoints: { expected: expectedPoints.size, stored: points },
    rss,
    rssSpreadPct:
      rssValues.length > 1
        ? Math.round(((Math.max(...rssValues) - Math.min(...rssValues)) / Math.min(...rssValues)) * 1000) / 10
        : null,
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(HERE, 'results.json'), `${JSON.stringify(result, null, 2)}\n`);
  if (code !== 0) process.stderr.write(stderr.slice(-3000));
  await obs.close();
  await broker.dispose();
  await vm.dispose();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${String(err)}\n`);
  process.exit(1);
});
