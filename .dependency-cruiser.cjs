/* global module */
/*
 * The gateway's import rules (run by `npm run lint:deps`, part of `npm test`).
 *
 * Why: a reader should be able to tell from a file's path what it may import. Configuration
 * flows one way: each module owns its config section (options.ts: schema, defaults, types) and
 * gateway/config/ only composes and validates those sections, so nothing but the composition
 * root may depend on gateway/config/. Cycles make start order and tests depend on import order.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Circular imports in gateway/: split the shared part into its own module (often domain/).',
      from: { path: '^gateway/' },
      to: { circular: true },
    },
    {
      name: 'config-only-from-composition-root',
      severity: 'error',
      comment:
        "gateway/config/ composes the modules' own options; only it, the composition root (gateway/app.ts) and the command line (gateway/main.ts, gateway/cli/) may import it. Shared types belong in gateway/domain/ or the owning module.",
      from: { path: '^gateway/', pathNot: '^gateway/(config/|cli/|app\\.ts$|main\\.ts$)' },
      to: { path: '^gateway/config/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve is a typo or a missing dependency.',
      from: { path: '^gateway/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^gateway/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
