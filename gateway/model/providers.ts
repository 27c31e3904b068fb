import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ExecutionProviderName } from '../domain/execution-provider.ts';

/*
 * onnxruntime-node asks the dynamic loader for a GPU provider only when a session is
 * created, and then fails loudly (a native warning and a thrown error per encoder). The
 * default provider list (tensorrt → cuda → cpu) is right for a Jetson or a CUDA box and
 * wrong for every CPU machine, so before trying a GPU provider we check that the shared
 * libraries it would load exist: onnxruntime's own provider library (which the default
 * install skips) and NVIDIA's runtime that it links against.
 */

/** Shared libraries each GPU provider needs, as file-name prefixes (any soname version). */
export const PROVIDER_LIBRARIES: Partial<Record<ExecutionProviderName, readonly string[]>> = {
  cuda: ['libonnxruntime_providers_cuda.so', 'libcudart.so', 'libcublas.so', 'libcudnn.so'],
  tensorrt: ['libonnxruntime_providers_tensorrt.so', 'libnvinfer.so', 'libcudart.so'],
};

/** Where the libraries are looked for besides the loader cache. */
const KNOWN_LIBRARY_DIRS = [
  '/usr/local/cuda/lib64',
  '/usr/local/cuda/targets/x86_64-linux/lib',
  '/usr/local/cuda/targets/aarch64-linux/lib',
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu/tegra',
];

/** onnxruntime-node's native folder, where its postinstall puts the provider libraries. */
export function ortBinaryDir(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
    return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

/** Library file names the dynamic loader knows (`ldconfig -p`); empty when it cannot be asked. */
function loaderCacheNames(): string[] {
  for (const ldconfig of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    try {
      const out = execFileSync(ldconfig, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      // Lines look like: "\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.12"
      return out
        .split('\n')
        .map((line) => line.trim().split(' ')[0] ?? '')
        .filter((name) => name.startsWith('lib'));
    } catch {
      // not this path; try the next
    }
  }
  return [];
}

function directoryNames(dir: string): string[] {
  try {
    return existsSync(dir) ? readdirSync(dir) : [];
  } catch {
    return [];
  }
}

/** Every shared-library file name visible to the loader: its cache, LD_LIBRARY_PATH, known CUDA folders, ORT's folder. */
export function visibleLibraries(env: NodeJS.ProcessEnv = process.env): Set<string> {
  const dirs = [
    ...(env['LD_LIBRARY_PATH'] ?? '').split(':').filter(Boolean),
    ...KNOWN_LIBRARY_DIRS,
    ...[ortBinaryDir()].filter((d): d is string => d !== undefined),
  ];
  return new Set([...loaderCacheNames(), ...dirs.flatMap(directoryNames)]);
}

export interface ProviderChoice {
  /** Providers to try, in the configured order. */
  readonly usable: readonly ExecutionProviderName[];
  /** Providers left out, each with the libraries it lacks. */
  readonly skipped: readonly {
    readonly provider: ExecutionProviderName;
    readonly missing: readonly string[];
  }[];
}

/**
 * Drops the GPU providers whose libraries are not on this machine. If that would leave
 * nothing (e.g. `providers: [cuda]` on a CPU box), the list is kept as configured so the
 * session fails with onnxruntime's own reason instead of an empty list.
 */
export function chooseProviders(
  requested: readonly ExecutionProviderName[],
  libraries: ReadonlySet<string>,
): ProviderChoice {
  const has = (prefix: string) =>
    [...libraries].some((name) => name === prefix || name.startsWith(`${prefix}.`));
  const usable: ExecutionProviderName[] = [];
  const skipped: { provider: ExecutionProviderName; missing: string[] }[] = [];
  for (const provider of requested) {
    const missing = (PROVIDER_LIBRARIES[provider] ?? []).filter((lib) => !has(lib));
    if (missing.length === 0) usable.push(provider);
    else skipped.push({ provider, missing });
  }
  if (usable.length === 0) return { usable: requested, skipped: [] };
  return { usable, skipped };
}

let cached: ReadonlySet<string> | undefined;

/** `chooseProviders` against this machine's libraries (looked up once per process). */
export function providersForThisMachine(requested: readonly ExecutionProviderName[]): ProviderChoice {
  const needsProbe = requested.some((p) => PROVIDER_LIBRARIES[p] !== undefined);
  if (!needsProbe) return { usable: requested, skipped: [] };
  cached ??= visibleLibraries();
  return chooseProviders(requested, cached);
}
