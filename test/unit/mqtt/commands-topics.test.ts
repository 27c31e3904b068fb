import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../../gateway/observability/errors.ts';
import { CommandRouter } from '../../../gateway/sinks/mqtt/commands.ts';
import { topicMatches } from '../../../gateway/sinks/mqtt/sink.ts';
import { mqttTopics } from '../../../gateway/sinks/mqtt/topics.ts';
import { VirtualTimers } from '../../fakes/virtual-timers.ts';

describe('MQTT topics', () => {
  const t = mqttTopics('mujo', 'gw1');
  it('follows the DESIGN.md table', () => {
    assert.equal(t.availability, 'mujo/gw1/availability');
    assert.equal(t.activity('s1'), 'mujo/gw1/subjects/s1/activity');
    assert.equal(t.subjectState('s1'), 'mujo/gw1/subjects/s1/state');
    assert.equal(t.reps('s1'), 'mujo/gw1/subjects/s1/reps');
    assert.equal(t.deviceState('aa:bb'), 'mujo/gw1/devices/aa:bb/state');
    assert.equal(t.response('status'), 'mujo/gw1/response/status');
    assert.equal(t.actionOf('mujo/gw1/request/reload_model'), 'reload_model');
    assert.equal(t.actionOf('mujo/gw2/request/reload_model'), undefined);
    assert.equal(t.ingestDeviceOf('mujo/gw1/ingest/phone-1/imu'), 'phone-1');
    assert.equal(t.ingestDeviceOf('mujo/gw1/ingest/a/b/imu'), undefined);
    assert.ok(topicMatches(t.ingestImuFilter, 'mujo/gw1/ingest/x/imu'));
    assert.ok(!topicMatches(t.ingestImuFilter, 'mujo/gw1/ingest/x/pose'));
    assert.ok(topicMatches('mujo/#', 'mujo/gw1/a/b'));
  });
  it('refuses ids that would break the topic tree', () => {
    assert.throws(
      () => t.activity('a/b'),
      (e: unknown) => e instanceof GatewayError && e.code === 'MQTT_BAD_TOPIC_LEVEL',
    );
    assert.throws(() => t.deviceState('#'), /MQTT topic level/);
    assert.throws(() => mqttTopics('mujo/', 'gw'), /baseTopic/);
  });
});

describe('CommandRouter', () => {
  it('answers with the correlation id, result or coded error', async () => {
    const timers = new VirtualTimers();
    const r = new CommandRouter('gw1', 30_000, undefined, timers);
    r.register('echo', (args) => args);
    r.register('boom', () => {
      throw new GatewayError('X_FAILED', 'it failed');
    });
    r.register('slow', () => new Promise(() => undefined));
    const ok = await r.handle('echo', Buffer.from('{"correlationId":"c1","a":2}'));
    assert.deepEqual(ok, {
      v: 1,
      gateway: 'gw1',
      action: 'echo',
      correlationId: 'c1',
      ok: true,
      result: { a: 2 },
    });
    assert.deepEqual(
      (await r.handle('boom', Buffer.from('{}'))).ok ? null : await r.handle('boom', Buffer.from('{}')),
      {
        v: 1,
        gateway: 'gw1',
        action: 'boom',
        correlationId: null,
        ok: false,
        error: { code: 'X_FAILED', message: 'it failed' },
      },
    );
    let slowAnswered = false;
    const slowAnswer = r.handle('slow', Buffer.alloc(0), 'v5-id').finally(() => (slowAnswered = true));
    await timers.advance(29_999);
    assert.equal(slowAnswered, false, 'no answer before the command timeout');
    await timers.advance(1);
    const slow = await slowAnswer;
    assert.equal(slow.ok ? '' : slow.error.code, 'MQTT_COMMAND_TIMEOUT');
    assert.equal(slow.correlationId, 'v5-id');
    const unknown = await r.handle('nope', Buffer.from('{"correlationId":"c2"}'));
    assert.equal(unknown.ok ? '' : unknown.error.code, 'MQTT_UNKNOWN_ACTION');
    assert.equal(unknown.correlationId, 'c2');
    for (const body of ['[1]', 'x', '{"correlationId":5}']) {
      const bad = await r.handle('echo', Buffer.from(body));
      assert.equal(bad.ok ? '' : bad.error.code, 'MQTT_BAD_REQUEST', body);
    }
    assert.throws(() => r.register('Bad-Name', () => 1), /snake_case/);
  });
});
