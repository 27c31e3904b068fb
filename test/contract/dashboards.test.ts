import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';
import { DASHBOARDS } from '../../dashboards/grafana/build.ts';
import { startInfluxDB1, type InfluxDB1, type InfluxSeries } from '../helpers/influxdb1.ts';
import { demoPoints, type DemoPoints } from '../unit/influx/demo-points.ts';

/*
 * The Grafana dashboards, without Grafana (it cannot run here):
 *  - each validates against JSON Schemas generated now, from the @grafana/schema package
 *    installed, with ts-json-schema-generator: the dashboard schema (raw
 *    dashboard/x/types.gen.d.ts) and, per panel type, its Options and FieldConfig;
 *  - every query (template variables and panel targets), with the variables filled in the
 *    way Grafana fills them, runs against a real InfluxDB 1.6.7 loaded through its v1
 *    /write with the line protocol the gateway's serializer makes for a pass of
 *    recordings/demo (ActivityEvents generated from its labels.csv — see demo-points.ts),
 *    and must return non-empty series with the columns its SELECT names.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const grafanaRaw = join(root, 'node_modules', '@grafana', 'schema', 'dist', 'types', 'raw');
const tsconfig = join(root, 'tsconfig.json');
const DB = 'mujo';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Grafana panel type → @grafana/schema composable folder. */
const PANEL_CFG: Record<string, string> = {
  timeseries: 'timeseries',
  'state-timeline': 'statetimeline',
  stat: 'stat',
  table: 'table',
};

function schemaFor(file: string, type: string): Json {
  return createGenerator({ path: file, type, skipTypeCheck: true, tsconfig }).createSchema(type) as Json;
}

const dashboards = Object.keys(DASHBOARDS).map((name) => ({
  name,
  json: JSON.parse(readFileSync(join(root, 'dashboards', 'grafana', `${name}.json`), 'utf8')) as Json,
}));

/** `AS "x"` names of a SELECT: the value columns InfluxDB returns after `time`. */
function selectedColumns(query: string): string[] {
  const select = /^SELECT (.*?) FROM /i.exec(query)?.[1] ?? '';
  return [...select.matchAll(/ AS "([^"]+)"/gi)].map((m) => m[1]!);
}

