import { readFile } from 'node:fs/promises';
import { LineCounter, isNode, parseDocument, type Document } from 'yaml';
import { publishedSchema, type GatewayConfig } from './schema.ts';
import { applyOverrides, envOverrides, type ConfigOverride } from './overrides.ts';
import { validateConfig } from './validate.ts';
import { ConfigError } from './errors.ts';

/** Env variable naming the config file when `--config` is not given. */
export const CONFIG_FILE_ENV = 'MUJO_CONFIG';

export interface LoadConfigOptions {
  /** YAML file; absent → `env.MUJO_CONFIG`; neither → defaults only (the demo). */
  readonly file?: string | undefined;
  /** Environment to read `MUJO__…` overrides from (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Applied last (CLI conveniences such as --port). */
  readonly overrides?: readonly ConfigOverride[];
}

export interface LoadedConfig {
  readonly config: GatewayConfig;
  /** The file read, if any. */
  readonly file: string | undefined;
}

interface ParsedFile {
  readonly data: unknown;
  readonly document: Document;
  readonly lineCounter: LineCounter;
}

/** Parses YAML text; syntax errors (and duplicate keys) throw CONFIG_PARSE with line and column. */
export function parseConfigText(text: string, fileName: string): ParsedFile {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      'CONFIG_PARSE',
      `Cannot parse configuration file ${fileName}`,
      document.errors.map((e) => `${fileName}: ${e.message.trim()}`),
    );
  }
  const data = document.toJS({ maxAliasCount: 1000 }) as unknown;
  return { data: data ?? {}, document, lineCounter };
}

/** `file:line:col` of the YAML node at `path`, or of its nearest ancestor present in the file. */
function locateInFile(parsed: ParsedFile, fileName: string, path: readonly (string | number)[]) {
  for (let n = path.length; n >= 1; n--) {
    const node = parsed.document.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) {
      const { line, col } = parsed.lineCounter.linePos(node.range[0]);
      return `${fileName}:${line}:${col}`;
    }
  }
  return undefined;
}

function isPrefix(prefix: readonly (string | number)[], path: readonly (string | number)[]): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => s === path[i]);
}

/**
 * Effective configuration = schema defaults ← YAML file ← `MUJO__…` environment ← overrides.
 * Throws ConfigError: CONFIG_NOT_FOUND (file missing/unreadable), CONFIG_PARSE (YAML syntax),
 * CONFIG_INVALID (every schema or cross-field problem, each naming where its value came from).
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const file = options.file ?? (env[CONFIG_FILE_ENV] || undefined);
  let parsed: ParsedFile | undefined;
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const reason =
        (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
      throw new ConfigError('CONFIG_NOT_FOUND', `Cannot read configuration file ${file}: ${reason}`, [], {
        cause: err,
      });
    }
    parsed = parseConfigText(text, file);
  }

  const overrides = [...envOverrides(env, publishedSchema()), ...(options.overrides ?? [])];
  let raw: unknown = parsed?.data ?? {};
  if (overrides.length > 0) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      // Overrides need a mapping to go into; report the file's shape instead of guessing.
      validateConfig(raw, { origin: file });
    }
    raw = structuredClone(raw);
    applyOverrides(raw as Record<string, unknown>, overrides);
  }

  const locate = (path: readonly (string | number)[]) => {
    // The last override touching this key (or a section containing it) decided its value.
    for (let i = overrides.length - 1; i >= 0; i--) {
      const o = overrides[i]!;
      if (isPrefix(o.path, path) || isPrefix(path, o.path)) return `from ${o.source}`;
    }
    return parsed && file !== undefined ? locateInFile(parsed, file, path) : undefined;
  };
  const config = validateConfig(raw, { locate, origin: file });
  return { config, file };
}
