/** What stands in for a secret in logs, errors, /health and --print-config. */
export const REDACTED = '<redacted>';

/*
 * The one place that says what is secret in the configuration. Paths use `[]` for "every
 * item of an array" (`cameras[].url`). Everything that shows configuration or runtime values
 * (--print-config, --validate-config, log lines, /health, MQTT status) goes through these.
 */

/** Fields whose whole value is a secret. */
export const SECRET_FIELDS: readonly string[] = [
  'mqtt.password',
  'mqtt.commands.token',
  'http.token',
  'influx.token',
];

/** URL fields whose user-info may carry a password (`scheme://user:password@host`). */
export const URL_FIELDS: readonly string[] = ['mqtt.url', 'influx.url', 'cameras[].url'];

/** `cameras[0].url` → `cameras[].url`, the form of the lists above. */
export function genericKey(key: string): string {
  return key.replace(/\[\d+\]/g, '[]');
}

export function isSecretField(key: string): boolean {
  return SECRET_FIELDS.includes(genericKey(key));
}

export function isUrlField(key: string): boolean {
  return URL_FIELDS.includes(genericKey(key));
}

/**
 * A URL as it may be shown: the password of `scheme://user:password@host/…` replaced, the
 * user name kept (it helps debugging). Works for any scheme (mqtt, rtsp, http…) and for
 * strings that are not valid URLs.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z0-9+.-]+:\/\/[^:/@]*:)[^@/]*@/i, `$1${REDACTED}@`);
}

/** The password inside a URL's user-info, as written and percent-decoded. */
export function urlPasswords(url: string): string[] {
  const m = /^[a-z0-9+.-]+:\/\/[^:/@]*:([^@/]*)@/i.exec(url);
  if (!m || m[1] === '') return [];
  const raw = m[1]!;
  let decoded = raw;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    // not percent-encoded
  }
  return decoded === raw ? [raw] : [raw, decoded];
}

/** Calls `fn` with every value at `path` (`a.b`, `list[].c`) of `root`, and a setter for it. */
export function visitPath(
  root: unknown,
  path: string,
  fn: (value: unknown, set: (v: unknown) => void) => void,
): void {
  const parts = path.split('.');
  const walk = (node: unknown, i: number): void => {
    if (node === null || typeof node !== 'object') return;
    const part = parts[i]!;
    const isList = part.endsWith('[]');
    const name = isList ? part.slice(0, -2) : part;
    const obj = node as Record<string, unknown>;
    const value = obj[name];
    if (isList) {
      if (!Array.isArray(value)) return;
      if (i === parts.length - 1) value.forEach((v, j) => fn(v, (nv) => (value[j] = nv)));
      else for (const item of value) walk(item, i + 1);
      return;
    }
    if (i === parts.length - 1) {
      if (value !== undefined) fn(value, (nv) => (obj[name] = nv));
    } else walk(value, i + 1);
  };
  walk(root, 0);
}

/**
 * Every secret value in a (validated or raw) configuration object: the secret fields, the
 * passwords inside URL fields, and the password half of an InfluxDB 1.x `user:password` token.
 */
export function secretValues(config: unknown): string[] {
  const out = new Set<string>();
  const add = (v: unknown) => {
    if (v === undefined || v === null || v === '') return;
    const s = String(v);
    // Very short values would scrub unrelated text (a password "1" in every number).
    if (s.length >= 4) out.add(s);
  };
  for (const path of SECRET_FIELDS)
    visitPath(config, path, (v) => {
      add(v);
      if (path === 'influx.token' && typeof v === 'string' && v.includes(':'))
        add(v.slice(v.indexOf(':') + 1));
    });
  for (const path of URL_FIELDS)
    visitPath(config, path, (v) => {
      if (typeof v === 'string') for (const p of urlPasswords(v)) add(p);
    });
  return [...out].sort((a, b) => b.length - a.length);
}

/** `text` with every occurrence of each secret replaced (the last line of defence for logs). */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  // A JSON-escaped form too (a secret with a quote or backslash inside a log line).
  for (const s of secrets) {
    const escaped = JSON.stringify(s).slice(1, -1);
    if (escaped !== s && out.includes(escaped)) out = out.split(escaped).join(REDACTED);
  }
  return out;
}
