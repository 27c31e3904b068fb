/**
 * Every metric the gateway can expose, scraped from one registry in Prometheus' text format,
 * checked against Prometheus' naming conventions: one `mujo_` prefix, base units (seconds,
 * bytes, ratios; never ms, µs or percent), counters and only counters ending in `_total`, and
 * a `mujo_build_info` gauge whose value is 1.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayApp } from '../../../gateway/app.ts';
import { validateConfig } from '../../../gateway/config/index.ts';
import { sseMetrics } from '../../../gateway/http/sse.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { METRIC_PREFIX } from '../../../gateway/observability/metrics.ts';
import { pipelineMetrics } from '../../../gateway/pipeline/metrics.ts';
import { InfluxMetrics } from '../../../gateway/sinks/influx/metrics.ts';
import { MqttMetrics } from '../../../gateway/sinks/mqtt/metrics.ts';
import { RecorderMetrics } from '../../../gateway/sinks/recorder/metrics.ts';
import { bleMetrics } from '../../../gateway/sources/ble/metrics.ts';
import { cameraMetrics } from '../../../gateway/sources/camera/metrics.ts';
import { SOFTWARE_VERSION } from '../../../gateway/version.ts';

/** Unit words that are not Prometheus base units, and what to use instead. */
const NON_BASE_UNITS: Record<string, string> = {
  ns: 'seconds',
  us: 'seconds',
  ms: 'seconds',
  nanoseconds: 'seconds',
  microseconds: 'seconds',
  milliseconds: 'seconds',
  minutes: 'seconds',
  hours: 'seconds',
  percent: 'ratio',
  pct: 'ratio',
  ppm: 'ratio',
  kb: 'bytes',
  mb: 'bytes',
  kilobytes: 'bytes',
  megabytes: 'bytes',
  bits: 'bytes',
};

interface Family {
  readonly name: string;
  readonly type: string;
}

/** `# TYPE <name> <type>` lines of a Prometheus text exposition. */
function families(exposition: string): Family[] {
  return [...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({ name: m[1]!, type: m[2]! }));
}

/** What is wrong with one metric's name, by the conventions; empty when nothing is. */
export function namingProblems({ name, type }: Family): string[] {
  const problems: string[] = [];
  if (!name.startsWith(METRIC_PREFIX)) problems.push(`does not start with ${METRIC_PREFIX}`);
  const words = name.slice(METRIC_PREFIX.length).split('_');
  if (words[0] === 'mujo') problems.push('prefix repeated');
  for (let i = 1; i < words.length; i++)
    if (words[i] === words[i - 1]) problems.push(`word "${words[i]}" doubled`);
  for (const word of words) {
    const base = NON_BASE_UNITS[word];
    if (base) problems.push(`unit "${word}" is not a base unit; use ${base}`);
  }
  if (type === 'counter' && !name.endsWith('_total')) problems.push('counter without _total');
  if (type !== 'counter' && name.endsWith('_total')) problems.push(`${type} ending in _total`);
  if (name.endsWith('_info') && type !== 'gauge') problems.push('_info must be a gauge');
  return problems;
}

test('the conventions check catches the names it is meant to catch', () => {
  const bad: Family[] = [
    { name: 'mujo_process_process_cpu_seconds_total', type: 'counter' },
    { name: 'mujo_pipeline_inference_us', type: 'histogram' },
    { name: 'mujo_ble_device_battery_percent', type: 'gauge' },
    { name: 'mujo_mqtt_published', type: 'counter' },
    { name: 'mujo_mqtt_connected_total', type: 'gauge' },
    { name: 'mujo_mujo_x', type: 'gauge' },
    { name: 'process_cpu_seconds_total', type: 'counter' },
  ];
  for (const family of bad) assert.notDeepEqual(namingProblems(family), [], family.name);
  assert.deepEqual(namingProblems({ name: 'mujo_pipeline_inference_seconds', type: 'histogram' }), []);
});

test('every metric of the gateway, scraped from its registry, follows the conventions', async () => {
  const config = validateConfig({
    http: { enabled: false },
    replay: { enabled: false },
    model: { path: 'test/fixtures/tiny-model' },
    log: { level: 'silent' },
  });
  const app = new GatewayApp(config, { logger: silentLogger() });
  // The families that appear only once their source or sink runs are made here on the same registry.
  const registry = app.metrics;
  pipelineMetrics(registry);
  bleMetrics(registry);
  cameraMetrics(registry);
  sseMetrics(registry);
  new InfluxMetrics(registry);
  new MqttMetrics(registry);
  new RecorderMetrics(registry);

  const exposition = await registry.metrics();
  const all = families(exposition);
  assert.ok(all.length > 60, `expected every family, got ${all.length}`);
  const problems = all.flatMap((f) => namingProblems(f).map((p) => `${f.name} (${f.type}): ${p}`));
  assert.deepEqual(problems, []);

  // The renamed ones are there under their new names.
  const names = new Set(all.map((f) => f.name));
  for (const name of [
    'mujo_process_cpu_seconds_total',
    'mujo_nodejs_eventloop_lag_seconds',
    'mujo_pipeline_inference_seconds',
    'mujo_pipeline_clock_drift_ratio',
    'mujo_camera_estimate_seconds',
    'mujo_ble_device_battery_ratio',
  ])
    assert.ok(names.has(name), name);

  const info = new RegExp(
    `^mujo_build_info\\{version="${SOFTWARE_VERSION.replace(/\./g, '\\.')}",node="${process.versions.node.replace(/\./g, '\\.')}",platform="[a-z0-9]+",arch="[a-z0-9]+"\\} 1$`,
    'm',
  );
  assert.match(exposition, info);
});
