import { COCO17_KEYPOINTS, POSE_VALUES_PER_FRAME, type CocoKeypoint } from '../../domain/samples.ts';

/**
 * What a rep counter looks at. IMU: the acceleration vector (m/s²; the principal component of
 * its motion is what repeats — RecoFit's choice), or its magnitude (orientation-free, the
 * alternative measured in bench/reps), optionally with the angular rate. Pose: named signals
 * of one COCO-17 frame — a keypoint coordinate in torso lengths (`right_wrist.y`) or a joint
 * angle in radians (`right_elbow_angle`) — so an activity can name the ones that move.
 */
export type ImuFeatureSet = 'acc' | 'acc_magnitude' | 'acc_gyro';

export const IMU_FEATURE_DIM: Record<ImuFeatureSet, number> = { acc: 3, acc_magnitude: 1, acc_gyro: 6 };

/** Writes the features of IMU sample `i` of an interleaved [ax, ay, az, gx, gy, gz] array into `out`. */
export function imuFeatures(
  set: ImuFeatureSet,
  values: ArrayLike<number>,
  i: number,
  out: Float64Array,
): void {
  const o = i * 6;
  const ax = values[o] as number;
  const ay = values[o + 1] as number;
  const az = values[o + 2] as number;
  if (set === 'acc_magnitude') {
    out[0] = Math.hypot(ax, ay, az);
    return;
  }
  out[0] = ax;
  out[1] = ay;
  out[2] = az;
  if (set === 'acc_gyro') {
    // rad/s scaled so a brisk rotation weighs like a brisk acceleration in the PCA.
    for (let j = 3; j < 6; j++) out[j] = 3 * (values[o + j] as number);
  }
}

const ANGLES = {
  left_elbow_angle: ['left_shoulder', 'left_elbow', 'left_wrist'],
  right_elbow_angle: ['right_shoulder', 'right_elbow', 'right_wrist'],
  left_shoulder_angle: ['left_hip', 'left_shoulder', 'left_elbow'],
  right_shoulder_angle: ['right_hip', 'right_shoulder', 'right_elbow'],
  left_hip_angle: ['left_shoulder', 'left_hip', 'left_knee'],
  right_hip_angle: ['right_shoulder', 'right_hip', 'right_knee'],
  left_knee_angle: ['left_hip', 'left_knee', 'left_ankle'],
  right_knee_angle: ['right_hip', 'right_knee', 'right_ankle'],
} as const satisfies Record<string, readonly [CocoKeypoint, CocoKeypoint, CocoKeypoint]>;

export type PoseAngle = keyof typeof ANGLES;
export type PoseFeature = PoseAngle | `${CocoKeypoint}.${'x' | 'y'}`;

export const POSE_ANGLES = Object.keys(ANGLES) as PoseAngle[];
export const POSE_FEATURES: readonly PoseFeature[] = [
  ...COCO17_KEYPOINTS.flatMap((k) => [`${k}.x` as const, `${k}.y` as const]),
  ...POSE_ANGLES,
];

export function isPoseFeature(name: string): name is PoseFeature {
  return (POSE_FEATURES as readonly string[]).includes(name);
}

/**
 * The body signals used when an activity names none: wrists, elbows, hips, knees and the
 * four limb angles — the parts that move in every exercise; the PCA then picks what repeats.
 */
export const AUTO_POSE_FEATURES: readonly PoseFeature[] = [
  'left_wrist.x',
  'left_wrist.y',
  'right_wrist.x',
  'right_wrist.y',
  'left_elbow.y',
  'right_elbow.y',
  'left_hip.y',
  'right_hip.y',
  'left_knee.x',
  'left_knee.y',
  'right_knee.x',
  'right_knee.y',
  'left_elbow_angle',
  'right_elbow_angle',
  'left_knee_angle',
  'right_knee_angle',
];

const INDEX = new Map<string, number>(COCO17_KEYPOINTS.map((k, i) => [k, i]));
/** Keypoints below this score are carried over from the previous frame. */
const MIN_SCORE = 0.2;

type Extract = (frame: ArrayLike<number>, o: number, torso: number) => number | null;

function keypoint(frame: ArrayLike<number>, o: number, k: CocoKeypoint): [number, number] | null {
  const i = o + (INDEX.get(k) as number) * 3;
  return (frame[i + 2] as number) >= MIN_SCORE ? [frame[i] as number, frame[i + 1] as number] : null;
}

function extractor(name: PoseFeature): Extract {
  if (name in ANGLES) {
    const [a, b, c] = ANGLES[name as PoseAngle];
    return (f, o) => {
      const pa = keypoint(f, o, a);
      const pb = keypoint(f, o, b);
      const pc = keypoint(f, o, c);
      if (!pa || !pb || !pc) return null;
      const u0 = pa[0] - pb[0];
      const u1 = pa[1] - pb[1];
      const v0 = pc[0] - pb[0];
      const v1 = pc[1] - pb[1];
      return Math.atan2(Math.abs(u0 * v1 - u1 * v0), u0 * v0 + u1 * v1);
    };
  }
  const [k, axis] = name.split('.') as [CocoKeypoint, 'x' | 'y'];
  return (f, o, torso) => {
    const p = keypoint(f, o, k);
    return p ? (axis === 'x' ? p[0] : p[1]) / torso : null;
  };
}

/**
 * Turns pose frames into the named features; coordinates are divided by the torso length
 * (shoulder centre to hip centre, smoothed) so near and far people count alike; a keypoint
 * that is not seen keeps its last value.
 */
export class PoseFeatureExtractor {
  readonly dim: number;
  private readonly extract: Extract[];
  private readonly last: Float64Array;
  private torso = NaN;

  constructor(readonly features: readonly PoseFeature[]) {
    if (features.length === 0) throw new RangeError('at least one pose feature is needed');
    this.dim = features.length;
    this.extract = features.map(extractor);
    this.last = new Float64Array(this.dim);
  }

  /** Features of frame `i` of an interleaved 17 × (x, y, score) array, into `out`. */
  frame(values: ArrayLike<number>, i: number, out: Float64Array): void {
    const o = i * POSE_VALUES_PER_FRAME;
    const ls = keypoint(values, o, 'left_shoulder');
    const rs = keypoint(values, o, 'right_shoulder');
    const lh = keypoint(values, o, 'left_hip');
    const rh = keypoint(values, o, 'right_hip');
    if (ls && rs && lh && rh) {
      const t = Math.hypot((ls[0] + rs[0] - lh[0] - rh[0]) / 2, (ls[1] + rs[1] - lh[1] - rh[1]) / 2);
      if (t > 1e-3) this.torso = Number.isNaN(this.torso) ? t : 0.9 * this.torso + 0.1 * t;
    }
    const torso = Number.isNaN(this.torso) ? 0.25 : this.torso;
    for (let j = 0; j < this.dim; j++) {
      const v = (this.extract[j] as Extract)(values, o, torso);
      if (v !== null) this.last[j] = v;
      out[j] = this.last[j] as number;
    }
  }
}
