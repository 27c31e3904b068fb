import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A private copy of test/fixtures/tiny-model (regenerate with test/fixtures/make-tiny-model.py)
 * that a test may corrupt.
 */
export const TINY_MODEL = fileURLToPath(new URL('../../fixtures/tiny-model', import.meta.url));

// Manifests are edited as loose JSON on purpose: tests break them in ways the types forbid.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LooseJson = Record<string, any>;

export interface ModelCopy {
  readonly dir: string;
  editManifest(edit: (m: LooseJson) => void): Promise<void>;
  /** Overwrites a file and (unless `keepHash`) updates its sha256 in the manifest. */
  replaceFile(name: string, bytes: Uint8Array, options?: { keepHash?: boolean }): Promise<void>;
  remove(): Promise<void>;
}

export async function copyTinyModel(): Promise<ModelCopy> {
  const dir = await mkdtemp(join(tmpdir(), 'mujo-model-'));
  await cp(TINY_MODEL, dir, { recursive: true });
  const manifestPath = join(dir, 'manifest.json');
  const editManifest = async (edit: (m: LooseJson) => void) => {
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as LooseJson;
    edit(manifest);
    await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
  };
  return {
    dir,
    editManifest,
    async replaceFile(name, bytes, options = {}) {
      await writeFile(join(dir, name), bytes);
      if (options.keepHash) return;
      const sha = createHash('sha256').update(bytes).digest('hex');
      await editManifest((m) => {
        for (const ref of [...m['encoders'], m['prototypes'], m['testVectors']])
          if (ref?.file === name) ref.sha256 = sha;
      });
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
