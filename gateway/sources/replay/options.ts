import { Type, type Static } from '@sinclair/typebox';
import { Section, StringEnum } from '../../domain/option-schema.ts';

/* The `replay` config section: which recording plays as the default source (composed by gateway/config). */

export const ReplayOptionsSchema = Section(
  {
    enabled: Type.Boolean({ default: true, description: 'Play a recording as if it were live sensors.' }),
    path: Type.String({ minLength: 1, default: 'recordings/demo', description: 'Recording directory.' }),
    speed: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1000,
      default: 1,
      description: 'Playback speed: 1 is real time, 10 is ten times faster.',
    }),
    loop: Type.Boolean({ default: true, description: 'Start again at the end of the recording.' }),
    withoutModalities: Type.Array(StringEnum(['imu', 'pose'] as const), {
      uniqueItems: true,
      default: [],
      description: "Modalities to leave out of the replay, e.g. ['pose'] to run IMU only.",
    }),
  },
  { description: 'Replay of a recording: the default source, so the demo needs no hardware.' },
);

export type ReplayConfig = Static<typeof ReplayOptionsSchema>;
