import recordingSchema from '../../config/schemas/recording.schema.json' with { type: 'json' };

/**
 * Where an IMU is worn. The list itself lives in one place, the `placement` enum of
 * config/schemas/recording.schema.json, which the trainer reads too; the union below only
 * gives it a type (test/unit/domain/recording-schema.test.ts keeps the two equal).
 */
export type Placement = 'wrist' | 'thigh' | 'chest' | 'ankle' | 'waist' | 'upper_arm' | 'pocket' | 'unknown';

export const PLACEMENTS: readonly Placement[] = recordingSchema.$defs.placement.enum as Placement[];

export function isPlacement(value: unknown): value is Placement {
  return typeof value === 'string' && (PLACEMENTS as readonly string[]).includes(value);
}
