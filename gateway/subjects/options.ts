import { Type, type Static } from '@sinclair/typebox';
import { Identifier } from '../domain/option-schema.ts';

/* The `subjects` config section: who wears which device, who is which camera track (composed by gateway/config). */

export const SubjectSchema = Type.Object(
  {
    id: Identifier('Subject id, used in topics.'),
    name: Type.Optional(Type.String({ description: 'Display name.' })),
    devices: Type.Array(Type.String({ minLength: 1 }), {
      uniqueItems: true,
      default: [],
      description: 'Ids of the IMU devices this person wears.',
    }),
    cameraTracks: Type.Array(Type.String({ pattern: '^[^/]+/[^/]+$' }), {
      uniqueItems: true,
      default: [],
      description: "Camera tracks that are this person, as '<camera>/<track>' (e.g. 'cam1/1').",
    }),
  },
  { additionalProperties: false },
);

export const SubjectsOptionsSchema = Type.Array(SubjectSchema, {
  default: [],
  description:
    'People and what they wear or which camera track they are. Unlisted devices and tracks are reported, and a recording names its own subjects.',
});

export type SubjectConfig = Static<typeof SubjectSchema>;
