import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { manifestFileReferences } from '../model/files.ts';
import { validateManifest } from '../model/manifest.ts';
import { GatewayError, errorMessage } from '../observability/errors.ts';
import type { DesiredModel } from './desired-model.ts';

export interface DownloadOptions {
  /** The model store (enrollment.storeDir): the model lands in `<store>/<name>-<version>/`. */
  readonly storeRoot: string;
  readonly maxFileBytes: number;
  readonly timeoutMs: number;
  /** Empty: any http(s) URL. */
  readonly allowedUrlPrefixes: readonly string[];
  /** Sent as User-Agent, so the model server's log names the gateway. */
  readonly userAgent: string;
}

/** A name or version that is safe as (part of) one directory name. */
const SAFE_LEVEL = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The directory a desired model occupies in the store. */
export function storeEntryOf(desired: Pick<DesiredModel, 'name' | 'version'>): string {
  for (const [what, value] of [
    ['name', desired.name],
    ['version', desired.version],
  ] as const) {
    if (!SAFE_LEVEL.test(value)) {
      throw new GatewayError(
        'ROLLOUT_BAD_MESSAGE',
        `desired model ${what} ${JSON.stringify(value)}: letters, digits and . _ + - only`,
      );
    }
  }
  return `${desired.name}-${desired.version}`;
}

async function fetchBytes(url: string, options: DownloadOptions): Promise<Buffer> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { 'user-agent': options.userAgent },
      signal: AbortSignal.timeout(options.timeoutMs),
      redirect: 'follow',
    });
  } catch (err) {
    throw new GatewayError('ROLLOUT_DOWNLOAD_FAILED', `${url}: ${errorMessage(err)}`, { cause: err });
  }
  if (!response.ok || !response.body) {
    throw new GatewayError(
      'ROLLOUT_DOWNLOAD_FAILED',
      `${url}: HTTP ${response.status} ${response.statusText}`,
      {
        details: { url, status: response.status },
      },
    );
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  const tooBig = () =>
    new GatewayError(
      'ROLLOUT_FILE_TOO_LARGE',
      `${url}: larger than fleet.rollout.maxFileBytes (${options.maxFileBytes})`,
    );
  if (declared > options.maxFileBytes) {
    await response.body.cancel();
    throw tooBig();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body) {
      size += chunk.byteLength;
      if (size > options.maxFileBytes) throw tooBig();
      chunks.push(Buffer.from(chunk));
    }
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('ROLLOUT_DOWNLOAD_FAILED', `${url}: ${errorMessage(err)}`, { cause: err });
  }
  return Buffer.concat(chunks);
}

/**
 * Downloads the model a desired-model message names into the store, verified end to end:
 * the manifest against the message's sha256, then every file the manifest names against
 * the manifest's sha256 for it. Files go to a temporary folder renamed into place at the
 * end, so a half-downloaded model never looks like a version. A version already in the
 * store with the same manifest hash is not downloaded again (roll back to an earlier version
 * costs nothing); one with another hash is refused (ROLLOUT_VERSION_CONFLICT): a version
 * names one model.
 */
export async function downloadModel(desired: DesiredModel, options: DownloadOptions): Promise<string> {
  const entry = storeEntryOf(desired);
  const target = join(options.storeRoot, entry);
  if (
    options.allowedUrlPrefixes.length > 0 &&
    !options.allowedUrlPrefixes.some((prefix) => desired.url.startsWith(prefix))
  ) {
    throw new GatewayError(
      'ROLLOUT_URL_NOT_ALLOWED',
      `${desired.url} does not start with any of fleet.rollout.allowedUrlPrefixes (${options.allowedUrlPrefixes.join(', ')})`,
    );
  }
  const present = await readFile(join(target, 'manifest.json')).catch(() => undefined);
  if (present) {
    if (sha256(present) === desired.sha256) return target;
    throw new GatewayError(
      'ROLLOUT_VERSION_CONFLICT',
      `${entry} is already in the store with another manifest (sha256 ${sha256(present)}, desired ${desired.sha256})`,
    );
  }

  const manifestBytes = await fetchBytes(desired.url, options);
  if (sha256(manifestBytes) !== desired.sha256) {
    throw new GatewayError(
      'ROLLOUT_HASH_MISMATCH',
      `${desired.url}: sha256 ${sha256(manifestBytes)}, the desired-model message says ${desired.sha256}`,
    );
  }
  let manifestJson: unknown;
  try {
    manifestJson = JSON.parse(manifestBytes.toString('utf8'));
  } catch (err) {
    throw new GatewayError('MODEL_MANIFEST_INVALID', `${desired.url}: not JSON (${errorMessage(err)})`);
  }
  const manifest = validateManifest(manifestJson, desired.url);
  if (manifest.name !== desired.name || manifest.version !== desired.version) {
    throw new GatewayError(
      'ROLLOUT_MANIFEST_MISMATCH',
      `${desired.url} is ${manifest.name} ${manifest.version}, the message names ${desired.name} ${desired.version}`,
    );
  }

  const incoming = join(options.storeRoot, `.incoming-${entry}-${randomBytes(4).toString('hex')}`);
  try {
    for (const { file, sha256: expected } of manifestFileReferences(manifest)) {
      const relativePath = normalize(file);
      if (isAbsolute(relativePath) || relativePath.startsWith('..')) {
        throw new GatewayError(
          'MODEL_MANIFEST_INVALID',
          `${desired.url}: file "${file}" is outside the model`,
        );
      }
      const url = new URL(file, desired.url).toString();
      const bytes = await fetchBytes(url, options);
      if (sha256(bytes) !== expected) {
        throw new GatewayError(
          'ROLLOUT_HASH_MISMATCH',
          `${url}: sha256 ${sha256(bytes)}, the manifest says ${expected}`,
          { details: { file } },
        );
      }
      const path = join(incoming, relativePath);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, bytes);
    }
    await writeFile(join(incoming, 'manifest.json'), manifestBytes);
    await rename(incoming, target);
  } catch (err) {
    await rm(incoming, { recursive: true, force: true });
    throw err;
  }
  return target;
}
