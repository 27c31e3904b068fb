import type { ErrorObject } from 'ajv';
import { REDACTED, isSecretField, isUrlField, redactUrl } from '../observability/redact.ts';

/*
 * Turns ajv errors into sentences a user can act on: which key, what value it has, what was
 * expected. Shared by the config loader, the model manifest check and the devices file (all JSON Schema).
 * Errors must come from a validator built with `verbose: true` (so each carries its data and
 * schema) and `allErrors: true` (so every problem is listed at once).
 */

export interface ValidationProblem {
  /** Path segments from the document root to the offending value (or to the missing key). */
  readonly path: readonly (string | number)[];
  /** `mqtt.queue.memoryMessages`, `subjects[0].id`; `(root)` for the document itself. */
  readonly key: string;
  readonly message: string;
}

export function pointerToSegments(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

export function formatKey(path: readonly (string | number)[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out === '' ? '(root)' : out;
}

/** Short, single-line rendering of a value for messages (secrets are never validated as such). */
export function describeValue(value: unknown): string {
  const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  if (text.length > 60) text = `${text.slice(0, 57)}...`;
  return kind === 'object' || kind === 'array' || kind === 'null' ? `${text}` : `${text} (${kind})`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function expectedType(schema: unknown): string {
  if (!schema || typeof schema !== 'object') return 'a value';
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s['enum']))
    return `one of ${(s['enum'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  if ('const' in s) return JSON.stringify(s['const']);
  if (typeof s['type'] === 'string') return article(s['type']);
  if (Array.isArray(s['type'])) return (s['type'] as string[]).map(article).join(' or ');
  return 'a value';
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

const comparisonWords: Record<string, string> = {
  '>=': 'at least',
  '<=': 'at most',
  '>': 'greater than',
  '<': 'less than',
};

/** What the schema expected, in words, for one ajv error. */
function expectation(error: ErrorObject): string {
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'type':
      return `expected ${String(p['type']).split(',').map(article).join(' or ')}`;
    case 'enum':
      return `expected one of ${(p['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `expected ${JSON.stringify(p['allowedValue'])}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `expected a number ${comparisonWords[String(p['comparison'])] ?? String(p['comparison'])} ${String(p['limit'])}`;
    case 'minLength':
      return `expected at least ${String(p['limit'])} character${p['limit'] === 1 ? '' : 's'}`;
    case 'maxLength':
      return `expected at most ${String(p['limit'])} characters`;
    case 'minItems':
      return `expected at least ${String(p['limit'])} item${p['limit'] === 1 ? '' : 's'}`;
    case 'maxItems':
      return `expected at most ${String(p['limit'])} items`;
    case 'uniqueItems':
      return `expected unique items (items ${Math.min(Number(p['i']), Number(p['j']))} and ${Math.max(Number(p['i']), Number(p['j']))} are the same)`;
    case 'pattern': {
      const description = (error.parentSchema as Record<string, unknown> | undefined)?.['description'];
      return `expected a string matching ${String(p['pattern'])}${typeof description === 'string' ? ` (${description})` : ''}`;
    }
    case 'format':
      return `expected a valid ${String(p['format'])}`;
    case 'multipleOf':
      return `expected a multiple of ${String(p['multipleOf'])}`;
    default:
      return error.message ?? `failed ${error.keyword}`;
  }
}

/**
 * One message per ajv error: `<key>: got <value>, <expected>`; for missing keys
 * `<key>: missing, expected <type>`; for unknown keys `<key>: unknown key, allowed: ...`.
 */
export function describeAjvErrors(errors: readonly ErrorObject[]): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    const base = pointerToSegments(error.instancePath);
    const p = error.params as Record<string, unknown>;
    let path = base;
    let message: string;
    if (error.keyword === 'required') {
      const missing = String(p['missingProperty']);
      path = [...base, missing];
      const properties = (error.parentSchema as Record<string, unknown> | undefined)?.['properties'] as
        Record<string, unknown> | undefined;
      message = `missing, expected ${expectedType(properties?.[missing])}`;
    } else if (error.keyword === 'additionalProperties') {
      const extra = String(p['additionalProperty']);
      path = [...base, extra];
      const allowed = Object.keys(
        ((error.parentSchema as Record<string, unknown> | undefined)?.['properties'] as object | undefined) ??
          {},
      );
      const suggestion = closest(extra, allowed);
      message =
        `unknown key${suggestion ? ` (did you mean '${suggestion}'?)` : ''}` +
        (allowed.length > 0 ? `, allowed: ${allowed.join(', ')}` : ', no keys allowed here');
    } else {
      message = `got ${describeValue(error.data)}, ${expectation(error)}`;
    }
    const key = formatKey(path);
    // Never echo a secret, whatever its type (a numeric password is still a password).
    if (isSecretField(key)) message = message.replace(`got ${describeValue(error.data)}`, `got ${REDACTED}`);
    else if (isUrlField(key) && typeof error.data === 'string')
      message = message.replace(describeValue(error.data), describeValue(redactUrl(error.data)));
    const dedupe = `${key}\u0000${message}`;
    if (seen.has(dedupe)) continue;
    seen.add(dedupe);
    problems.push({ path, key, message });
  }
  return problems;
}
