import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Modality } from '../domain/samples.ts';
import type { ModelManifest, PrototypeFile } from '../model/manifest.ts';
import { GatewayError, errorMessage } from '../observability/errors.ts';
import type { PrototypeSet } from './prototypes.ts';

/*
 * The writable model store: one directory per model version the gateway derived by
 * enrollment (`<store>/<name>-<version>/`, a complete model directory: copied ONNX files, new
 * prototypes with their sha256, a manifest with provenance), and `active.json` naming the
 * version serving now plus the ones before it (for roll back). The bundled model (model.path)
 * is never written; in `active.json` it is `null`.
 */

const ACTIVE_FILE = 'active.json';

/** One loadable model version: the bundled model or one the gateway wrote. */
export interface ModelVersion {
  readonly name: string;
  readonly version: string;
  /** Absolute model directory. */
  readonly dir: string;
  readonly createdAt: string;
  readonly bundled: boolean;
  readonly parent: { readonly name: string; readonly version: string } | null;
  readonly classes: readonly string[];
  /** Classes enrolled at the gateway (this version and the ones it derives from). */
  readonly enrolled: readonly string[];
}

export interface ActiveState {
  /** Store directory name of the active version; null = the bundled model. */
  readonly active: string | null;
  /** Versions active before, most recent last (what roll back returns to). */
  readonly history: readonly (string | null)[];
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function f32Bytes(values: Float32Array): Buffer {
  const out = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) out.writeFloatLE(values[i]!, i * 4);
  return out;
}

async function readManifest(dir: string): Promise<ModelManifest | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as ModelManifest;
  } catch {
    return null;
  }
}

function describeVersion(manifest: ModelManifest, dir: string, bundled: boolean): ModelVersion {
  return {
    name: manifest.name,
    version: manifest.version,
    dir,
    createdAt: manifest.createdAt,
    bundled,
    parent: manifest.enrollment?.parent ?? null,
    classes: manifest.classes.map((c) => c.id),
    enrolled: manifest.enrollment?.classes.map((c) => c.id) ?? [],
  };
}

/** What a new version is made of; the store adds files, hashes and the version string. */
export interface NewVersion {
  /** The manifest of the model it derives from, and that model's directory (ONNX files are copied from it). */
  readonly parent: ModelManifest;
  readonly parentDir: string;
  readonly prototypes: PrototypeSet;
  readonly classes: ModelManifest['classes'];
  readonly enrollment: NonNullable<ModelManifest['enrollment']>;
  /** Thresholds learnt at enrollment; absent: the parent's stay. */
  readonly openSet?: ModelManifest['openSet'];
  readonly description: string;
  readonly createdAt: string;
}

export class ModelStore {
  readonly root: string;
  readonly bundledDir: string;

  constructor(root: string, bundledDir: string) {
    this.root = resolve(root);
    this.bundledDir = resolve(bundledDir);
  }

  /** The directory of a store entry (null = bundled). */
  dirOf(entry: string | null): string {
    return entry === null ? this.bundledDir : join(this.root, entry);
  }

  async readActive(): Promise<ActiveState> {
    try {
      const data = JSON.parse(await readFile(join(this.root, ACTIVE_FILE), 'utf8')) as ActiveState;
      return { active: data.active ?? null, history: Array.isArray(data.history) ? data.history : [] };
    } catch {
      return { active: null, history: [] };
    }
  }

  async writeActive(state: ActiveState): Promise<void> {
    await mkdir(this.root, { recursive: true });
    const tmp = join(this.root, `.${ACTIVE_FILE}.tmp`);
    await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
    await rename(tmp, join(this.root, ACTIVE_FILE));
  }

  /** The store entry a model directory is (null = bundled), or undefined when it is neither. */
  entryOf(dir: string): string | null | undefined {
    const abs = resolve(dir);
    if (abs === this.bundledDir) return null;
    return dirname(abs) === this.root ? abs.slice(this.root.length + 1) : undefined;
  }

