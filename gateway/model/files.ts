import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { GatewayError } from '../observability/errors.ts';
import { jsonPath, type ModelManifest } from './manifest.ts';

/** One file the manifest references, read and verified. */
export interface VerifiedFile {
  /** Manifest location of the reference, e.g. `$.encoders[0]`. */
  readonly ref: string;
  readonly path: string;
  readonly bytes: Buffer;
}

/** A file the manifest names, where it names it, and the sha256 it must have. */
export interface ManifestFileReference {
  readonly ref: (string | number)[];
  readonly file: string;
  readonly sha256: string;
}

/** Every file a manifest names (encoders, prototypes, test vectors) with its sha256. */
export function manifestFileReferences(manifest: ModelManifest): ManifestFileReference[] {
  const refs: ManifestFileReference[] = manifest.encoders.map((e, i) => ({
    ref: ['encoders', i],
    file: e.file,
    sha256: e.sha256,
  }));
  refs.push({ ref: ['prototypes'], file: manifest.prototypes.file, sha256: manifest.prototypes.sha256 });
  for (const [modality, p] of Object.entries(manifest.prototypes.modalities ?? {}))
    refs.push({ ref: ['prototypes', 'modalities', modality], file: p.file, sha256: p.sha256 });
  if (manifest.testVectors) refs.push({ ref: ['testVectors'], ...manifest.testVectors });
  return refs;
}

/**
 * Reads every file the manifest names and checks its sha256, so what the sessions load is
 * exactly what was hashed. Missing files → MODEL_FILE_MISSING; a path leaving the model
 * directory → MODEL_MANIFEST_INVALID; wrong contents → MODEL_HASH_MISMATCH naming the file
 * and both hashes. Each lists every offending file, not only the first.
 */
export async function readVerifiedFiles(
  dir: string,
  manifest: ModelManifest,
): Promise<Map<string, VerifiedFile>> {
  const files = new Map<string, VerifiedFile>();
  const missing: string[] = [];
  const outside: string[] = [];
  const mismatched: string[] = [];
  for (const { ref, file, sha256 } of manifestFileReferences(manifest)) {
    const refPath = jsonPath([...ref, 'file']);
    const path = resolve(dir, file);
    const rel = relative(resolve(dir), path);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      outside.push(`${refPath}: got "${file}", expected a path inside the model directory ${dir}`);
      continue;
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      missing.push(`${path} (${refPath})${code === 'ENOENT' ? '' : `: ${(err as Error).message}`}`);
      continue;
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) {
      mismatched.push(
        `${path} (${jsonPath([...ref, 'sha256'])}): manifest says ${sha256}, file has ${actual}`,
      );
    }
    files.set(jsonPath(ref), { ref: jsonPath(ref), path, bytes });
  }
  if (outside.length > 0) {
    throw new GatewayError(
      'MODEL_MANIFEST_INVALID',
      `Model manifest in ${dir} points outside its directory:\n  - ${outside.join('\n  - ')}`,
      {
        details: { dir, problems: outside },
      },
    );
  }
  if (missing.length > 0) {
    throw new GatewayError(
      'MODEL_FILE_MISSING',
      `Model files missing in ${dir}:\n  - ${missing.join('\n  - ')}`,
      {
        details: { dir, files: missing },
      },
    );
  }
  if (mismatched.length > 0) {
    throw new GatewayError(
      'MODEL_HASH_MISMATCH',
      `Model files in ${dir} do not match their manifest sha256 (changed or corrupt; re-export the model or fix the manifest):\n  - ${mismatched.join('\n  - ')}`,
      { details: { dir, files: mismatched } },
    );
  }
  return files;
}

/**
 * Raw little-endian float32 [classes, embeddingDim]; the size must agree with the manifest
 * (`shape` and its JSON path default to the shared prototypes').
 */
export function decodePrototypes(
  file: VerifiedFile,
  manifest: ModelManifest,
  shape: readonly number[] = manifest.prototypes.shape,
  shapePath: readonly (string | number)[] = ['prototypes', 'shape'],
): Float32Array {
  const [rows, cols] = shape as [number, number];
  const expectedBytes = rows * cols * 4;
  if (file.bytes.byteLength !== expectedBytes) {
    throw new GatewayError(
      'MODEL_MANIFEST_INVALID',
      `${jsonPath(shapePath)}: ${file.path} has ${file.bytes.byteLength} bytes, expected ${expectedBytes} (float32 [${rows}, ${cols}])`,
      { details: { file: file.path } },
    );
  }
  const view = new DataView(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
