import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  COCO17,
  defaultMoveNetDir,
  MoveNetEstimator,
  moveNetEstimatorFactory,
} from '../../../gateway/sources/camera/pose-estimator.ts';
import type { DetectedPerson } from '../../../gateway/sources/camera/types.ts';
import { GatewayError } from '../../../gateway/observability/errors.ts';
import { silentLogger } from '../../../gateway/observability/logger.ts';
import { loadPhoto, testPattern, type RgbImage } from '../../fixtures/people/photos.ts';

const kp = (name: (typeof COCO17)[number]) => COCO17.indexOf(name);

function point(p: DetectedPerson, name: (typeof COCO17)[number]): { x: number; y: number; score: number } {
  const i = kp(name) * 3;
  return { x: p.keypoints[i]!, y: p.keypoints[i + 1]!, score: p.keypoints[i + 2]! };
}

function assertUpright(p: DetectedPerson, label: string): void {
  for (const side of ['left', 'right'] as const) {
    const shoulder = point(p, `${side}_shoulder`);
    const hip = point(p, `${side}_hip`);
    assert.ok(
      shoulder.score > 0.3 && hip.score > 0.3,
      `${label}: ${side} shoulder/hip scores ${shoulder.score}, ${hip.score}`,
    );
    assert.ok(
      shoulder.y < hip.y - 0.05,
      `${label}: ${side} shoulder y ${shoulder.y} must be above hip y ${hip.y}`,
    );
  }
  const nose = point(p, 'nose');
  assert.ok(nose.y < point(p, 'left_shoulder').y, `${label}: nose above the shoulders`);
  for (let i = 0; i < p.keypoints.length; i += 3) {
    assert.ok(
      p.keypoints[i]! >= 0 && p.keypoints[i]! <= 1 && p.keypoints[i + 1]! >= 0 && p.keypoints[i + 1]! <= 1,
    );
  }
}

/** The photo pasted into a larger black canvas at (ox, oy), as a wide camera would see it. */
function pasted(img: RgbImage, width: number, height: number, ox: number, oy: number): RgbImage {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < img.height; y++) {
    img.data.copy(data, ((oy + y) * width + ox) * 3, y * img.width * 3, (y + 1) * img.width * 3);
  }
  return { data, width, height };
}

describe('MoveNet estimator on real photos (onnxruntime-node)', () => {
  let lightning: MoveNetEstimator;
  let multipose: MoveNetEstimator;
  before(async () => {
    lightning = await MoveNetEstimator.create({
      model: 'lightning',
      logger: silentLogger(),
      intraOpThreads: 1,
    });
    multipose = await MoveNetEstimator.create({
      model: 'multipose',
      logger: silentLogger(),
      intraOpThreads: 1,
    });
  });
  after(async () => {
    await lightning.close();
    await multipose.close();
  });

  it('loads on the cpu provider and reports its input size', () => {
    assert.equal(lightning.provider, 'cpu');
    assert.equal(lightning.inputSize, 192);
    assert.equal(multipose.inputSize, 256);
  });

  for (const id of ['standing-skirt', 'standing-wall', 'stool']) {
    it(`finds one upright person in '${id}' with lightning`, async () => {
      const img = loadPhoto(id);
      const people = await lightning.estimate(img.data, img.width, img.height);
      assert.equal(people.length, 1);
      assert.ok(people[0]!.score > 0.3, `person score ${people[0]!.score}`);
      assertUpright(people[0]!, id);
    });
  }

  it('maps keypoints back to the original frame whatever the letterbox', async () => {
    // The same photo alone and pasted off-centre into a wide black frame: keypoints mapped back
    // to the photo's own coordinates must agree (resampling differs, so within a few percent).
    const img = loadPhoto('standing-wall');
    const [alone] = await lightning.estimate(img.data, img.width, img.height);
    const W = 240;
    const H = 200;
    const ox = 70;
    const oy = 30;
    const [inWide] = await lightning.estimate(pasted(img, W, H, ox, oy).data, W, H);
    assert.ok(alone && inWide);
    for (const name of ['nose', 'left_shoulder', 'right_shoulder', 'left_hip', 'right_hip'] as const) {
      const a = point(alone, name);
      const b = point(inWide, name);
      const bx = (b.x * W - ox) / img.width;
      const by = (b.y * H - oy) / img.height;
      assert.ok(
        Math.abs(bx - a.x) < 0.06 && Math.abs(by - a.y) < 0.06,
        `${name}: alone (${a.x}, ${a.y}), from wide frame (${bx}, ${by})`,
      );
    }
  });

  it('gives low scores on a test-pattern frame', async () => {
    const bars = testPattern(640, 480);
    const [single] = await lightning.estimate(bars.data, bars.width, bars.height);
    assert.ok(single && single.score < 0.2, `lightning person score on colour bars ${single?.score}`);
    const people = await multipose.estimate(bars.data, bars.width, bars.height);
    assert.deepEqual(people, [], 'multipose reports nobody on colour bars');
  });

  it('multipose finds the three people of a group photo, side by side, each upright with a box', async () => {
    const img = loadPhoto('trio');
    const people = (await multipose.estimate(img.data, img.width, img.height)).filter((p) => p.score > 0.2);
    assert.equal(people.length, 3);
    for (const [i, p] of people.entries()) {
      assert.ok(p.box, 'multipose gives boxes');
      const [x0, y0, x1, y1] = p.box;
      assert.ok(x0 < x1 && y0 < y1);
      const sx = (point(p, 'left_shoulder').x + point(p, 'right_shoulder').x) / 2;
      assert.ok(sx > x0 && sx < x1, `person ${i}: shoulders inside the box`);
      assert.ok(point(p, 'left_shoulder').y < point(p, 'left_hip').y, `person ${i}: shoulders above hips`);
    }
    const centres = people.map((p) => (p.box![0] + p.box![2]) / 2).sort((a, b) => a - b);
    assert.ok(centres[1]! - centres[0]! > 0.15 && centres[2]! - centres[1]! > 0.15, `box centres ${centres}`);
  });

  it('runs concurrent estimates for several cameras without mixing their frames', async () => {
    const a = loadPhoto('standing-skirt');
    const b = testPattern(320, 240);
    const [pa, pb] = await Promise.all([
      lightning.estimate(a.data, a.width, a.height),
      lightning.estimate(b.data, b.width, b.height),
    ]);
    const [sa] = await lightning.estimate(a.data, a.width, a.height);
    assert.deepEqual(Array.from(pa[0]!.keypoints), Array.from(sa!.keypoints));
    assert.ok(pb[0]!.score < 0.2);
  });

  it('refuses a frame whose size does not match its buffer', async () => {
    await assert.rejects(
      lightning.estimate(Buffer.alloc(100), 640, 480),
      (e: unknown) => e instanceof GatewayError && e.code === 'CAMERA_FRAME_INVALID',
    );
  });
});

