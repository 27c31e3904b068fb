import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayConfigSchema, type GatewayConfig } from '../config/schema.ts';

/*
 * The bundled model and demo recording ship inside the package, so their default paths
 * (`models/default`, `recordings/demo`) mean "in the install", wherever the gateway is
 * started from: `mujo-gateway` run from $HOME, a systemd WorkingDirectory or `npx`. A path
 * the user wrote keeps its usual meaning, relative to the working directory.
 */

/** The folder holding the gateway's package.json: the repository, or the installed package. */
export function installRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string };
      if (pkg.name === 'mujo-gateway') return dir;
    }
    dir = dirname(dir);
  }
  // Not inside the package (should not happen): keep the old behaviour.
  return process.cwd();
}

const bundledDefaults = {
  model: GatewayConfigSchema.properties.model.properties.path.default as string,
  replay: GatewayConfigSchema.properties.replay.properties.path.default as string,
};

function fromInstall(path: string, byDefault: string, root: string): string {
  return path === byDefault && !isAbsolute(path) ? resolve(root, path) : path;
}

/** The configuration with the bundled-asset paths made absolute under the install root. */
export function withInstallPaths(config: GatewayConfig, root: string = installRoot()): GatewayConfig {
  return {
    ...config,
    model: { ...config.model, path: fromInstall(config.model.path, bundledDefaults.model, root) },
    replay: { ...config.replay, path: fromInstall(config.replay.path, bundledDefaults.replay, root) },
  };
}
