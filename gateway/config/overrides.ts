import { formatKey } from '../validation/messages.ts';
import { ConfigError } from './errors.ts';

/*
 * Environment (and CLI) overrides of single config keys.
 *
 * `MUJO__<SECTION>__<KEY>[__<KEY>...]=value` sets one key: segments are matched to schema keys
 * ignoring case and underscores (`MUJO__MQTT__EMBEDDED_PORT` and `MUJO__MQTT__EMBEDDEDPORT`
 * both set `mqtt.embeddedPort`); a numeric segment indexes an array (`MUJO__SUBJECTS__0__ID`).
 * The value is taken as a string where the schema expects a string, otherwise parsed as JSON
 * when it parses (`8080`, `true`, `["cpu"]`, `{"enabled":true}`) and kept as a string when it
 * does not (validation then names the variable). An empty value removes the key, so its
 * default applies. A variable naming no key is an error, not silently ignored.
 */

export const ENV_PREFIX = 'MUJO__';

export interface ConfigOverride {
  readonly path: readonly (string | number)[];
  /** `undefined` removes the key. */
  readonly value: unknown;
  /** Where it came from, for messages: `env MUJO__HTTP__PORT`, `--port`. */
  readonly source: string;
}

type Schema = Record<string, unknown>;

const normalise = (s: string) => s.replace(/_/g, '').toLowerCase();

function childSchema(
  schema: Schema | undefined,
  segment: string,
): { key: string | number; schema: Schema } | undefined {
  if (!schema) return undefined;
  const properties = schema['properties'] as Record<string, Schema> | undefined;
  if (properties) {
    const key = Object.keys(properties).find((k) => normalise(k) === normalise(segment));
    return key === undefined ? undefined : { key, schema: properties[key]! };
  }
  if (schema['type'] === 'array' && /^(0|[1-9][0-9]*)$/.test(segment)) {
    return { key: Number(segment), schema: (schema['items'] as Schema | undefined) ?? {} };
  }
  return undefined;
}

function parseValue(raw: string, schema: Schema): unknown {
  if (schema['type'] === 'string') return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/** Every `MUJO__…` variable in `env` as an override, in name order (so results are stable). */
export function envOverrides(
  env: Readonly<Record<string, string | undefined>>,
  rootSchema: Schema,
): ConfigOverride[] {
  const overrides: ConfigOverride[] = [];
  const problems: string[] = [];
  const names = Object.keys(env)
    .filter((n) => n.toUpperCase().startsWith(ENV_PREFIX))
    .sort();
  for (const name of names) {
    const raw = env[name];
    if (raw === undefined) continue;
    const segments = name.slice(ENV_PREFIX.length).split('__');
    const path: (string | number)[] = [];
    let schema: Schema | undefined = rootSchema;
    let failed = false;
    for (const segment of segments) {
      const child = childSchema(schema, segment);
      if (!child) {
        const properties = schema?.['properties'] as Record<string, unknown> | undefined;
        const where = path.length === 0 ? 'at the top level' : `under '${formatKey(path)}'`;
        problems.push(
          `env ${name}: no key '${segment}' ${where}` +
            (properties ? `, allowed: ${Object.keys(properties).join(', ')}` : ' (it is not a section)'),
        );
        failed = true;
        break;
      }
      path.push(child.key);
      schema = child.schema;
    }
    if (failed || !schema) continue;
    overrides.push({ path, value: raw === '' ? undefined : parseValue(raw, schema), source: `env ${name}` });
  }
  if (problems.length > 0) {
    throw new ConfigError('CONFIG_INVALID', 'Invalid configuration: unknown environment override', problems);
  }
  return overrides;
}

/** Applies overrides in order to a plain object tree (mutating it), creating parents as needed. */
export function applyOverrides(target: Record<string, unknown>, overrides: readonly ConfigOverride[]): void {
  for (const { path, value } of overrides) {
    let node: Record<string | number, unknown> = target;
    for (let i = 0; i < path.length - 1; i++) {
      const segment = path[i]!;
      const next = node[segment];
      if (next === null || typeof next !== 'object') {
        node[segment] = typeof path[i + 1] === 'number' ? [] : {};
      }
      node = node[segment] as Record<string | number, unknown>;
    }
    const last = path[path.length - 1];
    if (last === undefined) continue;
    if (value === undefined) {
      if (Array.isArray(node) && typeof last === 'number') node.splice(last, 1);
      else delete node[last];
    } else {
      node[last] = value;
    }
  }
}
