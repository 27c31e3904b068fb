import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeImuMessage, type DecodeResult } from '../../../gateway/sources/mqtt/imu-decode.ts';
import { scanImuJson } from '../../../gateway/sources/mqtt/imu-json-scan.ts';

/*
 * The JSON fast path (imu-json-scan.ts) against the general path (JSON.parse + Ajv) on the
 * same bytes: generated valid messages in every key order, whitespace and number spelling
 * must decode to the same bits AND be taken by the scan (not merely fall back); mutated and
 * malformed ones must give the same result, reason and message.
 */

const RUNS = 3000;

const hex = (a: Float32Array | Float64Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

/** Results as comparable values: typed arrays as their bytes (so -0, NaN bits etc. count). */
function comparable(r: DecodeResult): unknown {
  if (!r.ok) return r;
  return { ...r.imu, tNs: hex(r.imu.tNs), values: hex(r.imu.values) };
}

function bothPaths(payload: Buffer, maxSamples = 1000) {
  const ctx = { receivedNs: 5e18, maxSamples };
  const fast = decodeImuMessage(payload, { ...ctx, jsonFastPath: true });
  const general = decodeImuMessage(payload, { ...ctx, jsonFastPath: false });
  return { fast, general };
}

// --- number spellings ------------------------------------------------------------------------

const digits = (min: number, max: number) =>
  fc.array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max }).map((d) => d.join(''));

/** Any JSON number text, unsigned: int part, optional fraction, optional exponent. */
const unsignedToken = fc.oneof(
  // Written by hand: many digits, leading zeros in the fraction, exponents of any spelling.
  fc
    .tuple(
      fc.oneof(
        fc.constant('0'),
        fc.tuple(fc.integer({ min: 1, max: 9 }), digits(0, 19)).map(([a, b]) => `${a}${b}`),
      ),
      fc.option(digits(1, 22), { nil: undefined }),
      fc.option(
        fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 40 })),
        { nil: undefined },
      ),
    )
    .map(([int, frac, exp]) => `${int}${frac === undefined ? '' : `.${frac}`}${exp ? exp.join('') : ''}`),
  // As phone apps write them: shortest round-trip doubles, float32 widened, fixed, exponent.
  fc.double({ min: 0, max: 1e6, noNaN: true }).map((x) => JSON.stringify(x)),
  fc.float({ min: 0, max: 1e4, noNaN: true }).map((x) => JSON.stringify(Math.fround(x))),
  fc
    .tuple(fc.double({ min: 0, max: 1e4, noNaN: true }), fc.integer({ min: 0, max: 20 }))
    .map(([x, k]) => x.toFixed(k)),
  fc
    .tuple(fc.double({ min: 0, max: 1e30, noNaN: true }), fc.integer({ min: 0, max: 20 }))
    .map(([x, k]) => x.toExponential(k)),
  fc.integer({ min: 0, max: 100000 }).map(String),
  // Next to a float32 rounding edge (half-way between two float32s, ± a few double ulps), in
  // 16–19 digits: where rounding to double first and then to float32 matters.
  fc
    .tuple(
      fc.float({ min: Math.fround(1e-6), max: Math.fround(1e6), noNaN: true }),
      fc.integer({ min: -4, max: 4 }),
      fc.integer({ min: 16, max: 19 }),
    )
    .map(([f, ulps, digitsOut]) => {
      const up = new Float32Array([f]);
      new Uint32Array(up.buffer)[0]! += 1;
      const mid = (f + up[0]!) / 2; // exact in a double
      const bits = new Float64Array([mid]);
      new BigInt64Array(bits.buffer)[0]! += BigInt(ulps);
      return bits[0]!.toPrecision(digitsOut).replace('e+', 'e');
    }),
);
const signedToken = fc.tuple(fc.boolean(), unsignedToken).map(([neg, t]) => (neg ? `-${t}` : t));

// --- messages ----------------------------------------------------------------------------------

const ws = fc.constantFrom('', '', '', ' ', '\n', '\t', '\r\n  ', '  ');

interface Parts {
  members: [string, string][];
}

