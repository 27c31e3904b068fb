import { Type, type Static } from '@sinclair/typebox';
import { IMU_FEATURE_DIM } from './features.ts';
import { POSE_FEATURES } from './features.ts';

/** Per-activity repetition settings; every key optional (unset = manifest, then built-in default). */
export const RepActivitySchema = Type.Object(
  {
    repetitive: Type.Optional(
      Type.Boolean({ description: 'Count reps of this activity (naming an activity here implies true).' }),
    ),
    modality: Type.Optional(
      Type.Unsafe<'auto' | 'imu' | 'pose'>({
        type: 'string',
        enum: ['auto', 'imu', 'pose'],
        description: "Which modality counts: 'auto' = the more periodic one when both are present.",
      }),
    ),
    imuFeatures: Type.Optional(
      Type.Unsafe<keyof typeof IMU_FEATURE_DIM>({
        type: 'string',
        enum: Object.keys(IMU_FEATURE_DIM),
        description: "IMU signal: 'acc' (principal component of acceleration), 'acc_magnitude', 'acc_gyro'.",
      }),
    ),
    poseFeatures: Type.Optional(
      Type.Union(
        [
          Type.Literal('auto'),
          Type.Array(
            Type.Unsafe<(typeof POSE_FEATURES)[number]>({ type: 'string', enum: [...POSE_FEATURES] }),
            {
              minItems: 1,
            },
          ),
        ],
        {
          description:
            "Pose signals to follow: keypoint coordinates ('right_wrist.y') and joint angles ('left_knee_angle'), or 'auto'.",
        },
      ),
    ),
    minPeriodS: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, maximum: 60, description: 'Shortest time between two reps, s.' }),
    ),
    maxPeriodS: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, maximum: 120, description: 'Longest rep period looked for, s.' }),
    ),
  },
  { additionalProperties: false },
);

export const RepsSection = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'Count repetitions while a repetitive activity goes on.',
    }),
    restS: Type.Number({
      exclusiveMinimum: 0,
      maximum: 3600,
      default: 10,
      description: 'A set ends after this long without a rep (the next rep starts a new set), s.',
    }),
    historyS: Type.Number({
      minimum: 0,
      maximum: 120,
      default: 6,
      description:
        'Samples kept per subject so counting starts where the activity started (it is announced after a dwell), s.',
    }),
    activities: Type.Record(Type.String({ minLength: 1 }), RepActivitySchema, {
      default: {},
      description:
        'Per activity id; built-in defaults count arm_curl, push, squat, lunge (and common gym names) and nothing else.',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Repetition counting per subject from IMU and pose (gateway/pipeline/reps).',
  },
);

export type RepsConfig = Static<typeof RepsSection>;
