import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../gateway/config/load.ts';
import { validateConfig } from '../../../gateway/config/validate.ts';
import { ConfigError } from '../../../gateway/config/errors.ts';

const dir = await mkdtemp(join(tmpdir(), 'mujo-config-'));
after(() => rm(dir, { recursive: true, force: true }));
let n = 0;
async function yamlFile(text: string): Promise<string> {
  const file = join(dir, `gateway-${n++}.yaml`);
  await writeFile(file, text);
  return file;
}

/** Asserts a ConfigError with this code whose problems include each fragment, in one problem line. */
async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  problems: readonly (readonly string[])[] = [],
) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const fragments of problems) {
      const line = err.problems.find((p) => fragments.every((f) => p.includes(f)));
      assert.ok(line, `no problem contains ${JSON.stringify(fragments)}:\n${err.message}`);
      assert.ok(err.message.includes(line), 'every problem is in the message');
    }
    return true;
  });
}

test('a YAML file overrides defaults; the rest keeps its defaults', async () => {
  const file = await yamlFile(
    'gateway:\n  id: gym-1\nmqtt:\n  url: mqtt://broker.local:1883\n  queue:\n    memoryMessages: 50\nsubjects:\n  - id: alice\n    devices: [wrist]\n',
  );
  const { config, file: used } = await loadConfig({ file, env: {} });
  assert.equal(used, file);
  assert.equal(config.gateway.id, 'gym-1');
  assert.equal(config.mqtt.url, 'mqtt://broker.local:1883');
  assert.equal(config.mqtt.queue.memoryMessages, 50);
  assert.equal(config.mqtt.queue.spoolDir, 'var/spool/mqtt');
  assert.deepEqual(config.subjects, [{ id: 'alice', devices: ['wrist'], cameraTracks: [] }]);
  assert.equal(config.http.port, 8080);
});

test('an empty file, a comment-only file and no file all give the defaults', async () => {
  const none = (await loadConfig({ env: {} })).config;
  assert.deepEqual((await loadConfig({ file: await yamlFile(''), env: {} })).config, none);
  assert.deepEqual((await loadConfig({ file: await yamlFile('# nothing\n'), env: {} })).config, none);
});

test('MUJO_CONFIG names the file when no file is given', async () => {
  const file = await yamlFile('gateway: {id: from-env-file}\n');
  assert.equal((await loadConfig({ env: { MUJO_CONFIG: file } })).config.gateway.id, 'from-env-file');
});

test('MUJO__ environment overrides: paths ignore case and underscores, values parsed by the expected type', async () => {
  const file = await yamlFile('http:\n  port: 9000\nmqtt:\n  url: mqtt://file:1883\n');
  const { config } = await loadConfig({
    file,
    env: {
      MUJO__HTTP__PORT: '9100', // env beats the file; JSON number
      MUJO__MQTT__EMBEDDED_PORT: '1884',
      MUJO__MQTT__URL: '', // empty removes the key: back to the embedded broker
      MUJO__GATEWAY__ID: '123', // a string key keeps the text, not the number
      MUJO__MODEL__PROVIDERS: '["cpu"]',
      MUJO__REPLAY__WITHOUTMODALITIES: '["pose"]',
      MUJO__MQTT__TLS__REJECT_UNAUTHORIZED: 'false',
      MUJO__PIPELINE__SMOOTHING: '{"alpha": 0.25}',
      MUJO__SUBJECTS__0__ID: 'alice',
      MUJO__SUBJECTS__0__DEVICES: '["w1","w2"]',
      mujo__log__level: 'debug',
      OTHER: 'ignored',
    },
  });
  assert.equal(config.http.port, 9100);
  assert.equal(config.mqtt.embeddedPort, 1884);
  assert.equal(config.mqtt.url, undefined);
  assert.equal(config.gateway.id, '123');
  assert.deepEqual(config.model.providers, ['cpu']);
  assert.deepEqual(config.replay.withoutModalities, ['pose']);
  assert.equal(config.mqtt.tls.rejectUnauthorized, false);
  assert.equal(config.pipeline.smoothing.alpha, 0.25);
  assert.equal(config.pipeline.smoothing.enterThreshold, 0.5, 'a section set by env still gets its defaults');
  assert.deepEqual(config.subjects, [{ id: 'alice', devices: ['w1', 'w2'], cameraTracks: [] }]);
  assert.equal(config.log.level, 'debug');
});

test('CLI overrides beat the environment', async () => {
  const { config } = await loadConfig({
    env: { MUJO__HTTP__PORT: '9100' },
    overrides: [{ path: ['http', 'port'], value: 9200, source: '--port' }],
  });
  assert.equal(config.http.port, 9200);
});

test('CONFIG_NOT_FOUND names the file', async () => {
  const file = join(dir, 'missing.yaml');
  await assert.rejects(loadConfig({ file, env: {} }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'CONFIG_NOT_FOUND');
    assert.match(err.message, new RegExp(`${file}: no such file`));
    return true;
  });
});

test('CONFIG_PARSE names the file, line and column of a YAML syntax error and of a duplicate key', async () => {
  const bad = await yamlFile('mqtt:\n  url: [unclosed\nhttp:\n  port: 1\n');
  await rejectsWith(loadConfig({ file: bad, env: {} }), 'CONFIG_PARSE', [[bad, 'line 3, column 1']]);
  const duplicate = await yamlFile('http:\n  port: 1\n  port: 2\n');
  await rejectsWith(loadConfig({ file: duplicate, env: {} }), 'CONFIG_PARSE', [
    [duplicate, 'unique', 'line 3'],
  ]);
});

