import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../gateway/observability/logger.ts';
import { createMetricsRegistry } from '../../gateway/observability/metrics.ts';
import { MqttSink } from '../../gateway/sinks/mqtt/index.ts';
import { observe, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { activityEventFor } from '../helpers/mqtt-payloads.ts';

/*
 * The broker goes away for a minute (MUJO_MQTT_OUTAGE_S, default 60) while the gateway keeps
 * producing 20 events/s, over TLS with user/password. The observer holds a persistent
 * session on a broker with persistence, so what the gateway delivers while the observer is
 * still reconnecting waits for it in the broker: the count at the observer is the gateway's.
 */
const OUTAGE_S = Number(process.env['MUJO_MQTT_OUTAGE_S'] ?? 60);
const RATE_HZ = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`MQTT broker outage of ${OUTAGE_S} s over TLS + password`, () => {
  let broker: Mosquitto;
  let spoolDir: string;
  before(async () => {
    broker = await startMosquitto({ tls: true, persistence: true });
    spoolDir = mkdtempSync(join(tmpdir(), 'mujo-outage-spool-'));
  });
  after(async () => {
    await broker.dispose();
    rmSync(spoolDir, { recursive: true, force: true });
  });

  it(
    'delivers every event published before, during and after the outage, in order',
    { timeout: (OUTAGE_S + 60) * 1000 },
    async () => {
      const tls = { ca: broker.caFile!, rejectUnauthorized: true };
      const observer = await observe(broker.url, ['mujo/gw-o/subjects/+/activity'], {
        clientId: 'observer-outage',
        clean: false,
        properties: { sessionExpiryInterval: 3600 },
        username: 'observer',
        password: broker.users['observer']!,
        ca: readFileSync(tls.ca),
        rejectUnauthorized: true,
      });
      const registry = createMetricsRegistry({ defaultMetrics: false });
      const sink = new MqttSink({
        url: broker.url,
        gatewayId: 'gw-o',
        username: 'gateway',
        password: broker.users['gateway']!,
        tls,
        queue: { spoolDir, spillAfterMs: 1000 },
        reconnectPeriodMs: 500,
        logger: silentLogger(),
        registry,
      });
      let seq = 0;
      let timer: NodeJS.Timeout | undefined;
      try {
        await sink.start();
        await sink.waitConnected(5000);
        timer = setInterval(
          () => sink.publishActivity(activityEventFor('gw-o', 's1', seq++)),
          1000 / RATE_HZ,
        );
        await sleep(3000);
        const beforeOutage = seq;
        const stopFrom = seq;
        await broker.stop();
        const stopTo = seq + 1;
        await sleep(OUTAGE_S * 1000);
        const duringOutage = seq - beforeOutage;
        const away = sink.stats();
        assert.equal(away.connected, false);
        assert.ok(away.spoolBytes > 0, 'while the broker is away, events are written to the disk spool');
        assert.equal(away.inMemory, 0, 'after spillAfterMs everything queued is on disk');
        assert.ok(
          away.queued >= duringOutage - 1,
          `queued ${away.queued} while ${duringOutage} were produced during the outage`,
        );
        await broker.start();
        await sink.waitConnected(10000);
        await sleep(3000);
        clearInterval(timer);
        timer = undefined;
        const total = seq;
        assert.ok(await sink.waitIdle(20000), 'queue drains once the broker is back');
        const received = await observer.waitFor(() => true, total, 30000);
        const seqs = received.map((m) => (JSON.parse(m.payload.toString()) as { seq: number }).seq);
        const distinct = new Set(seqs);
        assert.equal(distinct.size, total, `every one of ${total} events arrived`);
        assert.deepEqual(
          [...distinct],
          Array.from({ length: total }, (_, i) => i),
          'in publish order, none missing',
        );
        // QoS 1 is at-least-once: a message the broker stored just before it stopped, whose PUBACK
        // never reached us, is sent again on reconnect. Only those may repeat, and the repeat
        // comes right after the original (never out of order); consumers drop it by seq.
        const duplicates = seqs.filter((s, i) => seqs.indexOf(s) !== i);
        for (const d of duplicates) {
          assert.ok(
            d >= stopFrom - 64 && d < stopTo,
            `seq ${d} repeated but was not in flight when the broker stopped (${stopFrom}..${stopTo})`,
          );
        }
        assert.deepEqual(
          seqs,
          [...seqs].sort((a, b) => a - b),
          'received order never goes backwards',
        );
        assert.equal(sink.stats().spoolBytes, 0, 'spool segments are deleted once delivered');
        const published = await registry.getSingleMetricAsString('mujo_mqtt_messages_published_total');
        assert.match(published, new RegExp(`kind="activity"} ${total}\\b`));
        assert.match(
          await registry.getSingleMetricAsString('mujo_mqtt_evicted_total'),
          /mujo_mqtt_evicted_total 0/,
        );
        const reconnects = await registry.getSingleMetricAsString('mujo_mqtt_reconnects_total');
        assert.doesNotMatch(reconnects, /mujo_mqtt_reconnects_total 0\b/);
        process.stdout.write(
          `outage: ${beforeOutage} events before, ${duringOutage} during ${OUTAGE_S} s, ${total} total; all delivered in order, ${duplicates.length} redelivered (in flight at the stop)\n`,
        );
      } finally {
        if (timer) clearInterval(timer);
        await sink.stop();
        await observer.close();
      }
    },
  );
});
