import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandRouter, type CommandResponse } from '../../../gateway/sinks/mqtt/commands.ts';
import { VirtualTimers } from '../../fakes/virtual-timers.ts';

const body = (o: object) => Buffer.from(JSON.stringify(o));
const codeOf = (r: CommandResponse) => (r.ok ? 'ok' : r.error.code);

describe('CommandRouter policy: authorisation and rate limits', () => {
  it('an action that changes something needs the token; read-only ones do not; the token never reaches the handler', async () => {
    const seen: Array<Record<string, unknown>> = [];
    const r = new CommandRouter('gw', 1000, { token: 'sekret-token', open: false, ratePerMinute: 100 });
    r.register('reload_model', (args) => (seen.push(args), 'done'));
    r.register('status', () => 'fine', { readOnly: true });
    assert.equal(codeOf(await r.handle('reload_model', body({}))), 'MQTT_UNAUTHORIZED');
    assert.equal(codeOf(await r.handle('reload_model', body({ token: 'guess' }))), 'MQTT_UNAUTHORIZED');
    assert.equal(codeOf(await r.handle('reload_model', body({ token: 12345 }))), 'MQTT_UNAUTHORIZED');
    assert.equal(codeOf(await r.handle('status', body({}))), 'ok');
    assert.equal(codeOf(await r.handle('reload_model', body({ token: 'sekret-token', path: 'x' }))), 'ok');
    assert.deepEqual(seen, [{ path: 'x' }]);
  });

  it('with no token configured, changing actions are disabled', async () => {
    const r = new CommandRouter('gw', 1000, { token: undefined, open: false, ratePerMinute: 100 });
    r.register('start_recording', () => 'started');
    r.register('status', () => 'fine', { readOnly: true });
    assert.equal(
      codeOf(await r.handle('start_recording', body({ token: 'anything' }))),
      'MQTT_COMMANDS_DISABLED',
    );
    assert.equal(codeOf(await r.handle('status', body({}))), 'ok');
  });

  it('each action has its own token bucket of ratePerMinute', async () => {
    const timers = new VirtualTimers();
    const r = new CommandRouter('gw', 1000, { token: 't0ken-123', open: false, ratePerMinute: 5 }, timers);
    r.register('status', () => 'fine', { readOnly: true });
    r.register('label', () => 'ok');
    const codes: string[] = [];
    for (let i = 0; i < 20; i++) codes.push(codeOf(await r.handle('status', body({}))));
    assert.equal(codes.filter((c) => c === 'ok').length, 5);
    assert.equal(codes.filter((c) => c === 'MQTT_RATE_LIMITED').length, 15);
    assert.equal(
      codeOf(await r.handle('label', body({ token: 't0ken-123' }))),
      'ok',
      'another action, another bucket',
    );
    await timers.advance(12_000); // a fifth of a minute: one more request
    assert.equal(codeOf(await r.handle('status', body({}))), 'ok');
    assert.equal(codeOf(await r.handle('status', body({}))), 'MQTT_RATE_LIMITED');
  });
});
