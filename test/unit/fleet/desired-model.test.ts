import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTargeted, parseDesiredModel, rolloutPosition } from '../../../gateway/fleet/desired-model.ts';
import { GatewayError } from '../../../gateway/observability/errors.ts';

const ok = {
  name: 'default',
  version: '0.2.0',
  url: 'https://models.lan/m/manifest.json',
  sha256: 'a'.repeat(64),
};
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('desired-model message', () => {
  it('accepts a well-formed message and names every problem of a broken one', () => {
    assert.deepEqual(parseDesiredModel(json(ok)), ok);
    assert.throws(
      () => parseDesiredModel(json({ ...ok, url: 'ftp://x', sha256: 'XYZ', share: 2 })),
      (err: unknown) =>
        err instanceof GatewayError &&
        err.code === 'ROLLOUT_BAD_MESSAGE' &&
        /\/url/.test(err.message) &&
        /\/sha256/.test(err.message) &&
        /\/share/.test(err.message),
    );
    assert.throws(() => parseDesiredModel(Buffer.from('{not json')), { code: 'ROLLOUT_BAD_MESSAGE' });
  });

  it('stages: a list wins, a share only ever grows the set, neither means everyone', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `gw-${i}`);
    assert.equal(isTargeted({ ...ok, gateways: ['gw-1'], share: 1 }, 'gw-2'), false);
    assert.equal(isTargeted({ ...ok, gateways: ['gw-1'] }, 'gw-1'), true);
    assert.ok(ids.every((id) => isTargeted(ok, id)));
    const at = (share: number) => new Set(ids.filter((id) => isTargeted({ ...ok, share }, id)));
    const third = at(0.3);
    const twoThirds = at(0.6);
    assert.ok(
      [...third].every((id) => twoThirds.has(id)),
      'a wider stage keeps every gateway of the narrower one',
    );
    // sha256 positions are uniform: 1,000 gateways at share 0.3 give about 300 (binomial sd ≈ 14.5).
    assert.ok(third.size > 240 && third.size < 360, `share 0.3 picked ${third.size} of 1000`);
    assert.equal(at(0).size, 0);
    assert.equal(rolloutPosition('gw-7'), rolloutPosition('gw-7'));
  });
});
