// Lint the trainer (encoders/**/*.py) with Ruff's WebAssembly build and pyproject.toml's
// [tool.ruff] settings; exits 1 on any finding, so `npm test` fails on it.
//
// Why WebAssembly: no PyPI here, and the npm package needs no native binary. Its Workspace
// checks one source text at a time and takes the settings as an object shaped like
// [tool.ruff] (kebab-case keys), so this script reads pyproject.toml, walks the files and
// reports `path:row:column: CODE message` like the ruff command line does.
// pyproject.toml is read by Python's own tomllib (3.11+, the trainer's interpreter): one
// TOML parser that the trainer's tools already trust, instead of another dependency.
//
// Usage: node scripts/ruff.mjs [--fix] [files or folders...]   (default: every encoders/**/*.py)
// --fix applies Ruff's suggested edits, except for the rules in NOT_AUTOFIXED, and reports
// what remains.

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import console from 'node:console';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { PositionEncoding, Workspace } from '@astral-sh/ruff-wasm-nodejs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const python = process.env.MUJO_PYTHON ?? '/usr/bin/python3';
const SKIPPED_DIRS = new Set(['__pycache__', 'fixtures', 'node_modules']);
// Ruff's fix for B905 adds `strict=False`, which only silences the finding; whether two
// sequences must have one length is for a person to decide (the WebAssembly API does not
// mark fixes as unsafe, so this list does).
const NOT_AUTOFIXED = new Set(['B905']);

function ruffSettings() {
  const script =
    'import json, sys, tomllib\n' +
    'with open(sys.argv[1], "rb") as f:\n' +
    '    print(json.dumps(tomllib.load(f)["tool"]["ruff"]))\n';
  const text = execFileSync(python, ['-c', script, path.join(repoRoot, 'pyproject.toml')], {
    encoding: 'utf8',
  });
  // `include` selects files for the ruff command line; the Workspace checks text, not paths.
  const { include, ...settings } = JSON.parse(text);
  return { settings, include: include ?? ['encoders/**/*.py'] };
}

function pythonFiles(target) {
  const stat = statSync(target);
  if (stat.isFile()) return target.endsWith('.py') ? [target] : [];
  return readdirSync(target, { withFileTypes: true })
    .filter((entry) => !SKIPPED_DIRS.has(entry.name))
    .flatMap((entry) => pythonFiles(path.join(target, entry.name)))
    .sort();
}

/** Offsets of each line start, to turn Ruff's 1-based row/column (UTF-16 units) into an index. */
function lineStarts(text) {
  const starts = [0];
  for (let i = 0; i < text.length; i += 1) if (text[i] === '\n') starts.push(i + 1);
  return starts;
}

/** ``text`` with the non-overlapping fix edits of ``diagnostics`` applied (later edits first). */
function applyFixes(text, diagnostics) {
  const starts = lineStarts(text);
  const offset = (loc) => starts[loc.row - 1] + loc.column - 1;
  const edits = diagnostics
    .filter((d) => d.fix && !NOT_AUTOFIXED.has(d.code))
    .flatMap((d) =>
      d.fix.edits.map((e) => ({
        from: offset(e.location),
        to: offset(e.end_location),
        content: e.content ?? '',
      })),
    )
    .sort((a, b) => b.from - a.from || b.to - a.to);
  let out = text;
  let limit = Infinity;
  for (const edit of edits) {
    if (edit.to > limit) continue; // overlaps an edit already applied: the next pass gets it
    out = out.slice(0, edit.from) + edit.content + out.slice(edit.to);
    limit = edit.from;
  }
  return out;
}

function fixFile(workspace, file) {
  for (let pass = 0; pass < 10; pass += 1) {
    const text = readFileSync(file, 'utf8');
    const fixed = applyFixes(text, workspace.check(text));
    if (fixed === text) return;
    writeFileSync(file, fixed);
  }
}

function main() {
  const { settings, include } = ruffSettings();
  const args = process.argv.slice(2);
  const fix = args.includes('--fix');
  const targets = args.filter((a) => a !== '--fix');
  // The roots of the include globs (encoders/**/*.py -> encoders) unless files are given.
  const roots = targets.length > 0 ? targets : include.map((glob) => glob.split('/*')[0]);
  const files = roots.flatMap((root) => pythonFiles(path.resolve(repoRoot, root)));
  if (files.length === 0) {
    console.error(`ruff: no Python files under ${roots.join(', ')}`);
    return 2;
  }
  const workspace = new Workspace(settings, PositionEncoding.Utf16);
  let findings = 0;
  for (const file of files) {
    if (fix) fixFile(workspace, file);
    const diagnostics = workspace.check(readFileSync(file, 'utf8'));
    for (const d of diagnostics) {
      findings += 1;
      const where = `${path.relative(repoRoot, file)}:${d.start_location.row}:${d.start_location.column}`;
      console.log(`${where}: ${d.code ?? 'syntax-error'} ${d.message}${d.fix ? ' [fixable]' : ''}`);
    }
  }
  console.log(
    findings === 0
      ? `ruff ${Workspace.version()}: ${files.length} files, no findings`
      : `ruff ${Workspace.version()}: ${findings} findings in ${files.length} files`,
  );
  return findings === 0 ? 0 : 1;
}

process.exitCode = main();