/** A message the schema accepts (times ascending most of the time, as devices send them). */
const validMessage = fc
  .record({
    n: fc.integer({ min: 1, max: 12 }),
    timing: fc.constantFrom('tMs', 'tNs', 'rateHz', 'tMs+rateHz'),
    t0: fc.option(
      fc.oneof(
        fc.bigInt({ min: 0n, max: 9_999_999_999_999_999_999n }).map((b) => `"${b}"`),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }).map(String),
        fc.constantFrom('1.717e18', '1717000000000000000', '0', '0.0', '1E3'),
      ),
      { nil: undefined },
    ),
    rate: fc.oneof(fc.constantFrom('50', '100', '1e4', '0.5', '10000', '52.083333333333336'), unsignedToken),
    accUnit: fc.option(fc.constantFrom('"m/s2"', '"g"'), { nil: undefined }),
    gyroUnit: fc.option(fc.constantFrom('"rad/s"', '"deg/s"'), { nil: undefined }),
    placement: fc.option(fc.constantFrom('"wrist"', '"upper_arm"', '"pocket"', '"unknown"'), {
      nil: undefined,
    }),
    seq: fc.option(fc.constantFrom('0', '7', '4294967295', '1e2', '3.0'), { nil: undefined }),
    v: fc.constantFrom('1', '1.0', '1e0', '10e-1'),
    numbers: fc.array(signedToken, { minLength: 6 * 12, maxLength: 6 * 12 }),
    times: fc.array(unsignedToken, { minLength: 12, maxLength: 12 }),
    step: fc.constantFrom(20, 1, 0.5, 1e-3),
    order: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 10, maxLength: 10 }),
    space: fc.array(ws, { minLength: 400, maxLength: 400 }),
  })
  .map((g) => {
    const rows = (from: number) =>
      Array.from(
        { length: g.n },
        (_, i) => `[${[0, 1, 2].map((k) => g.numbers[(from + i) * 3 + k]).join(',')}]`,
      );
    const members: [string, string][] = [
      ['v', g.v],
      ['acc', `[${rows(0).join(',')}]`],
      ['gyro', `[${rows(12).join(',')}]`],
    ];
    // Ascending offsets: i·step plus a small generated fraction, spelled in generated ways.
    const ms = Array.from({ length: g.n }, (_, i) => {
      const t = g.times[i]!;
      const frac = Number(t) % 1;
      return i === 0 ? t : JSON.stringify(i * g.step + (Number.isFinite(frac) ? frac * g.step * 0.4 : 0));
    });
    if (g.timing.startsWith('tMs')) members.push(['tMs', `[${ms.join(',')}]`]);
    if (g.timing === 'tNs')
      members.push([
        'tNs',
        `[${Array.from({ length: g.n }, (_, i) => (i === 0 ? '0' : `${i * 2}e7`)).join(',')}]`,
      ]);
    if (g.timing.endsWith('rateHz')) members.push(['rateHz', g.rate]);
    if (g.t0 !== undefined) members.push(['t0Ns', g.t0]);
    if (g.accUnit !== undefined) members.push(['accUnit', g.accUnit]);
    if (g.gyroUnit !== undefined) members.push(['gyroUnit', g.gyroUnit]);
    if (g.placement !== undefined) members.push(['placement', g.placement]);
    if (g.seq !== undefined) members.push(['seq', g.seq]);
    // Key order from the generated weights.
    const sorted = members.map((m, i) => [g.order[i]!, m] as const).sort((a, b) => a[0] - b[0]);
    return { parts: { members: sorted.map(([, m]) => m) } satisfies Parts, space: g.space };
  })
  .map(({ parts, space }) => {
    // Whitespace between every pair of tokens, from the generated list.
    let k = 0;
    const w = () => space[k++ % space.length]!;
    const spaced = (value: string) => value.replace(/[[\],]/g, (c) => `${w()}${c}${w()}`);
    const body = parts.members
      .map(([key, value]) => `${w()}"${key}"${w()}:${w()}${spaced(value)}${w()}`)
      .join(',');
    return `${w()}{${body}}${w()}`;
  });

