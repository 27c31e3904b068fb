/**
 * No gateway source file grows past MAX_LINES without saying why at its top: a long file is
 * usually several jobs in one, and the reason line makes that a decision rather than drift.
 * The reason goes in the file's first comment block, on a line starting with `Long file:`.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAX_LINES = 400;

function lineCount(text: string): number {
  if (text === '') return 0;
  const lines = text.split('\n').length;
  return text.endsWith('\n') ? lines - 1 : lines;
}

/**
 * The text of the file's first comment: a block comment, or a run of consecutive line comments.
 * Imports and re-exports may come before it; any other code before it means there is none.
 */
function firstCommentBlock(text: string): string | undefined {
  const lines = text.split('\n');
  let inImport = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (inImport) {
      // A multi-line `import { a, b } from '...'` ends on the line that names its module.
      if (/\bfrom\s+['"]/.test(line)) inImport = false;
      continue;
    }
    if (line.startsWith('/*')) {
      const end = lines.findIndex((l, j) => j >= i && l.includes('*/'));
      return lines.slice(i, end === -1 ? undefined : end + 1).join('\n');
    }
    if (line.startsWith('//')) {
      let end = i;
      while (end < lines.length && lines[end]!.trim().startsWith('//')) end++;
      return lines.slice(i, end).join('\n');
    }
    if (line === '') continue;
    if (/^(import|export\s+(type\s+)?(\*|\{))/.test(line)) {
      inImport = !/\bfrom\s+['"]|^import\s+['"]/.test(line);
      continue;
    }
    return undefined;
  }
  return undefined;
}

/** The reason given on a `Long file:` line of the first comment block, if any. */
function longFileReason(text: string): string | undefined {
  const block = firstCommentBlock(text);
  if (block === undefined) return undefined;
  for (const raw of block.split('\n')) {
    const line = raw.replace(/^\s*(\/\*\*?|\*\/|\*|\/\/)?\s*/, '');
    const match = /^Long file:\s*(.*?)\s*(\*\/)?$/.exec(line);
    if (match && match[1]!.length >= 10) return match[1];
  }
  return undefined;
}

/** Files over the limit without a reason, as `path (N lines)`. */
function oversized(files: readonly { path: string; text: string }[], maxLines = MAX_LINES): string[] {
  return files
    .filter((f) => lineCount(f.text) > maxLines && longFileReason(f.text) === undefined)
    .map((f) => `${f.path} (${lineCount(f.text)} lines)`);
}

async function gatewaySources(): Promise<{ path: string; text: string }[]> {
  const entries = await readdir(join(ROOT, 'gateway'), { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile() && e.name.endsWith('.ts'));
  return Promise.all(
    files.map(async (e) => {
      const full = join(e.parentPath, e.name);
      return { path: relative(ROOT, full), text: await readFile(full, 'utf8') };
    }),
  );
}

const long = (header: string) => header + 'const x = 1;\n'.repeat(MAX_LINES + 1);

describe('file size guard', () => {
  it(`every gateway/**/*.ts over ${MAX_LINES} lines says why at its top`, async () => {
    const files = await gatewaySources();
    assert.ok(files.length > 100, `found only ${files.length} gateway sources`);
    assert.deepEqual(
      oversized(files),
      [],
      `split these files, or put a line "Long file: <reason>" in their first comment block`,
    );
  });

  it('refuses a long file without a reason, and one whose reason is not in the first comment', () => {
    assert.equal(oversized([{ path: 'a.ts', text: long('') }]).length, 1);
    const late =
      long('/* What this file does. */\n') + '/* Long file: one state machine, kept whole on purpose. */\n';
    assert.equal(oversized([{ path: 'b.ts', text: late }]).length, 1);
    const afterCode = 'const y = 2;\n/* Long file: one state machine, kept whole on purpose. */\n' + long('');
    assert.equal(oversized([{ path: 'c.ts', text: afterCode }]).length, 1);
    assert.equal(
      oversized([{ path: 'd.ts', text: long('/*\n * Long file:\n */\n') }]).length,
      1,
      'empty reason',
    );
  });

  it('accepts a reason in a block or line comment, after the imports', () => {
    const block = long(
      "import { a } from './a.ts';\nimport {\n  b,\n  c,\n} from './b.ts';\n\n/*\n * What this does.\n *\n * Long file: one decoder table per vendor frame type, split by frame type would scatter it.\n */\n",
    );
    assert.deepEqual(oversized([{ path: 'e.ts', text: block }]), []);
    const line = long('// Long file: generated lookup table, one entry per line.\n');
    assert.deepEqual(oversized([{ path: 'f.ts', text: line }]), []);
    assert.deepEqual(
      oversized([{ path: 'g.ts', text: 'const x = 1;\n'.repeat(MAX_LINES) }]),
      [],
      'at the limit',
    );
  });
});