/** Tag keys of GROUP BY (not time()). */
function groupByTags(query: string): string[] {
  const group = /GROUP BY (.*?)(?: fill\(|$)/i.exec(query)?.[1] ?? '';
  return [...group.matchAll(/"([^"]+)"/g)].map((m) => m[1]!).sort();
}

/** Grafana's InfluxQL regex formatting of a multi-value variable. */
const regexOf = (values: readonly string[]): string =>
  values.length === 1
    ? values[0]!.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&')
    : `(${values.map((v) => v.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&')).join('|')})`;

function interpolate(
  query: string,
  vars: Record<string, string>,
  fromNs: number,
  toNs: number,
  intervalMs: number,
): string {
  const out = query
    .replace(/\$timeFilter/g, `time >= ${Math.floor(fromNs / 1e6)}ms and time <= ${Math.ceil(toNs / 1e6)}ms`)
    .replace(/\$__interval_ms/g, String(intervalMs))
    .replace(/\$__interval/g, `${intervalMs}ms`)
    .replace(/\$(\w+)/g, (m, name: string) => vars[name] ?? m);
  assert.doesNotMatch(out, /\$\w/, `a variable is left in ${out}`);
  return out;
}

describe('Grafana dashboards', () => {
  let influx: InfluxDB1;
  let demo: DemoPoints;
  let validateDashboard: ValidateFunction;
  const ajv = new Ajv({ allErrors: true, strict: false });

  before(async () => {
    validateDashboard = ajv.compile(
      schemaFor(join(grafanaRaw, 'dashboard', 'x', 'types.gen.d.ts'), 'Dashboard'),
    );
    demo = await demoPoints(root);
    influx = await startInfluxDB1();
    await influx.query(DB, `CREATE DATABASE "${DB}"`);
    await influx.write(DB, demo.lines);
  });
  after(async () => {
    await influx?.dispose();
  });

  it('the JSON files are what dashboards/grafana/build.ts makes (run it after editing)', () => {
    for (const d of dashboards)
      assert.deepEqual(
        d.json,
        (DASHBOARDS as Record<string, () => Json>)[d.name]!(),
        `${d.name}.json is stale`,
      );
  });

  it('every dashboard validates against the @grafana/schema dashboard schema', () => {
    for (const d of dashboards) {
      const ok = validateDashboard(d.json);
      assert.ok(ok, `${d.name}.json: ${ajv.errorsText(validateDashboard.errors, { separator: '\n' })}`);
    }
    // The schema has teeth: a panel without a type, or an unknown dashboard key, is refused.
    const broken = structuredClone(dashboards[0]!.json);
    delete broken.panels[0].type;
    broken.colour = 'red';
    assert.equal(validateDashboard(broken), false);
  });

  it('every panel’s options and custom field config validate against its panel plugin schema', () => {
    const validators = new Map<string, { options: ValidateFunction; custom: ValidateFunction }>();
    for (const d of dashboards) {
      const ids = new Set<number>();
      for (const p of d.json.panels as Json[]) {
        assert.ok(!ids.has(p.id), `${d.name}: panel id ${p.id} is used twice`);
        ids.add(p.id);
        const cfg = PANEL_CFG[p.type];
        assert.ok(cfg, `${d.name}: panel type ${p.type} has no schema mapping here`);
        if (!validators.has(p.type)) {
          const file = join(grafanaRaw, 'composable', cfg, 'panelcfg', 'x', 'types.gen.d.ts');
          validators.set(p.type, {
            options: ajv.compile(schemaFor(file, 'Options')),
            custom: ajv.compile(p.type === 'stat' ? { type: 'object' } : schemaFor(file, 'FieldConfig')),
          });
        }
        const v = validators.get(p.type)!;
        assert.ok(
          v.options(p.options),
          `${d.name} "${p.title}" options: ${ajv.errorsText(v.options.errors)}`,
        );
        const custom = p.fieldConfig?.defaults?.custom ?? {};
        assert.ok(
          v.custom(custom),
          `${d.name} "${p.title}" fieldConfig.defaults.custom: ${ajv.errorsText(v.custom.errors)}`,
        );
        for (const t of p.targets as Json[])
          assert.equal(t.datasource.uid, '${datasource}', 'every target follows the datasource variable');
      }
      const names = (d.json.templating.list as Json[]).map((v) => v.name);
      assert.deepEqual(names.slice(0, 2), ['datasource', 'gateway']);
    }
  });

  it('replaying the same points adds none: each point is keyed by its own timestamp', async () => {
    const countAll = async (): Promise<number[]> => {
      const out: number[] = [];
      for (const [m, f] of [
        ['activity', 'confidence'],
        ['reps', 'count'],
        ['device', 'connected'],
        ['pipeline', 'dropped'],
      ] as const) {
        const [r] = await influx.query(DB, `SELECT count("${f}") FROM "${m}"`);
        out.push(Number(r!.series?.[0]?.values[0]?.[1] ?? 0));
      }
      return out;
    };
    const before = await countAll();
    assert.ok(
      before.every((n) => n > 0),
      `every measurement is loaded: ${before}`,
    );
    await influx.write(DB, demo.lines);
    assert.deepEqual(await countAll(), before);
    assert.equal(before[0], demo.lines.filter((l) => l.startsWith('activity,')).length);
  });

  it('provisioning and the compose file agree on where dashboards and the datasource are', () => {
    const prov = (f: string): Json =>
      parseYaml(readFileSync(join(root, 'dashboards', 'grafana', 'provisioning', f), 'utf8')) as Json;
    const ds = prov('datasources/influxdb.yaml').datasources[0];
    assert.equal(ds.type, 'influxdb');
    assert.equal(ds.jsonData.version, 'InfluxQL');
    const provider = prov('dashboards/mujo.yaml').providers[0];
    const compose = parseYaml(
      readFileSync(join(root, 'deploy', 'compose', 'docker-compose.yml'), 'utf8'),
    ) as Json;
    const mounts = (compose.services.grafana.volumes as string[]).map((v) => v.split(':'));
    const composeDir = join(root, 'deploy', 'compose');
    const dashMount = mounts.find(([, target]) => target === provider.options.path);
    assert.ok(dashMount, `compose mounts something at ${provider.options.path}`);
    for (const d of dashboards)
      assert.ok(
        existsSync(join(composeDir, dashMount[0]!, `${d.name}.json`)),
        `${d.name}.json reachable from the compose mount`,
      );
    const provMount = mounts.find(([, target]) => target === '/etc/grafana/provisioning');
    assert.ok(provMount && existsSync(join(composeDir, provMount[0]!, 'datasources', 'influxdb.yaml')));
    const gw = parseYaml(readFileSync(join(composeDir, 'gateway.yaml'), 'utf8')) as Json;
    assert.equal(gw.influx.database, compose.services.influxdb.environment.INFLUXDB_DB);
    assert.equal(compose.services.grafana.environment.MUJO_INFLUX_DATABASE, gw.influx.database);
  });

  const activities = (): string[] => [...new Set(demo.events.map((e) => e.activity))].sort();
  const fill = (): Record<string, string> => ({
    gateway: regexOf([demo.gateway]),
    subject: regexOf(demo.subjects),
    activity: regexOf(activities()),
    device: regexOf(demo.devices),
    // A custom variable: Grafana substitutes its value as it is.
    tz: 'UTC',
  });

  it('every template variable query returns values', async () => {
    for (const d of dashboards) {
      for (const v of d.json.templating.list as Json[]) {
        if (v.type !== 'query') continue;
        const q = interpolate(v.query, fill(), demo.fromNs, demo.toNs, 1000);
        const [r] = await influx.query(DB, q);
        assert.equal(r!.error, undefined, `${d.name} $${v.name}: ${r!.error}`);
        const values = (r!.series ?? []).flatMap((s) => s.values.map((row) => String(row[1])));
        const expected =
          v.name === 'gateway'
            ? [demo.gateway]
            : v.name === 'subject'
              ? demo.subjects
              : v.name === 'activity'
                ? activities()
                : demo.devices;
        assert.deepEqual([...new Set(values)].sort(), [...expected].sort(), `${d.name} $${v.name}`);
      }
    }
  });

  for (const d of dashboards) {
    for (const p of d.json.panels as Json[]) {
      it(`${d.name} / ${p.title}: every query returns series with the expected columns`, async () => {
        // A repeated panel runs once per value; the others with every value selected (All).
        const variants: Array<Record<string, string>> = p.repeat
          ? demo.subjects.map((s) => ({ ...fill(), [p.repeat]: regexOf([s]) }))
          : [fill()];
        for (const vars of variants) {
          for (const intervalMs of [1000, 30000]) {
            for (const t of p.targets as Json[]) {
              const q = interpolate(t.query, vars, demo.fromNs, demo.toNs, intervalMs);
              const [r] = await influx.query(DB, q);
              assert.equal(r!.error, undefined, `${q}\n→ ${r!.error}`);
              const series: InfluxSeries[] = r!.series ?? [];
              assert.ok(series.length > 0, `no series for ${q}`);
              const columns = ['time', ...selectedColumns(t.query)];
              assert.ok(columns.length > 1, `every selected value is named with AS: ${t.query}`);
              const tags = groupByTags(t.query);
              let nonNull = 0;
              for (const s of series) {
                assert.deepEqual(s.columns, columns, `columns of ${q}`);
                assert.deepEqual(Object.keys(s.tags ?? {}).sort(), tags, `tags of ${q}`);
                assert.ok(s.values.length > 0, `empty series ${JSON.stringify(s.tags)} for ${q}`);
                for (const row of s.values) if (row.slice(1).some((x) => x !== null)) nonNull++;
              }
              assert.ok(nonNull > 0, `only nulls from ${q}`);
            }
          }
        }
      });
    }
  }
});