/** A member's value in a message without whitespace (acc/gyro: nested rows). */
const VALUE = '(\\[\\[.*?\\]\\]|\\[[^\\]]*\\]|"[^"]*"|[^,}]*)';
const valueEdits = (key: string, values: string[]): [RegExp, string][] =>
  values.map((v) =>
    v.startsWith('[') && !v.endsWith(']')
      ? [new RegExp(`"${key}":\\[[^,\\]]+`), `"${key}":${v}`] // first item only
      : [new RegExp(`"${key}":${VALUE}`), `"${key}":${v}`],
  );

describe('JSON ingest: one-pass scan vs JSON.parse + Ajv', () => {
  it('decodes generated valid messages to the same bits, and takes them itself', () => {
    let taken = 0;
    fc.assert(
      fc.property(validMessage, (text) => {
        const payload = Buffer.from(text);
        const { fast, general } = bothPaths(payload);
        assert.deepEqual(comparable(fast), comparable(general), text);
        // Schema-valid messages (whatever finish() then says of their values) are the scan's.
        if (general.ok || ['non_finite', 'time_not_ascending'].includes(general.reason)) {
          assert.notEqual(scanImuJson(payload, 1000), undefined, `scan fell back on ${text}`);
          taken++;
        }
      }),
      { numRuns: RUNS },
    );
    assert.ok(taken > RUNS * 0.8, `only ${taken} of ${RUNS} generated messages were valid`);
  });

  it('converts every number spelling exactly as JSON.parse does', () => {
    fc.assert(
      fc.property(signedToken, (token) => {
        const text = `{"v":1,"rateHz":50,"acc":[[${token},0,0]],"gyro":[[0,0,0]],"tMs":[${token.replace(/^-/, '')}]}`;
        const scanned = scanImuJson(Buffer.from(text), 10);
        const parsed = JSON.parse(text) as { acc: number[][]; tMs: number[] };
        if (!Number.isFinite(parsed.acc[0]![0]!)) return; // 1e400: left to the general path
        assert.ok(scanned, text);
        // tMs·1e6 is a double operation on the parsed value: equal bits iff equal input.
        assert.equal(Object.is(scanned.tNs[0], parsed.tMs[0]! * 1e6), true, text);
        assert.equal(Object.is(scanned.values[0], Math.fround(parsed.acc[0]![0]!)), true, text);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  const mutation = fc.oneof(
    // A byte deleted, replaced or inserted anywhere.
    fc.record({
      kind: fc.constantFrom('delete', 'replace', 'insert'),
      at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
      byte: fc.constantFrom(
        '"',
        '\\',
        ',',
        '[',
        ']',
        '{',
        '}',
        ':',
        '-',
        '+',
        '.',
        'e',
        'E',
        '0',
        '1',
        '9',
        ' ',
        '\u000b',
        'x',
        'é',
        '\u0000',
        'N',
      ),
    }),
    // Whole-token edits (on the message without whitespace) the scan must refuse to take.
    fc.record({
      kind: fc.constant('edit'),
      at: fc.constant(0),
      byte: fc.constantFrom<[RegExp, string]>(
        ...valueEdits('v', ['2', '-1', '"1"', 'true', '1.5', 'null']),
        ...valueEdits('acc', ['[]', '[[1,2]]', '[[1,2,3,4]]', '[1,2,3]', '{}', '[[1,2,3],[]]']),
        ...valueEdits('gyro', ['[]', '[[1,2,"3"]]', '[[1,2,3]]', '[[[1],2,3]]']),
        ...valueEdits('tMs', ['[-1', '[-0', '["0"', '[null', '[1e400']),
        ...valueEdits('tNs', ['[0.5', '[-1', '[1e21', '[0,0']),
        ...valueEdits('rateHz', ['0', '-1', '10001', '10000.5', '1e-300', '"50"', '-0']),
        ...valueEdits('seq', ['-1', '1.5', '"1"', '1e400', '-0']),
        ...valueEdits('t0Ns', [
          '"00123"',
          '-5',
          '1.5',
          '"12345678901234567890"',
          '""',
          '"1a"',
          '1e19',
          '"-1"',
        ]),
        ...valueEdits('accUnit', ['"G"', '"m/s^2"', '"g "', '1']),
        ...valueEdits('gyroUnit', ['"rad"', '"deg\\/s"', '"deg\\\\/s"']),
        ...valueEdits('placement', ['"Wrist"', '""', '"wr\\u0069st"', '"wrist\\"', 'null']),
        ...['v', 'acc', 'gyro', 'tMs', 'tNs', 'rateHz', 't0Ns'].map((k): [RegExp, string] => [
          new RegExp(`,"${k}":${VALUE}|"${k}":${VALUE},`),
          '',
        ]),
        [/"tMs":/, '"tNs":[0],"tMs":'],
        [/"acc":/, '"acc":[[1,2,3]],"acc":'], // duplicate key
        [/"gyro":/, '"extra":1,"gyro":'], // unknown key
        [/"gyro":/, '"nested":{"a":[1]},"gyro":'],
        [/"v":/, '"\\u0076":'], // escaped key
        [/\[\[[^,]+/, '[[NaN'],
        [/\[\[[^,]+/, '[[Infinity'],
        [/\[\[[^,]+/, '[[1e400'],
        [/\[\[[^,]+/, '[[-'],
        [/\[\[[^,]+/, '[[01'],
        [/\[\[[^,]+/, '[[1.'],
        [/\[\[[^,]+/, '[[.5'],
        [/\[\[[^,]+/, '[[+1'],
        [/\[\[[^,]+/, '[[1e'],
        [/\[\[[^,]+/, '[[1e+'],
        [/\[\[[^,]+/, '[[0x1'],
        [/\[\[/, '[[1,,'],
        [/\[\[[^\]]+\]/, '[[1,2]'], // a row of 2
        [/\[\[[^\]]+\]/, '[[1,2,3,4]'], // a row of 4
        [/\[\[[^\]]+\]/, '[[]'],
        [/\[\[[^,]+/, '[[1.5e-'],
        [/\[\[[^,]+/, '[[-01.5'],
        [/\[\[[^,]+/, '[[1.e5'],
        [/\[\[[^,]+/, '[[--1'],
        [/\]\]/, '],[1,2]]'],
        [/\]\]/, ']],'],
        [/}$/, ',}'],
        [/}$/, '}}'],
        [/}$/, '} x'],
        [/^{/, '{,'],
        [/^{/, '[{'],
      ),
    }),
  );

  it('gives the same result, reason and message on mutated and malformed messages', () => {
    fc.assert(
      fc.property(validMessage, mutation, fc.integer({ min: 1, max: 14 }), (text, m, maxSamples) => {
        let bad: string;
        const i = Math.floor(m.at * text.length);
        if (m.kind === 'delete') bad = text.slice(0, i) + text.slice(i + 1);
        else if (m.kind === 'replace') bad = text.slice(0, i) + (m.byte as string) + text.slice(i + 1);
        else if (m.kind === 'insert') bad = text.slice(0, i) + (m.byte as string) + text.slice(i);
        else {
          const [from, to] = m.byte as [RegExp, string];
          bad = text.replace(/\s+/g, '').replace(from, to);
        }
        const { fast, general } = bothPaths(Buffer.from(bad), maxSamples);
        assert.deepEqual(comparable(fast), comparable(general), bad);
      }),
      { numRuns: RUNS * 4 },
    );
  });

  it('leaves odd but valid JSON to the general path, which accepts it', () => {
    // Escapes, a duplicate key (JSON.parse keeps the last), a leading-zero t0 string: valid.
    for (const text of [
      '{"v":1,"rateHz":50,"acc":[[1,2,3]],"gyro":[[4,5,6]],"placement":"wr\\u0069st"}',
      '{"v":1,"rateHz":50,"acc":[[9,9,9]],"acc":[[1,2,3]],"gyro":[[4,5,6]]}',
      '{"v":1,"rateHz":50,"t0Ns":"00123","acc":[[1,2,3]],"gyro":[[4,5,6]]}',
    ]) {
      const payload = Buffer.from(text);
      assert.equal(scanImuJson(payload, 10), undefined, text);
      const { fast, general } = bothPaths(payload);
      assert.ok(fast.ok, text);
      assert.deepEqual(comparable(fast), comparable(general));
    }
  });
});