describe('MoveNet estimator loading', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'movenet-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names the command that builds the models when they are missing', async () => {
    await assert.rejects(
      MoveNetEstimator.create({ modelDir: join(dir, 'nothing-here'), logger: silentLogger() }),
      (e: unknown) =>
        e instanceof GatewayError &&
        e.code === 'POSE_MODEL_MISSING' &&
        /npm run models:movenet/.test(e.message),
    );
  });

  it('refuses a model file whose sha256 differs from the manifest', async () => {
    const src = defaultMoveNetDir();
    const manifest = JSON.parse(await readFile(join(src, 'manifest.json'), 'utf8')) as {
      models: Record<string, { file: string }>;
    };
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
    const bytes = await readFile(join(src, manifest.models['lightning']!.file));
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    await writeFile(join(dir, manifest.models['lightning']!.file), bytes);
    await assert.rejects(
      MoveNetEstimator.create({ modelDir: dir, logger: silentLogger() }),
      (e: unknown) =>
        e instanceof GatewayError &&
        e.code === 'POSE_MODEL_HASH_MISMATCH' &&
        e.message.includes('lightning.onnx'),
    );
  });

  it('falls back to the next provider when one cannot load, and reports why', async () => {
    const est = await MoveNetEstimator.create({ logger: silentLogger(), providers: ['cuda', 'cpu'] });
    try {
      assert.equal(est.provider, 'cpu');
      assert.equal(est.providerFailures.length, 1);
      assert.equal(est.providerFailures[0]!.provider, 'cuda');
    } finally {
      await est.close();
    }
    await assert.rejects(
      MoveNetEstimator.create({ logger: silentLogger(), providers: ['cuda'] }),
      (e: unknown) => e instanceof GatewayError && e.code === 'MODEL_PROVIDER_UNAVAILABLE',
    );
  });

  it('the factory makes one estimator per model and retries a failed load', async () => {
    const missing = moveNetEstimatorFactory({ modelDir: join(dir, 'absent'), logger: silentLogger() });
    await assert.rejects(missing('lightning'), /POSE_MODEL_MISSING|cannot be read/);
    const factory = moveNetEstimatorFactory({ logger: silentLogger() });
    const [a, b] = await Promise.all([factory('lightning'), factory('lightning')]);
    assert.equal(a, b);
    await a.close?.();
    await assert.rejects(
      a.estimate(Buffer.alloc(12), 2, 2),
      (e: unknown) => e instanceof GatewayError && e.code === 'POSE_ESTIMATOR_CLOSED',
    );
  });
});