  /** The bundled model, then every stored version, oldest first. */
  async list(): Promise<ModelVersion[]> {
    const versions: ModelVersion[] = [];
    const bundled = await readManifest(this.bundledDir);
    if (bundled) versions.push(describeVersion(bundled, this.bundledDir, true));
    let entries: string[] = [];
    try {
      entries = (await readdir(this.root, { withFileTypes: true }))
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => e.name);
    } catch {
      // no store yet
    }
    const stored: ModelVersion[] = [];
    for (const entry of entries) {
      const manifest = await readManifest(join(this.root, entry));
      if (manifest) stored.push(describeVersion(manifest, join(this.root, entry), false));
    }
    stored.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.dir.localeCompare(b.dir));
    return [...versions, ...stored];
  }

  /** `<base>-e<N>`: base = the bundled-lineage version without its -eN tail, N one past the highest stored. */
  private async nextVersion(parent: ModelManifest): Promise<string> {
    const base = parent.version.replace(/-e\d+$/, '');
    let highest = 0;
    for (const v of await this.list()) {
      const m = /-e(\d+)$/.exec(v.version);
      if (m && !v.bundled) highest = Math.max(highest, Number(m[1]));
    }
    return `${base}-e${highest + 1}`;
  }

  /** Writes a complete model directory for `next`; returns it. Nothing is left behind on failure. */
  async write(next: NewVersion): Promise<{ dir: string; version: string }> {
    await mkdir(this.root, { recursive: true });
    const version = await this.nextVersion(next.parent);
    const entry = `${next.parent.name}-${version}`;
    const dir = join(this.root, entry);
    const tmp = join(this.root, `.tmp-${entry}-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    try {
      await mkdir(tmp, { recursive: true });
      // The encoders, and the trainer's checkpoint (so `finetune --init <version>` works too).
      const checkpoint = (next.parent as { checkpoint?: { file?: unknown } }).checkpoint?.file;
      const files = [
        ...next.parent.encoders.map((e) => e.file),
        ...(typeof checkpoint === 'string' ? [checkpoint] : []),
      ];
      for (const file of files) {
        const target = join(tmp, file);
        await mkdir(dirname(target), { recursive: true });
        const source = resolve(next.parentDir, file);
        // Same bytes as the parent's (its sha256 stays valid): a hard link costs nothing.
        await link(source, target).catch(() => copyFile(source, target));
      }
      const { prototypes } = next;
      const shape = [prototypes.classIds.length, prototypes.dim];
      const writeMatrix = async (file: string, values: Float32Array): Promise<PrototypeFile> => {
        const bytes = f32Bytes(values);
        await writeFile(join(tmp, file), bytes);
        return { file, sha256: sha256(bytes), dtype: 'float32', shape };
      };
      const shared = await writeMatrix('prototypes.f32', prototypes.shared);
      const modalities: Partial<Record<Modality, PrototypeFile>> = {};
      for (const [modality, values] of Object.entries(prototypes.byModality) as [Modality, Float32Array][]) {
        modalities[modality] = await writeMatrix(`prototypes-${modality}.f32`, values);
      }
      const { testVectors: _parity, enrollment: _previous, ...inherited } = next.parent;
      const manifest: ModelManifest = {
        ...inherited,
        version,
        createdAt: next.createdAt,
        description: next.description,
        classes: next.classes,
        prototypes: {
          ...shared,
          // Every row from examples: 'enrolled'; some still the parent's anchors: 'mixed'.
          source: next.classes.every((c) => next.enrollment.classes.some((e) => e.id === c.id))
            ? 'enrolled'
            : 'mixed',
          ...(Object.keys(modalities).length > 0 ? { modalities } : {}),
        },
        enrollment: next.enrollment,
        ...(next.openSet ? { openSet: next.openSet } : {}),
      };
      await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      await rename(tmp, dir);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw new GatewayError(
        'ENROLL_STORE_FAILED',
        `cannot write model version in ${this.root}: ${errorMessage(err)}`,
        {
          cause: err,
          details: { dir: this.root },
        },
      );
    }
    return { dir, version };
  }
}
