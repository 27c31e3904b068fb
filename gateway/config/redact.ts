import { stringify } from 'yaml';
import { publishedSchema, type GatewayConfig } from './schema.ts';

import { REDACTED, SECRET_FIELDS, URL_FIELDS, redactUrl, visitPath } from '../observability/redact.ts';

export { REDACTED };

/**
 * A copy safe to print or log: every secret field (gateway/observability/redact.ts says
 * which) replaced, and the password inside every URL field.
 */
export function redactConfig(config: GatewayConfig): GatewayConfig {
  const copy = structuredClone(config);
  for (const path of SECRET_FIELDS) visitPath(copy, path, (_v, set) => set(REDACTED));
  for (const path of URL_FIELDS)
    visitPath(copy, path, (v, set) => {
      if (typeof v === 'string') set(redactUrl(v));
    });
  return copy;
}

/** The effective configuration as YAML (what --print-config shows), secrets redacted. */
export function configToYaml(config: GatewayConfig): string {
  return stringify(inSchemaOrder(redactConfig(config), publishedSchema()), { lineWidth: 0 });
}

/** Keys in the schema's (and the example file's) order, whatever order overrides added them in. */
function inSchemaOrder(value: unknown, schema: Record<string, unknown> | undefined): unknown {
  if (Array.isArray(value))
    return value.map((v) => inSchemaOrder(v, schema?.['items'] as Record<string, unknown>));
  if (value === null || typeof value !== 'object') return value;
  const properties = (schema?.['properties'] ?? {}) as Record<string, Record<string, unknown>>;
  const source = value as Record<string, unknown>;
  const keys = [
    ...Object.keys(properties).filter((k) => k in source),
    ...Object.keys(source).filter((k) => !(k in properties)),
  ];
  return Object.fromEntries(keys.map((k) => [k, inSchemaOrder(source[k], properties[k])]));
}
