import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { defaultConfig, validateConfig } from '../../../gateway/config/validate.ts';
import { publishedSchema } from '../../../gateway/config/schema.ts';
import { loadConfig } from '../../../gateway/config/load.ts';
import { SCHEMA_FILE, renderSchema } from '../../../gateway/config/write-schema.ts';

const EXAMPLE = fileURLToPath(new URL('../../../config/gateway.example.yaml', import.meta.url));

test('an empty configuration is the demo: every documented default', () => {
  const c = defaultConfig();
  assert.deepEqual(c.gateway, { id: 'demo' });
  assert.deepEqual(c.model, {
    path: 'models/default',
    providers: ['tensorrt', 'cuda', 'cpu'],
    intraOpThreads: 1,
    inferenceThread: 'worker',
    openSet: true,
  });
  assert.deepEqual(c.replay, {
    enabled: true,
    path: 'recordings/demo',
    speed: 1,
    loop: true,
    withoutModalities: [],
  });
  assert.equal(c.mqtt.url, undefined, 'no url: embedded broker');
  assert.equal(c.mqtt.embeddedPort, 1883);
  assert.equal(c.mqtt.embeddedHost, '127.0.0.1');
  assert.equal(c.mqtt.baseTopic, 'mujo');
  assert.equal(c.mqtt.qos, 1);
  assert.deepEqual(c.mqtt.tls, { rejectUnauthorized: true });
  assert.deepEqual(c.mqtt.queue, {
    memoryMessages: 10000,
    spoolDir: 'var/spool/mqtt',
    maxSpoolBytes: 256 * 1024 * 1024,
    syncIntervalMs: 1000,
  });
  assert.deepEqual(c.mqtt.homeAssistant, { enabled: false, discoveryPrefix: 'homeassistant' });
  assert.equal(c.ingest.enabled, true);
  assert.deepEqual(c.http, { enabled: true, host: '127.0.0.1', port: 8080, readAuth: false, tls: {} });
  assert.equal(c.pipeline.maxBatch, 32);
  assert.equal(c.pipeline.batching, 'adaptive');
  assert.equal(c.pipeline.maxBatchWaitMs, 5);
  assert.equal(c.pipeline.stateIntervalS, 10);
  assert.equal(c.pipeline.staleAfterHops, 2);
  assert.ok(c.pipeline.smoothing.exitThreshold <= c.pipeline.smoothing.enterThreshold);
  assert.deepEqual(c.subjects, []);
  assert.deepEqual(c.log, { level: 'info' });
});

test('validation fills defaults inside partial sections and array items, and leaves its input alone', () => {
  const raw = { mqtt: { queue: { memoryMessages: 5 } }, subjects: [{ id: 'alice' }] };
  const c = validateConfig(raw);
  assert.deepEqual(c.mqtt.queue, {
    memoryMessages: 5,
    spoolDir: 'var/spool/mqtt',
    maxSpoolBytes: 268435456,
    syncIntervalMs: 1000,
  });
  assert.deepEqual(c.subjects, [{ id: 'alice', devices: [], cameraTracks: [] }]);
  assert.deepEqual(raw, { mqtt: { queue: { memoryMessages: 5 } }, subjects: [{ id: 'alice' }] });
});

test('config/schemas/gateway.schema.json is up to date with gateway/config/schema.ts', async () => {
  assert.equal(await readFile(SCHEMA_FILE, 'utf8'), renderSchema(), 'run `npm run schemas`');
});

test('the published schema requires no key that has a default', () => {
  const requiredWithDefault: string[] = [];
  const walk = (node: Record<string, unknown>, path: string) => {
    const properties = (node['properties'] ?? {}) as Record<string, Record<string, unknown>>;
    for (const key of (node['required'] as string[] | undefined) ?? []) {
      if (properties[key]?.['default'] !== undefined) requiredWithDefault.push(`${path}.${key}`);
    }
    for (const [key, child] of Object.entries(properties)) walk(child, `${path}.${key}`);
    if (node['items']) walk(node['items'] as Record<string, unknown>, `${path}[]`);
  };
  const schema = publishedSchema();
  walk(schema, '');
  assert.deepEqual(requiredWithDefault, []);
  // A subject without an id means nothing: that one stays required.
  const subjects = (schema['properties'] as Record<string, Record<string, Record<string, unknown>>>)[
    'subjects'
  ]!;
  assert.deepEqual(subjects['items']!['required'], ['id']);
});

test('config/gateway.example.yaml validates and its values are the defaults', async () => {
  const { config } = await loadConfig({ file: EXAMPLE, env: {} });
  assert.deepEqual(config, defaultConfig());
});

test('config/gateway.example.yaml documents every option (set to its default, or commented when it has none)', async () => {
  const text = await readFile(EXAMPLE, 'utf8');
  const example = parse(text) as Record<string, unknown>;
  const undocumented: string[] = [];
  const walk = (schema: Record<string, unknown>, value: unknown, path: string[]) => {
    const properties = schema['properties'] as Record<string, Record<string, unknown>> | undefined;
    if (properties) {
      for (const [key, child] of Object.entries(properties)) {
        const present = value !== null && typeof value === 'object' && key in value;
        if (present) walk(child, (value as Record<string, unknown>)[key], [...path, key]);
        else if (!new RegExp(`^\\s*#\\s*(- )?${key}:`, 'm').test(text))
          undocumented.push([...path, key].join('.'));
        else if (child['properties'] || child['items']) walk(child, undefined, [...path, key]);
      }
    } else if (schema['type'] === 'array' && schema['items']) {
      walk(schema['items'] as Record<string, unknown>, Array.isArray(value) ? value[0] : undefined, [
        ...path,
        '[]',
      ]);
    }
  };
  walk(publishedSchema(), example, []);
  assert.deepEqual(undocumented, []);
});
