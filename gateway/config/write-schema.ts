import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publishedSchema } from './schema.ts';

/*
 * Writes config/schemas/gateway.schema.json from the TypeBox schema (`npm run schemas`).
 * With --check it writes nothing and exits 1 when the file differs, so CI catches a schema
 * change that was not regenerated.
 */

export const SCHEMA_FILE = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'config',
  'schemas',
  'gateway.schema.json',
);

export function renderSchema(): string {
  return `${JSON.stringify(publishedSchema(), null, 2)}\n`;
}

/** `--check`: compare instead of writing. `--file <path>`: another target (tests). */
async function main(args: readonly string[]): Promise<number> {
  const fileFlag = args.indexOf('--file');
  const target = fileFlag >= 0 ? args[fileFlag + 1] : SCHEMA_FILE;
  if (!target) {
    process.stderr.write('--file needs a path\n');
    return 2;
  }
  const expected = renderSchema();
  if (args.includes('--check')) {
    const actual = await readFile(target, 'utf8').catch(() => undefined);
    if (actual === expected) {
      process.stdout.write(`${target} is up to date\n`);
      return 0;
    }
    process.stderr.write(
      `${target} is ${actual === undefined ? 'missing' : 'out of date'} with gateway/config/schema.ts; run \`npm run schemas\`\n`,
    );
    return 1;
  }
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, expected);
  process.stdout.write(`wrote ${target}\n`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
