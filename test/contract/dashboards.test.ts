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

  describe('site dashboard: a manager reads a week', () => {
    const WEEK = 'mujo_week';
    const DAY_NS = 86_400n * 1_000_000_000n;
    /** Day d: the demo pass from 23:40 UTC, without one person (a day off). */
    const shiftNs = (day: number): bigint => BigInt(day) * DAY_NS + (23n * 60n + 40n) * 60_000_000_000n;
    const absent = (day: number): string => demo.subjects[day % demo.subjects.length]!;
    const site = (): Json => dashboards.find((d) => d.name === 'site')!.json;
    const target = (title: string, i = 0): string =>
      ((site().panels as Json[]).find((p) => p.title === title)!.targets as Json[])[i]!.query as string;
    const weekFrom = (): number => demo.fromNs;
    const weekTo = (): number => demo.toNs + 9 * 86_400e9;

    before(async () => {
      await influx.query(WEEK, `CREATE DATABASE "${WEEK}"`);
      const lines: string[] = [];
      for (let day = 0; day < 7; day++) {
        for (const line of demo.lines) {
          if (!line.startsWith('activity,') && !line.startsWith('reps,')) continue;
          if (line.includes(`,subject=${absent(day)} `)) continue;
          const cut = line.lastIndexOf(' ');
          lines.push(`${line.slice(0, cut)} ${BigInt(line.slice(cut + 1)) + shiftNs(day)}`);
        }
      }
      await influx.write(WEEK, lines);
    });

    /**
     * What a manager should read, from the activity events themselves (not from the line
     * protocol): per UTC day, person and activity, the minutes of every bout that stopped
     * that day and the number of bouts.
     */
    function expectedDays(): Map<string, { minutes: number; sessions: number }> {
      const out = new Map<string, { minutes: number; sessions: number }>();
      const open = new Map<string, { activity: string; startNs: number }>();
      const bouts: Array<{ subject: string; activity: string; endNs: number; seconds: number }> = [];
      for (const e of [...demo.events].sort((a, b) => a.seq - b.seq)) {
        const current = open.get(e.subject);
        if (e.transition === 'ended') {
          bouts.push({
            subject: e.subject,
            activity: e.activity,
            endNs: e.endNs!,
            seconds: (e.endNs! - e.startNs) / 1e9,
          });
          open.delete(e.subject);
          continue;
        }
        if (e.transition === 'changed' && current)
          bouts.push({
            subject: e.subject,
            activity: current.activity,
            endNs: e.startNs,
            seconds: (e.startNs - current.startNs) / 1e9,
          });
        open.set(e.subject, { activity: e.activity, startNs: e.startNs });
      }
      for (let day = 0; day < 7; day++) {
        for (const b of bouts) {
          if (b.subject === absent(day)) continue;
          const ms = Number((BigInt(Math.round(b.endNs)) + shiftNs(day)) / 1_000_000n);
          const key = `${b.subject}|${b.activity}|${new Date(ms).toISOString().slice(0, 10)}`;
          const v = out.get(key) ?? { minutes: 0, sessions: 0 };
          out.set(key, { minutes: v.minutes + b.seconds / 60, sessions: v.sessions + 1 });
        }
      }
      return out;
    }

    /** UTC date of a time InfluxDB returned (epoch ns). */
    const dayOf = (time: unknown): string => new Date(Number(time) / 1e6).toISOString().slice(0, 10);

    async function rows(query: string, vars: Record<string, string>): Promise<InfluxSeries[]> {
      const q = interpolate(query, { ...fill(), ...vars }, weekFrom(), weekTo(), 60_000);
      const [r] = await influx.query(WEEK, q);
      assert.equal(r!.error, undefined, `${q}\n→ ${r!.error}`);
      return r!.series ?? [];
    }

    it('minutes per activity per day of each person are the bouts that stopped that day', async () => {
      const expected = expectedDays();
      const got = new Map<string, number>();
      for (const subject of demo.subjects) {
        for (const s of await rows(target('Time per activity per day — $subject'), {
          subject: regexOf([subject]),
        }))
          for (const [time, minutes] of s.values)
            got.set(`${subject}|${s.tags!['activity']}|${dayOf(time)}`, Number(minutes));
      }
      assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort());
      for (const [key, v] of expected)
        assert.ok(Math.abs(got.get(key)! - v.minutes) < 1e-6, `${key}: ${got.get(key)} ≠ ${v.minutes}`);
      // Every person has data on each day of the week but their days off.
      for (const subject of demo.subjects) {
        const days = new Set(
          [...got.keys()].filter((k) => k.startsWith(`${subject}|`)).map((k) => k.split('|')[2]),
        );
        const daysOff = [0, 1, 2, 3, 4, 5, 6].filter((d) => absent(d) === subject).length;
        assert.equal(days.size, 7 - daysOff, subject);
      }
    });

    it('sessions per day count the bouts; the week table sums them per person and activity', async () => {
      const expected = expectedDays();
      let checked = 0;
      for (const s of await rows(target('Sessions per day'), {})) {
        for (const [time, sessions] of s.values) {
          const key = `${s.tags!['subject']}|${s.tags!['activity']}|${dayOf(time)}`;
          assert.equal(Number(sessions), expected.get(key)?.sessions, key);
          checked++;
        }
      }
      assert.equal(checked, expected.size);
      const table = await rows(target('Time and sessions per person and activity'), {});
      for (const s of table) {
        const [, minutes, sessions, meanS] = s.values[0]!.map(Number);
        const days = [...expected].filter(([k]) =>
          k.startsWith(`${s.tags!['subject']}|${s.tags!['activity']}|`),
        );
        const total = days.reduce((a, [, v]) => a + v.minutes, 0);
        const count = days.reduce((a, [, v]) => a + v.sessions, 0);
        assert.ok(Math.abs(minutes! - total) < 1e-6 && sessions === count, JSON.stringify(s));
        assert.ok(Math.abs(meanS! - (total * 60) / count) < 1e-6, 'mean session length');
      }
    });

    it('days follow the time-zone variable: 23:40 UTC is the next day in Berlin', async () => {
      const utc = await rows(target('Sessions per day'), { tz: 'UTC' });
      const berlin = await rows(target('Sessions per day'), { tz: 'Europe/Berlin' });
      const days = (series: InfluxSeries[]): number[] =>
        [...new Set(series.flatMap((s) => s.values.map((v) => Number(v[0]) / 1e6)))].sort((a, b) => a - b);
      const utcDays = days(utc);
      const berlinDays = days(berlin);
      assert.ok(
        utcDays.every((t) => t % 86_400_000 === 0),
        'UTC buckets start at midnight UTC',
      );
      assert.equal(berlinDays.length, 7);
      // Berlin's midnight is 23:00 UTC (winter): each bucket starts 1 h after the UTC day it follows.
      assert.deepEqual(
        berlinDays,
        utcDays.map((t) => t + 23 * 3_600_000),
      );
    });

    it('reps per set: reps, sets (rep 1 opens a set) and the largest set per person and activity', async () => {
      const expected = new Map<string, { reps: number; sets: number; largest: number }>();
      for (let day = 0; day < 7; day++) {
        for (const line of demo.lines) {
          const m = /^reps,activity=([^,]+),gateway=[^,]+,subject=([^ ]+) count=(\d+)i /.exec(line);
          if (!m || m[2] === absent(day)) continue;
          const key = `${m[2]}|${m[1]}`;
          const v = expected.get(key) ?? { reps: 0, sets: 0, largest: 0 };
          const n = Number(m[3]);
          expected.set(key, {
            reps: v.reps + 1,
            sets: v.sets + (n === 1 ? 1 : 0),
            largest: Math.max(v.largest, n),
          });
        }
      }
      assert.ok(expected.size > 0, 'the demo has reps');
      const reps = await rows(target('Reps per set', 0), {});
      const sets = await rows(target('Reps per set', 1), {});
      const setsOf = new Map(
        sets.map((s) => [`${s.tags!['subject']}|${s.tags!['activity']}`, Number(s.values[0]![1])]),
      );
      assert.equal(reps.length, expected.size);
      for (const s of reps) {
        const key = `${s.tags!['subject']}|${s.tags!['activity']}`;
        const [, n, largest] = s.values[0]!.map(Number);
        assert.deepEqual({ reps: n, sets: setsOf.get(key), largest }, expected.get(key), key);
      }
    });
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
