import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadModel } from '../../gateway/model/load-model.ts';
import { checkParity, readTestVectors } from '../../gateway/model/test-vectors.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';

/*
 * The Python ↔ TypeScript contract on the shipped model: the trainer's test vectors (real
 * windows run through PyTorch at export) through onnxruntime-node here, and the fusion cases
 * through gateway/model/fusion.ts. Skipped only while models/default does not exist yet and
 * MUJO_REQUIRE_DEFAULT_MODEL is unset; CI sets it, so a missing model fails there.
 */

const MODEL_DIR = fileURLToPath(new URL('../../models/default', import.meta.url));
const MAX_TOLERANCE = 1e-4;
const present = existsSync(join(MODEL_DIR, 'manifest.json'));
const required = Boolean(process.env['MUJO_REQUIRE_DEFAULT_MODEL']);

test(
  'models/default: onnxruntime-node matches PyTorch on the test vectors, fusion matches',
  {
    skip:
      !present && !required
        ? 'models/default/manifest.json absent (set MUJO_REQUIRE_DEFAULT_MODEL to fail instead)'
        : false,
  },
  async (t) => {
    // Loads (and so validates the manifest and every sha256) or fails with the coded error.
    const model = await loadModel(MODEL_DIR, { providers: ['cpu'], logger: silentLogger() });
    try {
      assert.ok(model.manifest.testVectors, 'the manifest lists its test vectors');
      const vectors = await readTestVectors(model);
      const report = await checkParity(model, vectors);
      assert.ok(
        report.tolerance <= MAX_TOLERANCE,
        `tolerance ${report.tolerance} is looser than ${MAX_TOLERANCE}`,
      );
      assert.deepEqual(
        report.encoders.map((e) => e.name).sort(),
        model.encoders.map((e) => e.name).sort(),
        'every encoder has test vectors',
      );
      assert.ok(report.fusion.length > 0, 'the vectors include fusion cases');
      for (const e of report.encoders) {
        t.diagnostic(
          `encoder ${e.name} (${e.provider}, ${e.rows} windows): max abs diff ${e.maxAbsDiff.toExponential(2)}`,
        );
        assert.ok(e.rows > 0);
        assert.ok(
          e.maxAbsDiff <= report.tolerance,
          `encoder ${e.name}: max abs diff ${e.maxAbsDiff} > ${report.tolerance}`,
        );
      }
      for (const f of report.fusion) {
        t.diagnostic(`fusion case ${f.case} (${f.windows}): max abs diff ${f.maxAbsDiff.toExponential(2)}`);
        assert.ok(
          f.maxAbsDiff <= report.tolerance,
          `fusion case ${f.case} (${f.windows}): ${f.maxAbsDiff} > ${report.tolerance}`,
        );
      }
    } finally {
      await model.close();
    }
  },
);
