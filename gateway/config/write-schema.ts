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

async function main(args: readonly string[]): Promise<number> {
  const expected = renderSchema();
  if (args.includes('--check')) {
    const actual = await readFile(SCHEMA_FILE, 'utf8').catch(() => undefined);
    if (actual === expected) {
      process.stdout.write(`${SCHEMA_FILE} is up to date\n`);
      return 0;
    }
    process.stderr.write(
      `${SCHEMA_FILE} is ${actual === undefined ? 'missing' : 'out of date'} with gateway/config/schema.ts; run \`npm run schemas\`\n`,
    );
    return 1;
  }
  await mkdir(dirname(SCHEMA_FILE), { recursive: true });
  await writeFile(SCHEMA_FILE, expected);
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
