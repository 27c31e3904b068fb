/*
 * Source of the Grafana dashboards: `node --import tsx dashboards/grafana/build.ts` writes
 * overview.json, devices.json and gateway.json next to this file. The JSON files are what
 * Grafana provisions; test/contract/dashboards.test.ts checks they match this builder,
 * validate against the @grafana/schema dashboard schema, and that every query runs against
 * a real InfluxDB 1.x loaded with the gateway's own line protocol.
 *
 * Every query is InfluxQL (portable across InfluxDB 1.8+, 2.x through DBRP mappings, and
 * 3.x) and names each selected value with AS, so the columns a panel gets are explicit.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';

type Json = Record<string, unknown>;

const DS = { type: 'influxdb', uid: '${datasource}' };
const GW = `"gateway" =~ /^$gateway$/`;

interface PanelSpec {
  readonly title: string;
  readonly type: 'timeseries' | 'state-timeline' | 'stat' | 'barchart' | 'table';
  readonly description: string;
  readonly queries: ReadonlyArray<{
    readonly query: string;
    readonly alias?: string;
    /** `table`: one row per series (tags as columns), for table panels. */
    readonly format?: 'time_series' | 'table';
  }>;
  /** Grafana transformations applied to the query results (e.g. reps ÷ sets). */
  readonly transformations?: Json[];
  readonly w: number;
  readonly h: number;
  readonly unit?: string;
  readonly decimals?: number;
  readonly min?: number;
  readonly max?: number;
  readonly mappings?: Json[];
  readonly thresholds?: Json[];
  readonly repeat?: string;
  readonly options?: Json;
  readonly custom?: Json;
  readonly colorMode?: 'palette-classic' | 'thresholds' | 'continuous-GrYlRd';
}

function panel(spec: PanelSpec, id: number, x: number, y: number): Json {
  return {
    id,
    type: spec.type,
    title: spec.title,
    description: spec.description,
    datasource: DS,
    gridPos: { x, y, w: spec.w, h: spec.h },
    ...(spec.repeat ? { repeat: spec.repeat, repeatDirection: 'v' } : {}),
    targets: spec.queries.map((q, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DS,
      rawQuery: true,
      resultFormat: q.format ?? 'time_series',
      query: q.query,
      ...(q.alias ? { alias: q.alias } : {}),
    })),
    fieldConfig: {
      defaults: {
        ...(spec.unit ? { unit: spec.unit } : {}),
        ...(spec.decimals !== undefined ? { decimals: spec.decimals } : {}),
        ...(spec.min !== undefined ? { min: spec.min } : {}),
        ...(spec.max !== undefined ? { max: spec.max } : {}),
        color: { mode: spec.colorMode ?? 'palette-classic' },
        mappings: spec.mappings ?? [],
        thresholds: { mode: 'absolute', steps: spec.thresholds ?? [{ color: 'green', value: null }] },
        ...(spec.custom ? { custom: spec.custom } : {}),
      },
      overrides: [],
    },
    options: spec.options ?? {},
    ...(spec.transformations ? { transformations: spec.transformations } : {}),
  };
}

/** Lays panels out left to right, wrapping at 24 columns. */
function layout(specs: readonly PanelSpec[]): Json[] {
  let x = 0;
  let y = 0;
  let rowH = 0;
  return specs.map((s, i) => {
    if (x + s.w > 24) {
      x = 0;
      y += rowH;
      rowH = 0;
    }
    const p = panel(s, i + 1, x, y);
    x += s.w;
    rowH = Math.max(rowH, s.h);
    return p;
  });
}

function queryVariable(name: string, label: string, query: string, multi: boolean): Json {
  return {
    type: 'query',
    name,
    label,
    datasource: DS,
    query,
    refresh: 2,
    sort: 1,
    multi,
    includeAll: multi,
    options: [],
    hide: 0,
  };
}

const datasourceVariable: Json = {
  type: 'datasource',
  name: 'datasource',
  label: 'Data source',
  query: 'influxdb',
  options: [],
  refresh: 1,
  hide: 0,
};
const gatewayVariable = queryVariable('gateway', 'Gateway', 'SHOW TAG VALUES WITH KEY = "gateway"', false);

