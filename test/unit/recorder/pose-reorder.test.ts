import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PoseReorderBuffer } from '../../../gateway/sinks/recorder/pose-reorder.ts';

describe('PoseReorderBuffer', () => {
  it('releases rows older than the window in time order, keeps the rest', () => {
    const b = new PoseReorderBuffer();
    // Two tracks' chunks interleave: 0,20,40 from track 1 then 10,30 from track 2.
    for (const t of [0, 20, 40, 10, 30]) b.hold(t, `${t}\n`);
    assert.equal(b.release(100), undefined, 'nothing is older than 100 ns behind the newest');
    const out = b.release(15);
    assert.deepEqual(out, { text: '0\n10\n20\n', rows: 3 });
    assert.equal(b.bytes, '30\n40\n'.length);
    assert.ok(b.isLate(19) && !b.isLate(20), 'rows before the last released one are late');
    assert.deepEqual(b.release('all'), { text: '30\n40\n', rows: 2 });
    assert.equal(b.bytes, 0);
    assert.equal(b.release('all'), undefined);
  });

  it('equal times keep their arrival order', () => {
    const b = new PoseReorderBuffer();
    b.hold(5, 'b\n');
    b.hold(1, 'a\n');
    b.hold(5, 'c\n');
    assert.equal(b.release('all')?.text, 'a\nb\nc\n');
  });
});
