import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { topicFilterMatcher, topicMatches } from '../../../gateway/sinks/mqtt/sink.ts';
import { prng } from '../../helpers/prng.ts';

/** The split-based matching the sink used before filters were compiled: the reference. */
function splitMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

describe('topicFilterMatcher', () => {
  it('agrees with split matching on edge cases: empty levels, prefixes, # matching its parent', () => {
    const cases: [string, string][] = [
      ['mujo/gw/ingest/+/imu', 'mujo/gw/ingest/phone-1/imu'],
      ['mujo/gw/ingest/+/imu', 'mujo/gw/ingest//imu'],
      ['mujo/gw/ingest/+/imu', 'mujo/gw/ingest/a/b/imu'],
      ['mujo/gw/ingest/+/imu', 'mujo/gw/ingest/phone/imux'],
      ['mujo/gw/ingest/+/imu', 'mujo/gw/ingest/phone/im'],
      ['mujo/gw/ingest/+/imu', 'mujo/gw/ingest/phone/imu/'],
      ['mujo/gw/request/+', 'mujo/gw/request/'],
      ['mujo/gw/request/+', 'mujo/gw/request'],
      ['mujo/#', 'mujo'],
      ['mujo/#', 'mujo/'],
      ['mujo/#', 'mujox/a'],
      ['#', ''],
      ['+', ''],
      ['+', '/'],
      ['+/+', '/'],
      ['a/b', 'a/b'],
      ['a/b', 'a/bc'],
      ['', ''],
      ['', '/'],
    ];
    for (const [filter, topic] of cases)
      assert.equal(
        topicFilterMatcher(filter)(topic),
        splitMatches(filter, topic),
        `${JSON.stringify(filter)} vs ${JSON.stringify(topic)}`,
      );
  });

  it('agrees with split matching on random filters and topics', () => {
    const rnd = prng(16);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const words = ['', 'a', 'b', 'ab', 'imu', 'x'];
    let matched = 0;
    for (let i = 0; i < 20000; i++) {
      const topic = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => pick(words)).join('/');
      const filter = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () =>
        pick([...words, '+', '+', '#']),
      ).join('/');
      const expected = splitMatches(filter, topic);
      if (expected) matched++;
      assert.equal(topicFilterMatcher(filter)(topic), expected, `${filter} vs ${topic}`);
      assert.equal(topicMatches(filter, topic), expected);
    }
    assert.ok(
      matched > 1000,
      `only ${matched} of the random pairs matched: the comparison would prove little`,
    );
  });
});
