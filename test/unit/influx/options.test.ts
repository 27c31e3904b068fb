import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { createMetricsRegistry } from '../../../gateway/observability/metrics.ts';
import { influxSinkOptionsFromConfig } from '../../../gateway/sinks/influx/from-config.ts';
import { InfluxOptionsSchema, type InfluxOptions } from '../../../gateway/sinks/influx/options.ts';

describe('influx options schema', () => {
  const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false });
  const validate = ajv.compile<InfluxOptions>(InfluxOptionsSchema);

  it('fills every default, disabled unless asked for', () => {
    const cfg: Record<string, unknown> = {};
    assert.ok(validate(cfg), ajv.errorsText(validate.errors));
    assert.deepEqual(cfg, {
      enabled: false,
      url: 'http://127.0.0.1:8086',
      org: '',
      tls: { rejectUnauthorized: true },
      batchSize: 5000,
      flushIntervalMs: 1000,
      maxInFlight: 4,
      gzipLevel: 1,
      lineBlocks: true,
      keepSpilledInMemory: true,
      timeoutMs: 10000,
      maxRetries: 5,
      maxRetryDelayMs: 30000,
      memoryQueuePoints: 50000,
      spoolDir: 'var/spool/influx',
      maxSpoolBytes: 268435456,
      segmentBytes: 4194304,
      syncIntervalMs: 1000,
      imuDownsampleHz: 0,
      imuRaw: false,
      statsIntervalMs: 10000,
      drainTimeoutMs: 5000,
    });
  });

  it('refuses unknown keys and wrong values, naming them', () => {
    assert.equal(validate({ url: 'influx:8086' }), false);
    assert.match(ajv.errorsText(validate.errors), /url/);
    assert.equal(validate({ bucketz: 'x' }), false);
    assert.equal(validate({ batchSize: 0 }), false);
    assert.equal(validate({ gzipLevel: 10 }), false);
    assert.match(ajv.errorsText(validate.errors), /gzipLevel/);
  });

  it('maps a 1.8+ config to the v2-compatible write target', () => {
    const cfg: Record<string, unknown> = {
      enabled: true,
      database: 'mujo',
      retentionPolicy: 'one_week',
      token: 'gw:secret',
    };
    assert.ok(validate(cfg));
    const opts = influxSinkOptionsFromConfig(cfg as InfluxOptions, {
      gatewayId: 'gw',
      logger: silentLogger(),
      registry: createMetricsRegistry({ defaultMetrics: false }),
    });
    assert.deepEqual(opts.target, { org: '', bucket: 'mujo/one_week', token: 'gw:secret', flavour: '1.8+' });
    assert.equal(opts.spoolDir, 'var/spool/influx');
  });
});
