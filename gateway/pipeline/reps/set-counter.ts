import type { TimeNs } from '../../domain/time.ts';
import { IMU_FEATURE_DIM, AUTO_POSE_FEATURES, PoseFeatureExtractor, imuFeatures } from './features.ts';
import type { RepActivitySettings } from './settings.ts';
import { StreamCounter, type RepDetection, type StreamCounterParams } from './stream-counter.ts';

export type RepSource = 'imu' | 'pose';

/** One counted repetition of a set. */
export interface CountedRep {
  readonly tNs: TimeNs;
  /** 1-based number in the set. */
  readonly rep: number;
  readonly modality: RepSource;
  /** Periodicity of the counting stream (0..1). */
  readonly confidence: number;
  readonly periodS: number;
}

export interface SetCounterParams {
  readonly imu: Partial<StreamCounterParams>;
  readonly pose: Partial<StreamCounterParams>;
  /** The other modality takes the lead when its periodicity exceeds the leader's by this much. */
  readonly switchMargin: number;
  /** A modality without data for this long (data time) is absent, s. */
  readonly absentAfterS: number;
  /**
   * With both modalities and 'auto': 'periodicity' follows the more periodic one; 'pose' /
   * 'imu' follow that one whenever it is present (alternatives measured in bench/reps).
   */
  readonly lead: 'periodicity' | 'pose' | 'imu';
}

/** Tuned on UTD-MHAD training subjects 1, 3, 5, 7 (bench/reps). */
/** What pushImu/pushPose return when nothing was counted: no array per call. */
const NO_REPS: readonly CountedRep[] = Object.freeze([]);

export const DEFAULT_SET_COUNTER_PARAMS: SetCounterParams = {
  // Wrist/thigh acceleration needs more smoothing than pose: its bumps carry impact transients.
  imu: { minAmplitude: 0.5, smoothS: 0.8 },
  pose: { minAmplitude: 0.03 },
  switchMargin: 0.3,
  absentAfterS: 2,
  lead: 'periodicity',
};

/**
 * Counts the reps of one set from whatever modalities the subject has. Each present modality
 * runs its own StreamCounter; reps are taken from the leader — the configured modality, or with
 * 'auto' the more periodic one (sticky by `switchMargin`, so the lead does not flap) — and a
 * rep closer than the minimum period to the previous one (a lead change mid-rep) is dropped.
 */
export class SetCounter {
  readonly params: SetCounterParams;
  private readonly imu: StreamCounter;
  private readonly pose: StreamCounter;
  private readonly poseFeatures: PoseFeatureExtractor;
  private readonly imuBuf: Float64Array;
  private readonly poseBuf: Float64Array;
  private lastImuNs = -Infinity;
  private lastPoseNs = -Infinity;
  private leader: RepSource | null = null;
  private lastRepNs = -Infinity;
  private readonly reps: CountedRep[] = [];

  constructor(
    readonly settings: RepActivitySettings,
    params: Partial<SetCounterParams> = {},
  ) {
    this.params = { ...DEFAULT_SET_COUNTER_PARAMS, ...params };
    const periods = { minPeriodS: settings.minPeriodS, maxPeriodS: settings.maxPeriodS };
    this.imu = new StreamCounter(IMU_FEATURE_DIM[settings.imuFeatures], { ...this.params.imu, ...periods });
    this.poseFeatures = new PoseFeatureExtractor(
      settings.poseFeatures === 'auto' ? AUTO_POSE_FEATURES : settings.poseFeatures,
    );
    this.pose = new StreamCounter(this.poseFeatures.dim, { ...this.params.pose, ...periods });
    this.imuBuf = new Float64Array(6);
    this.poseBuf = new Float64Array(this.poseFeatures.dim);
  }

  get count(): number {
    return this.reps.length;
  }

  get counted(): readonly CountedRep[] {
    return this.reps;
  }

  get lastRepTimeNs(): TimeNs {
    return this.lastRepNs;
  }

  /**
   * IMU samples: times (ns) and interleaved [ax, ay, az, gx, gy, gz], samples `from` to `to`
   * (exclusive; so callers need no subarray views). Returns the reps counted (a shared empty
   * array when none).
   */
  pushImu(
    tNs: ArrayLike<number>,
    values: ArrayLike<number>,
    from = 0,
    to = tNs.length,
  ): readonly CountedRep[] {
    if (this.settings.modality === 'pose') return NO_REPS;
    let out: CountedRep[] | undefined;
    for (let i = from; i < to; i++) {
      const t = tNs[i] as number;
      imuFeatures(this.settings.imuFeatures, values, i, this.imuBuf);
      this.lastImuNs = t;
      const d = this.imu.push(t, this.imuBuf);
      if (d) this.accept('imu', d, (out ??= []));
    }
    return out ?? NO_REPS;
  }

  /** Pose frames: times (ns) and interleaved 17 × (x, y, score), frames `from` to `to` (exclusive). */
  pushPose(
    tNs: ArrayLike<number>,
    values: ArrayLike<number>,
    from = 0,
    to = tNs.length,
  ): readonly CountedRep[] {
    if (this.settings.modality === 'imu') return NO_REPS;
    let out: CountedRep[] | undefined;
    for (let i = from; i < to; i++) {
      const t = tNs[i] as number;
      this.poseFeatures.frame(values, i, this.poseBuf);
      this.lastPoseNs = t;
      const d = this.pose.push(t, this.poseBuf);
      if (d) this.accept('pose', d, (out ??= []));
    }
    return out ?? NO_REPS;
  }

  private present(m: RepSource, nowNs: TimeNs): boolean {
    const last = m === 'imu' ? this.lastImuNs : this.lastPoseNs;
    return nowNs - last <= this.params.absentAfterS * 1e9;
  }

  private chooseLeader(nowNs: TimeNs): RepSource | null {
    const imu = this.present('imu', nowNs);
    const pose = this.present('pose', nowNs);
    if (!imu || !pose) return imu ? 'imu' : pose ? 'pose' : null;
    if (this.params.lead !== 'periodicity') return this.params.lead;
    const pi = this.imu.periodicity;
    const pp = this.pose.periodicity;
    if (this.leader === 'pose') return pi > pp + this.params.switchMargin ? 'imu' : 'pose';
    if (this.leader === 'imu') return pp > pi + this.params.switchMargin ? 'pose' : 'imu';
    return pp > pi ? 'pose' : 'imu';
  }

  /**
   * Each modality counts the whole set on its own; the set's count follows the leader's own
   * count and never goes back. So a lead change mid-set neither counts a rep twice (the two
   * signals cross their thresholds at different phases of a rep) nor loses one: a new leader
   * that is behind adds nothing until it catches up, one that is ahead adds its extra reps.
   */
  private accept(m: RepSource, d: RepDetection, out: CountedRep[]): void {
    this.leader = this.chooseLeader(d.tNs);
    if (this.leader !== m) return;
    const own = (m === 'imu' ? this.imu : this.pose).reps;
    while (this.reps.length < own) {
      this.lastRepNs = d.tNs;
      const rep: CountedRep = {
        tNs: d.tNs,
        rep: this.reps.length + 1,
        modality: m,
        confidence: d.periodicity,
        periodS: d.periodS,
      };
      this.reps.push(rep);
      out.push(rep);
    }
  }
}
