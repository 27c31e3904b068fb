import type { ImuFeatureSet, PoseFeature } from './features.ts';

/** Which modality counts an activity's reps: 'auto' = whichever is more periodic when both are present. */
export type RepModality = 'auto' | 'imu' | 'pose';

/** How one activity's repetitions are counted (config `reps.activities.<id>`, manifest class `reps`). */
export interface RepActivitySettings {
  readonly repetitive: boolean;
  readonly modality: RepModality;
  readonly imuFeatures: ImuFeatureSet;
  /** Pose signals to follow; 'auto' = the body signals of AUTO_POSE_FEATURES. */
  readonly poseFeatures: readonly PoseFeature[] | 'auto';
  readonly minPeriodS: number;
  readonly maxPeriodS: number;
}

export type RepActivityOverride = Partial<RepActivitySettings>;

export const NOT_REPETITIVE: RepActivitySettings = {
  repetitive: false,
  modality: 'auto',
  imuFeatures: 'acc',
  poseFeatures: 'auto',
  minPeriodS: 1,
  maxPeriodS: 8,
};

const REPETITIVE: RepActivitySettings = { ...NOT_REPETITIVE, repetitive: true };

/**
 * Built-in settings by class id: the repetitive exercises of the default model (UTD-MHAD) and
 * of common gym class names (MM-Fit's). Everything else — walking, jogging, standing, one-off
 * gestures, unknown classes — counts nothing unless configured.
 */
export const BUILT_IN_REP_SETTINGS: Readonly<Record<string, RepActivitySettings>> = {
  arm_curl: {
    ...REPETITIVE,
    poseFeatures: ['left_elbow_angle', 'right_elbow_angle', 'left_wrist.y', 'right_wrist.y'],
  },
  bicep_curls: {
    ...REPETITIVE,
    poseFeatures: ['left_elbow_angle', 'right_elbow_angle', 'left_wrist.y', 'right_wrist.y'],
  },
  push: {
    ...REPETITIVE,
    poseFeatures: ['left_wrist.x', 'right_wrist.x', 'left_elbow_angle', 'right_elbow_angle'],
  },
  pushups: {
    ...REPETITIVE,
    poseFeatures: ['left_shoulder.y', 'right_shoulder.y', 'left_elbow_angle', 'right_elbow_angle'],
  },
  squat: {
    ...REPETITIVE,
    poseFeatures: ['left_hip.y', 'right_hip.y', 'left_knee_angle', 'right_knee_angle'],
  },
  squats: {
    ...REPETITIVE,
    poseFeatures: ['left_hip.y', 'right_hip.y', 'left_knee_angle', 'right_knee_angle'],
  },
  lunge: {
    ...REPETITIVE,
    poseFeatures: ['left_hip.y', 'right_hip.y', 'left_knee_angle', 'right_knee_angle'],
  },
  lunges: {
    ...REPETITIVE,
    poseFeatures: ['left_hip.y', 'right_hip.y', 'left_knee_angle', 'right_knee_angle'],
  },
  dumbbell_shoulder_press: {
    ...REPETITIVE,
    poseFeatures: ['left_wrist.y', 'right_wrist.y', 'left_elbow_angle', 'right_elbow_angle'],
  },
  dumbbell_rows: REPETITIVE,
  situps: REPETITIVE,
  tricep_extensions: { ...REPETITIVE, poseFeatures: ['left_elbow_angle', 'right_elbow_angle'] },
  lateral_shoulder_raises: { ...REPETITIVE, poseFeatures: ['left_shoulder_angle', 'right_shoulder_angle'] },
  jumping_jacks: { ...REPETITIVE, minPeriodS: 0.5, maxPeriodS: 3 },
};

/**
 * Settings for `activity`: configuration wins over the model manifest, the manifest over the
 * built-in table; anything else is not repetitive.
 */
export function repSettingsFor(
  activity: string,
  config: Readonly<Record<string, RepActivityOverride>> = {},
  manifest: Readonly<Record<string, RepActivityOverride>> = {},
): RepActivitySettings {
  const base = BUILT_IN_REP_SETTINGS[activity] ?? NOT_REPETITIVE;
  const fromManifest = manifest[activity];
  const fromConfig = config[activity];
  const merged = { ...base, ...(fromManifest ?? {}), ...(fromConfig ?? {}) };
  // Naming an activity in config or manifest without `repetitive` means "count it".
  if (
    (fromConfig || fromManifest) &&
    fromConfig?.repetitive === undefined &&
    fromManifest?.repetitive === undefined
  ) {
    return { ...merged, repetitive: true };
  }
  return merged;
}
