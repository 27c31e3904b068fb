import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { downloadModel, type DownloadOptions } from '../../../gateway/fleet/download-model.ts';

/* A real HTTP server on loopback serving the bundled model and a few broken variants. */
const MODEL = 'models/default';
const manifest = readFileSync(join(MODEL, 'manifest.json'));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const escaping = Buffer.from(
  JSON.stringify({
    ...(JSON.parse(manifest.toString()) as Record<string, unknown>),
    testVectors: { file: '../../etc/passwd', sha256: 'a'.repeat(64) },
  }),
);
let server: Server;
let base: string;
let store: string;

before(async () => {
  store = await mkdtemp(join(tmpdir(), 'mujo-dl-'));
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/escape/manifest.json') return void res.end(escaping);
    try {
      res.end(readFileSync(join(MODEL, path.replace(/^\/(ok|escape)\//, ''))));
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});
after(async () => {
  server.close();
  await rm(store, { recursive: true, force: true });
});

const options = (extra: Partial<DownloadOptions> = {}): DownloadOptions => ({
  storeRoot: store,
  maxFileBytes: 64 * 1024 * 1024,
  timeoutMs: 10_000,
  allowedUrlPrefixes: [],
  userAgent: 'test',
  ...extra,
});
const desired = (extra: object = {}) => ({
  name: 'default',
  version: '0.1.0',
  url: `${base}/ok/manifest.json`,
  sha256: sha(manifest),
  ...extra,
});

describe('downloadModel', () => {
  it('refuses before downloading: URL outside the allowed prefixes, unsafe version', async () => {
    await assert.rejects(downloadModel(desired(), options({ allowedUrlPrefixes: ['https://models.lan/'] })), {
      code: 'ROLLOUT_URL_NOT_ALLOWED',
    });
    await assert.rejects(downloadModel(desired({ version: '../x' }), options()), {
      code: 'ROLLOUT_BAD_MESSAGE',
    });
  });

  it('refuses a manifest whose hash, name or files do not match, leaving nothing in the store', async () => {
    await assert.rejects(downloadModel(desired({ sha256: 'b'.repeat(64) }), options()), {
      code: 'ROLLOUT_HASH_MISMATCH',
    });
    await assert.rejects(downloadModel(desired({ version: '9.9.9' }), options()), {
      code: 'ROLLOUT_MANIFEST_MISMATCH',
    });
    await assert.rejects(
      downloadModel(desired({ url: `${base}/escape/manifest.json`, sha256: sha(escaping) }), options()),
      { code: 'MODEL_MANIFEST_INVALID' },
    );
    await assert.rejects(downloadModel(desired(), options({ maxFileBytes: 2048 })), {
      code: 'ROLLOUT_FILE_TOO_LARGE',
    });
    await assert.rejects(downloadModel(desired({ url: `${base}/nowhere/manifest.json` }), options()), {
      code: 'ROLLOUT_DOWNLOAD_FAILED',
    });
    assert.deepEqual(await readdir(store), []);
  });

  it('downloads a verified copy once; the same version with another manifest is a conflict', async () => {
    const dir = await downloadModel(desired(), options());
    assert.equal(dir, join(store, 'default-0.1.0'));
    for (const file of ['manifest.json', 'imu.onnx', 'pose.onnx', 'prototypes.f32'])
      assert.equal(sha(readFileSync(join(dir, file))), sha(readFileSync(join(MODEL, file))), file);
    // Second time: served from the store (the server would not even be asked).
    assert.equal(await downloadModel(desired({ url: `${base}/gone/manifest.json` }), options()), dir);
    await assert.rejects(
      downloadModel(desired({ url: `${base}/escape/manifest.json`, sha256: sha(escaping) }), options()),
      { code: 'ROLLOUT_VERSION_CONFLICT' },
    );
  });
});