function dashboard(
  uid: string,
  title: string,
  description: string,
  variables: Json[],
  specs: readonly PanelSpec[],
  view: { readonly from: string; readonly refresh: string } = { from: 'now-1h', refresh: '10s' },
): Json {
  return {
    uid,
    title,
    description,
    tags: ['mujo'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: view.refresh,
    time: { from: view.from, to: 'now' },
    timezone: 'browser',
    links: [
      {
        title: 'mujo',
        type: 'dashboards',
        tags: ['mujo'],
        asDropdown: false,
        includeVars: true,
        keepTime: true,
        icon: 'external link',
        targetBlank: false,
        tooltip: '',
        url: '',
      },
    ],
    annotations: { list: [] },
    templating: { list: [datasourceVariable, gatewayVariable, ...variables] },
    panels: layout(specs),
  };
}

const onOff = (off: string, on: string): Json[] => [
  {
    type: 'value',
    options: { '0': { text: off, color: 'red', index: 0 }, '1': { text: on, color: 'green', index: 1 } },
  },
];

const timeseries = (custom: Json = {}): Json => ({
  drawStyle: 'line',
  lineWidth: 1,
  fillOpacity: 10,
  showPoints: 'auto',
  spanNulls: false,
  ...custom,
});
const legend = {
  legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
  tooltip: { mode: 'multi', sort: 'none' },
};
const stateTimeline = (mergeValues: boolean): Json => ({
  mergeValues,
  showValue: 'never',
  alignValue: 'left',
  rowHeight: 0.9,
  legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
  tooltip: { mode: 'single', sort: 'none' },
});

export function overview(): Json {
  const SUBJ = `"subject" =~ /^$subject$/`;
  return dashboard(
    'mujo-overview',
    'mujo — activity overview',
    "Each subject's activity over time, how sure the model is, which sensors it used, and repetitions.",
    [
      queryVariable(
        'subject',
        'Subject',
        `SHOW TAG VALUES FROM "activity" WITH KEY = "subject" WHERE ${GW}`,
        true,
      ),
    ],
    [
      {
        title: 'Activity — $subject',
        type: 'state-timeline',
        description:
          'One row per activity. An activity point is written where it starts (its confidence) and where it stops (0), so a row is coloured while that activity goes on.',
        repeat: 'subject',
        w: 24,
        h: 7,
        queries: [
          {
            query: `SELECT "confidence" AS "confidence" FROM "activity" WHERE ${GW} AND "subject" =~ /^$subject$/ AND $timeFilter GROUP BY "activity"`,
            alias: '$tag_activity',
          },
        ],
        unit: 'percentunit',
        min: 0,
        max: 1,
        colorMode: 'thresholds',
        thresholds: [
          { color: 'transparent', value: null },
          { color: 'orange', value: 0.001 },
          { color: 'green', value: 0.6 },
        ],
        options: stateTimeline(false),
        custom: { fillOpacity: 80, lineWidth: 0 },
      },
      {
        title: 'Confidence',
        type: 'timeseries',
        description: 'Smoothed confidence of each activity when it started, per subject.',
        w: 12,
        h: 8,
        queries: [
          {
            query: `SELECT max("confidence") AS "confidence" FROM "activity" WHERE ${GW} AND ${SUBJ} AND "confidence" > 0 AND $timeFilter GROUP BY time($__interval), "subject" fill(none)`,
            alias: '$tag_subject',
          },
        ],
        unit: 'percentunit',
        min: 0,
        max: 1,
        options: legend,
        custom: timeseries({ drawStyle: 'points', pointSize: 6 }),
      },
      {
        title: 'Modalities used',
        type: 'state-timeline',
        description:
          'What the fusion used for each decision: IMU only, pose only, or both (bitmask imu=1, pose=2).',
        w: 12,
        h: 8,
        queries: [
          {
            query: `SELECT last("modalities") AS "modalities" FROM "activity" WHERE ${GW} AND ${SUBJ} AND "confidence" > 0 AND $timeFilter GROUP BY time($__interval), "subject" fill(previous)`,
            alias: '$tag_subject',
          },
        ],
        mappings: [
          {
            type: 'value',
            options: {
              '0': { text: 'none', color: 'transparent', index: 0 },
              '1': { text: 'IMU', color: 'blue', index: 1 },
              '2': { text: 'pose', color: 'purple', index: 2 },
              '3': { text: 'IMU + pose', color: 'green', index: 3 },
            },
          },
        ],
        options: stateTimeline(true),
        custom: { fillOpacity: 70, lineWidth: 0 },
      },
      {
        title: 'Repetitions',
        type: 'timeseries',
        description: 'Repetition count of the current activity, per subject and activity.',
        w: 16,
        h: 8,
        queries: [
          {
            query: `SELECT max("count") AS "count" FROM "reps" WHERE ${GW} AND ${SUBJ} AND $timeFilter GROUP BY time($__interval), "subject", "activity" fill(none)`,
            alias: '$tag_subject $tag_activity',
          },
        ],
        unit: 'none',
        decimals: 0,
        min: 0,
        options: legend,
        custom: timeseries({ drawStyle: 'bars', fillOpacity: 60 }),
      },
      {
        title: 'Activities started',
        type: 'stat',
        description: 'Activities that started in the time range, per subject.',
        w: 8,
        h: 8,
        queries: [
          {
            query: `SELECT count("confidence") AS "started" FROM "activity" WHERE ${GW} AND ${SUBJ} AND "confidence" > 0 AND $timeFilter GROUP BY "subject"`,
            alias: '$tag_subject',
          },
        ],
        decimals: 0,
        options: {
          reduceOptions: { calcs: ['sum'], fields: '', values: false },
          colorMode: 'value',
          graphMode: 'none',
          justifyMode: 'auto',
          textMode: 'auto',
          orientation: 'auto',
          wideLayout: true,
          showPercentChange: false,
          percentChangeColorMode: 'standard',
        },
      },
    ],
  );
}

export function devices(): Json {
  const DEV = `"device" =~ /^$device$/`;
  const perDevice = (field: string, agg: string, as: string, fill = 'none'): string =>
    `SELECT ${agg}("${field}") AS "${as}" FROM "device" WHERE ${GW} AND ${DEV} AND $timeFilter GROUP BY time($__interval), "device" fill(${fill})`;
  const increase = (field: string, as: string): string =>
    `SELECT non_negative_difference(max("${field}")) AS "${as}" FROM "device" WHERE ${GW} AND ${DEV} AND $timeFilter GROUP BY time($__interval), "device" fill(none)`;
  return dashboard(
    'mujo-devices',
    'mujo — devices',
    'Sensors and cameras: connection, battery, radio signal, measured sample rate, drops and reconnects.',
    [
      queryVariable(
        'device',
        'Device',
        `SHOW TAG VALUES FROM "device" WITH KEY = "device" WHERE ${GW}`,
        true,
      ),
    ],
    [
      {
        title: 'Connected',
        type: 'state-timeline',
        description: 'Whether each device is connected.',
        w: 24,
        h: 7,
        queries: [{ query: perDevice('connected', 'last', 'connected', 'previous'), alias: '$tag_device' }],
        mappings: onOff('disconnected', 'connected'),
        options: stateTimeline(true),
        custom: { fillOpacity: 70, lineWidth: 0 },
      },
      {
        title: 'Battery',
        type: 'timeseries',
        description: 'Battery charge reported by the device.',
        w: 12,
        h: 8,
        queries: [{ query: perDevice('battery', 'last', 'battery'), alias: '$tag_device' }],
        unit: 'percent',
        min: 0,
        max: 100,
        options: legend,
        custom: timeseries(),
      },
      {
        title: 'RSSI',
        type: 'timeseries',
        description: 'Received signal strength at the gateway.',
        w: 12,
        h: 8,
        queries: [{ query: perDevice('rssi', 'mean', 'rssi'), alias: '$tag_device' }],
        unit: 'dBm',
        options: legend,
        custom: timeseries(),
      },
      {
        title: 'Measured sample rate',
        type: 'timeseries',
        description: 'Samples (or frames) per second actually received.',
        w: 8,
        h: 8,
        queries: [{ query: perDevice('rate_hz', 'mean', 'rate_hz'), alias: '$tag_device' }],
        unit: 'hertz',
        min: 0,
        options: legend,
        custom: timeseries(),
      },
      {
        title: 'Dropped samples',
        type: 'timeseries',
        description: 'Samples lost per interval (gaps, decode errors, full queues).',
        w: 8,
        h: 8,
        queries: [{ query: increase('dropped', 'dropped'), alias: '$tag_device' }],
        unit: 'none',
        min: 0,
        options: legend,
        custom: timeseries({ drawStyle: 'bars', fillOpacity: 60 }),
      },
      {
        title: 'Reconnects',
        type: 'timeseries',
        description: 'Reconnections per interval.',
        w: 8,
        h: 8,
        queries: [{ query: increase('reconnects', 'reconnects'), alias: '$tag_device' }],
        unit: 'none',
        decimals: 0,
        min: 0,
        options: legend,
        custom: timeseries({ drawStyle: 'bars', fillOpacity: 60 }),
      },
    ],
  );
}

export function gateway(): Json {
  const perStage = (sel: string, where = ''): string =>
    `SELECT ${sel} FROM "pipeline" WHERE ${GW}${where} AND $timeFilter GROUP BY time($__interval), "stage" fill(none)`;
  return dashboard(
    'mujo-gateway',
    'mujo — gateway',
    'The pipeline: windows, inference, latency, queues, drops, events, and the state of the MQTT and InfluxDB connections.',
    [],
    [
      {
        title: 'Windows / s',
        type: 'timeseries',
        description: 'Windows handed to inference per second, per stage.',
        w: 8,
        h: 8,
        queries: [
          {
            query: perStage('non_negative_derivative(max("windows"), 1s) AS "windows_per_s"'),
            alias: '$tag_stage',
          },
        ],
        unit: 'short',
        min: 0,
        options: legend,
        custom: timeseries(),
      },
      {
        title: 'Inference time',
        type: 'timeseries',
        description: 'Mean wall time of one encoder batch.',
        w: 8,
        h: 8,
        queries: [
          {
            query: perStage('mean("inference_us") AS "inference_us"', ` AND "inference_us" >= 0`),
            alias: '$tag_stage',
          },
        ],
        unit: 'µs',
        min: 0,
        options: legend,
        custom: timeseries(),
      },
      {
        title: 'Batch size',
        type: 'timeseries',
        description: 'Mean windows per inference batch.',
        w: 8,
        h: 8,
        queries: [
          {
            query: perStage('mean("batch_size") AS "batch_size"', ` AND "batch_size" >= 0`),
            alias: '$tag_stage',
          },
        ],
        unit: 'short',
        min: 0,
        options: legend,
        custom: timeseries(),
      },
      {
        title: 'Event latency',
        type: 'timeseries',
        description: 'Window close → activity event, ms (mean and worst per interval).',
        w: 8,
        h: 8,
        queries: [
          {
            query: `SELECT mean("latency_ms") AS "mean", max("latency_ms") AS "max" FROM "activity" WHERE ${GW} AND $timeFilter GROUP BY time($__interval) fill(none)`,
          },
        ],
        unit: 'ms',
        min: 0,
        options: legend,
        custom: timeseries(),
      },
      {
        title: 'Queue depth',
        type: 'timeseries',
        description: 'Items waiting on each stage (worst per interval).',
        w: 8,
        h: 8,
        queries: [
          {
            query: perStage('max("queue_depth") AS "queue_depth"', ` AND "queue_depth" >= 0`),
            alias: '$tag_stage',
          },
        ],
        unit: 'short',
        min: 0,
        options: legend,
        custom: timeseries(),
      },
      {
        title: 'Drops',
        type: 'timeseries',
        description: 'Items dropped per interval, per stage (every drop in the gateway is counted).',
        w: 8,
        h: 8,
        queries: [
          { query: perStage('non_negative_difference(max("dropped")) AS "dropped"'), alias: '$tag_stage' },
        ],
        unit: 'short',
        min: 0,
        options: legend,
        custom: timeseries({ drawStyle: 'bars', fillOpacity: 60 }),
      },
      {
        title: 'Events / s',
        type: 'timeseries',
        description: 'Activity starts per second.',
        w: 12,
        h: 8,
        queries: [
          {
            query: `SELECT count("confidence") * 1000 / $__interval_ms AS "events_per_s" FROM "activity" WHERE ${GW} AND "confidence" > 0 AND $timeFilter GROUP BY time($__interval) fill(0)`,
          },
        ],
        unit: 'short',
        min: 0,
        options: legend,
        custom: timeseries({ drawStyle: 'bars', fillOpacity: 60 }),
      },
      {
        title: 'MQTT / database connection',
        type: 'state-timeline',
        description:
          'Connection of each sink (sink:mqtt, sink:influx). Points written while InfluxDB was away arrive from the spool once it is back, so outages show here too.',
        w: 12,
        h: 8,
        queries: [
          {
            query: perStage('last("connected") AS "connected"', ` AND "stage" =~ /^sink:/`).replace(
              'fill(none)',
              'fill(previous)',
            ),
            alias: '$tag_stage',
          },
        ],
        mappings: onOff('down', 'up'),
        options: stateTimeline(true),
        custom: { fillOpacity: 70, lineWidth: 0 },
      },
    ],
  );
}

/** Time zones offered for "per day" (InfluxQL tz() clause; InfluxDB 1.x and 3.x). */
const DAY_ZONES = [
  'UTC',
  'Europe/London',
  'Europe/Paris',
  'Europe/Berlin',
  'America/New_York',
  'America/Chicago',
  'America/Los_Angeles',
  'Asia/Tokyo',
  'Australia/Sydney',
];

const tzVariable: Json = {
  type: 'custom',
  name: 'tz',
  label: 'Days in time zone',
  query: DAY_ZONES.join(','),
  current: { text: 'UTC', value: 'UTC', selected: true },
  options: DAY_ZONES.map((z, i) => ({ text: z, value: z, selected: i === 0 })),
  multi: false,
  includeAll: false,
  hide: 0,
};

const dailyBars = timeseries({
  drawStyle: 'bars',
  fillOpacity: 80,
  stacking: { mode: 'normal', group: 'A' },
});

const tableOptions: Json = { showHeader: true, cellHeight: 'sm', frameIndex: 0 };

/**
 * For a manager: per person and per activity, time spent and sessions per day, reps and sets.
 * A session is one bout of an activity, from the point where it starts to the point where
 * it stops; the stop point (confidence 0) carries the bout's length in `window_s`, so
 * `sum("window_s")` over stop points is the time spent and `count("window_s")` the sessions.
 * A bout counts on the day it stops. A set is a run of reps numbered from 1 (`reps.count`
 * is the rep's number in its set), so `count = 1` marks one set each.
 */
export function site(): Json {
  const SUBJ = `"subject" =~ /^$subject$/`;
  const ACT = `"activity" =~ /^$activity$/`;
  const STOPS = `"confidence" = 0`;
  const TZ = `tz('$tz')`;
  const bouts = `FROM "activity" WHERE ${GW} AND ${SUBJ} AND ${ACT} AND ${STOPS} AND $timeFilter`;
  const reps = `FROM "reps" WHERE ${GW} AND ${SUBJ} AND ${ACT} AND $timeFilter`;
  return dashboard(
    'mujo-site',
    'mujo — site (per person, per day)',
    'For a manager: time per activity per person per day, sessions, reps and sets. Days follow the time-zone variable.',
    [
      queryVariable(
        'subject',
        'Person',
        `SHOW TAG VALUES FROM "activity" WITH KEY = "subject" WHERE ${GW}`,
        true,
      ),
      queryVariable(
        'activity',
        'Activity',
        `SHOW TAG VALUES FROM "activity" WITH KEY = "activity" WHERE ${GW}`,
        true,
      ),
      tzVariable,
    ],
    [
      {
        title: 'Active time',
        type: 'stat',
        description: 'Time spent in the selected activities over the time range, per person.',
        w: 24,
        h: 5,
        queries: [
          {
            query: `SELECT sum("window_s") / 3600 AS "hours" ${bouts} GROUP BY "subject"`,
            alias: '$tag_subject',
          },
        ],
        unit: 'h',
        decimals: 1,
        options: {
          reduceOptions: { calcs: ['sum'], fields: '', values: false },
          colorMode: 'value',
          graphMode: 'none',
          justifyMode: 'auto',
          textMode: 'value_and_name',
          orientation: 'auto',
          wideLayout: true,
          showPercentChange: false,
          percentChangeColorMode: 'standard',
        },
      },
      {
        title: 'Time per activity per day — $subject',
        type: 'timeseries',
        description:
          'Minutes per day in each activity (sum of `window_s`, the length written where each bout stops). A bout counts on the day it stops.',
        repeat: 'subject',
        w: 24,
        h: 8,
        queries: [
          {
            query: `SELECT sum("window_s") / 60 AS "minutes" ${bouts} GROUP BY time(1d), "activity" fill(none) ${TZ}`,
            alias: '$tag_activity',
          },
        ],
        unit: 'm',
        decimals: 1,
        min: 0,
        options: legend,
        custom: dailyBars,
      },
      {
        title: 'Sessions per day',
        type: 'timeseries',
        description: 'Bouts of each activity per person per day (one per stop point).',
        w: 12,
        h: 8,
        queries: [
          {
            query: `SELECT count("window_s") AS "sessions" ${bouts} GROUP BY time(1d), "subject", "activity" fill(none) ${TZ}`,
            alias: '$tag_subject · $tag_activity',
          },
        ],
        decimals: 0,
        min: 0,
        options: legend,
        custom: dailyBars,
      },
      {
        title: 'Reps per day',
        type: 'timeseries',
        description: 'Repetitions counted per person and activity per day.',
        w: 12,
        h: 8,
        queries: [
          {
            query: `SELECT count("count") AS "reps" ${reps} GROUP BY time(1d), "subject", "activity" fill(none) ${TZ}`,
            alias: '$tag_subject · $tag_activity',
          },
        ],
        decimals: 0,
        min: 0,
        options: legend,
        custom: dailyBars,
      },
      {
        title: 'Time and sessions per person and activity',
        type: 'table',
        description:
          'Over the time range: minutes, sessions and the mean session length, per person and activity.',
        w: 12,
        h: 9,
        queries: [
          {
            query: `SELECT sum("window_s") / 60 AS "minutes", count("window_s") AS "sessions", mean("window_s") AS "mean session s" ${bouts} GROUP BY "subject", "activity"`,
            format: 'table',
          },
        ],
        decimals: 1,
        options: tableOptions,
        custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false },
      },
      {
        title: 'Reps per set',
        type: 'table',
        description:
          'Over the time range: reps, sets (a set starts at rep 1), reps per set and the largest set, per person and activity.',
        w: 12,
        h: 9,
        queries: [
          {
            query: `SELECT count("count") AS "reps", max("count") AS "largest set" ${reps} GROUP BY "subject", "activity"`,
            format: 'table',
          },
          {
            query: `SELECT count("count") AS "sets" ${reps} AND "count" = 1 GROUP BY "subject", "activity"`,
            format: 'table',
          },
        ],
        transformations: [
          { id: 'merge', options: {} },
          {
            id: 'calculateField',
            options: {
              mode: 'binary',
              binary: { left: 'reps', operator: '/', right: 'sets' },
              alias: 'reps per set',
              replaceFields: false,
            },
          },
          {
            id: 'organize',
            options: {
              excludeByName: { Time: true },
              indexByName: { subject: 0, activity: 1, sets: 2, reps: 3, 'reps per set': 4, 'largest set': 5 },
              renameByName: {},
            },
          },
        ],
        decimals: 1,
        options: tableOptions,
        custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false },
      },
    ],
    { from: 'now-7d', refresh: '5m' },
  );
}

export const DASHBOARDS = { overview, devices, gateway, site } as const;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = dirname(fileURLToPath(import.meta.url));
  for (const [name, build] of Object.entries(DASHBOARDS)) {
    const file = join(dir, `${name}.json`);
    // Formatted as the repository's prettier config wants, so `npm run lint` stays clean.
    const text = await format(JSON.stringify(build()), { ...(await resolveConfig(file)), filepath: file });
    writeFileSync(file, text);
    console.log(`wrote ${file}`);
  }
}