test('CONFIG_INVALID lists every problem with key, bad value, expectation and file:line:col', async () => {
  const file = await yamlFile(
    [
      'gateway:',
      '  id: my gateway', // 2: pattern
      'mqtt:',
      '  embeddedPort: 70000', // 4: maximum
      '  qos: 3', // 5: enum
      '  urll: mqtt://x', // 6: unknown key
      'http:',
      '  port: "eighty"', // 8: type
      'replay:',
      '  speed: 0', // 10: exclusiveMinimum
      '  withoutModalities: [video]', // 11: enum in array
      'subjects:',
      '  - name: nobody', // 13: missing id
      'log:',
      '  level: verbose', // 15: enum
      '',
    ].join('\n'),
  );
  await assert.rejects(loadConfig({ file, env: {} }), (err: unknown) => {
    assert.ok(err instanceof ConfigError && err.code === 'CONFIG_INVALID', String(err));
    assert.equal(err.problems.length, 9, err.message);
    assert.match(err.message, /9 problems/);
    return true;
  });
  await rejectsWith(loadConfig({ file, env: {} }), 'CONFIG_INVALID', [
    ['gateway.id: got "my gateway" (string), expected a string matching ^[A-Za-z0-9_-]+$', `${file}:2:7`],
    ['mqtt.embeddedPort: got 70000 (number), expected a number at most 65535', `${file}:4:17`],
    ['mqtt.qos: got 3 (number), expected one of 0, 1, 2', `${file}:5:8`],
    ["mqtt.urll: unknown key (did you mean 'url'?), allowed: url, embeddedPort", `${file}:6:9`],
    ['http.port: got "eighty" (string), expected an integer', `${file}:8:9`],
    ['replay.speed: got 0 (number), expected a number greater than 0', `${file}:10:10`],
    ['replay.withoutModalities[0]: got "video" (string), expected one of "imu", "pose"', `${file}:11:23`],
    ['subjects[0].id: missing, expected a string', `${file}:13:5`],
    ['log.level: got "verbose" (string), expected one of "fatal", "error", "warn", "info"', `${file}:15:10`],
  ]);
});

test('a value from the environment is reported with the variable that set it', async () => {
  await rejectsWith(
    loadConfig({ env: { MUJO__HTTP__PORT: 'abc', MUJO__PIPELINE__SMOOTHING: '{"alpha": 2}' } }),
    'CONFIG_INVALID',
    [
      ['http.port: got "abc" (string), expected an integer', 'from env MUJO__HTTP__PORT'],
      [
        'pipeline.smoothing.alpha: got 2 (number), expected a number at most 1',
        'from env MUJO__PIPELINE__SMOOTHING',
      ],
    ],
  );
});

test('an environment variable naming no key is an error, not ignored', async () => {
  await rejectsWith(
    loadConfig({ env: { MUJO__MQTT__URLL: 'mqtt://x', MUJO__NOPE: '1', MUJO__HTTP__PORT__X: '1' } }),
    'CONFIG_INVALID',
    [
      ["env MUJO__MQTT__URLL: no key 'URLL' under 'mqtt', allowed: url, embeddedPort"],
      ["env MUJO__NOPE: no key 'NOPE' at the top level"],
      ["env MUJO__HTTP__PORT__X: no key 'X' under 'http.port' (it is not a section)"],
    ],
  );
});

test('a file whose top level is not a mapping is CONFIG_INVALID', async () => {
  const file = await yamlFile('- a\n- b\n');
  await rejectsWith(loadConfig({ file, env: {} }), 'CONFIG_INVALID', [
    ['(root): got ["a","b"], expected an object'],
  ]);
  await rejectsWith(loadConfig({ file, env: { MUJO__HTTP__PORT: '1' } }), 'CONFIG_INVALID', [['(root)']]);
});

test('rules across keys: hysteresis, unique subjects, one owner per device/track, TLS pairs, password needs user', () => {
  assert.throws(
    () =>
      validateConfig({
        pipeline: { smoothing: { enterThreshold: 0.4, exitThreshold: 0.6 } },
        mqtt: { password: 'secret', tls: { cert: 'c.pem' } },
        subjects: [
          { id: 'a', devices: ['w1'], cameraTracks: ['cam1/1'] },
          { id: 'b', devices: ['w1'], cameraTracks: ['cam1/1'] },
          { id: 'a' },
        ],
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError && err.code === 'CONFIG_INVALID');
      const expected = [
        'pipeline.smoothing.exitThreshold: got 0.6, expected at most enterThreshold (0.4)',
        'mqtt.tls.key: missing, expected both cert and key (or neither)',
        'mqtt.username: missing, expected a user name when a password is set',
        'subjects[1].devices[0]: got "w1", expected a device worn by one subject (also a)',
        'subjects[1].cameraTracks[0]: got "cam1/1", expected a track of one subject (also a)',
        'subjects[2].id: got "a", expected a unique id (also subjects[0])',
      ];
      assert.deepEqual(
        err.problems.map((p) => expected.find((e) => p.startsWith(e)) ?? p),
        expected,
      );
      return true;
    },
  );
});
