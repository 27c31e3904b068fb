import { Ajv, type ValidateFunction } from 'ajv';
import { repSettingsFor } from '../pipeline/reps/settings.ts';
import addFormatsModule from 'ajv-formats';
import { publishedSchema, type GatewayConfig } from './schema.ts';
import { describeAjvErrors, formatKey, type ValidationProblem } from '../validation/messages.ts';
import { ConfigError } from './errors.ts';

// ajv-formats is CommonJS with a default export; under NodeNext its type is the module namespace.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: true, verbose: true, useDefaults: true, strict: true });
    addFormats(ajv);
    compiled = ajv.compile(publishedSchema());
  }
  return compiled;
}

/** Names where a problem's value came from (file:line, env variable, CLI flag), if known. */
export type LocateProblem = (path: readonly (string | number)[]) => string | undefined;

/** Rules one key cannot express alone. Runs on a schema-valid config. */
function crossFieldProblems(config: GatewayConfig): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const add = (path: (string | number)[], message: string) =>
    problems.push({ path, key: formatKey(path), message });

  const { enterThreshold, exitThreshold } = config.pipeline.smoothing;
  if (exitThreshold > enterThreshold) {
    add(
      ['pipeline', 'smoothing', 'exitThreshold'],
      `got ${exitThreshold}, expected at most enterThreshold (${enterThreshold}) so that hysteresis holds`,
    );
  }

  for (const [activity, reps] of Object.entries(config.reps.activities)) {
    const settings = repSettingsFor(activity, config.reps.activities);
    if (settings.minPeriodS >= settings.maxPeriodS) {
      add(
        ['reps', 'activities', activity, reps.maxPeriodS !== undefined ? 'maxPeriodS' : 'minPeriodS'],
        `got minPeriodS ${settings.minPeriodS} and maxPeriodS ${settings.maxPeriodS}, expected minPeriodS < maxPeriodS`,
      );
    }
  }

  const tls = config.mqtt.tls;
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    add(
      ['mqtt', 'tls', tls.cert === undefined ? 'cert' : 'key'],
      'missing, expected both cert and key (or neither)',
    );
  }
  if (config.mqtt.password !== undefined && config.mqtt.username === undefined) {
    add(['mqtt', 'username'], 'missing, expected a user name when a password is set');
  }

  const subjectIds = new Map<string, number>();
  const deviceOwner = new Map<string, string>();
  const trackOwner = new Map<string, string>();
  config.subjects.forEach((subject, i) => {
    const first = subjectIds.get(subject.id);
    if (first !== undefined)
      add(['subjects', i, 'id'], `got "${subject.id}", expected a unique id (also subjects[${first}])`);
    else subjectIds.set(subject.id, i);
    subject.devices.forEach((device, j) => {
      const owner = deviceOwner.get(device);
      if (owner !== undefined && owner !== subject.id) {
        add(
          ['subjects', i, 'devices', j],
          `got "${device}", expected a device worn by one subject (also ${owner})`,
        );
      } else deviceOwner.set(device, subject.id);
    });
    subject.cameraTracks.forEach((track, j) => {
      const owner = trackOwner.get(track);
      if (owner !== undefined && owner !== subject.id) {
        add(
          ['subjects', i, 'cameraTracks', j],
          `got "${track}", expected a track of one subject (also ${owner})`,
        );
      } else trackOwner.set(track, subject.id);
    });
  });
  return problems;
}

/**
 * Validates a raw config tree (from YAML + overrides), fills every default in and returns the
 * effective config; the input is not modified. Throws ConfigError(CONFIG_INVALID) listing
 * every problem.
 */
export function validateConfig(
  raw: unknown,
  options: { locate?: LocateProblem; origin?: string } = {},
): GatewayConfig {
  const data: unknown = raw === undefined || raw === null ? {} : structuredClone(raw);
  const validate = validator();
  let problems: ValidationProblem[];
  if (validate(data)) {
    problems = crossFieldProblems(data as GatewayConfig);
  } else {
    problems = describeAjvErrors(validate.errors ?? []);
  }
  if (problems.length === 0) return data as GatewayConfig;
  const lines = problems.map((p) => {
    const where = options.locate?.(p.path);
    return `${p.key}: ${p.message}${where ? ` (${where})` : ''}`;
  });
  const origin = options.origin ? ` (${options.origin})` : '';
  throw new ConfigError(
    'CONFIG_INVALID',
    `Invalid configuration${origin}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`,
    lines,
  );
}

/** The configuration an empty file gives: the demo. */
export function defaultConfig(): GatewayConfig {
  return validateConfig({});
}
