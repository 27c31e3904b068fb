import { Type, type Static } from '@sinclair/typebox';

/** `enrollment`: teaching the running model new classes, and the model versions that makes. */
export const EnrollmentOptionsSchema = Type.Object(
  {
    storeDir: Type.String({
      minLength: 1,
      default: 'var/models',
      description:
        'Writable directory of model versions made by enrollment (one directory each) and active.json, the version serving; model.path is never written.',
    }),
    minWindows: Type.Integer({
      minimum: 1,
      maximum: 10000,
      default: 3,
      description: 'Fewest windows a class may be enrolled from (ENROLL_TOO_FEW_WINDOWS below).',
    }),
    defaultSeconds: Type.Number({
      exclusiveMinimum: 0,
      maximum: 3600,
      default: 10,
      description: 'Length of a live enrollment that names no "seconds", s of data time.',
    }),
    maxSeconds: Type.Number({
      exclusiveMinimum: 0,
      maximum: 3600,
      default: 120,
      description: 'Longest live enrollment, s.',
    }),
    graceS: Type.Number({
      minimum: 0,
      maximum: 3600,
      default: 10,
      description:
        'A live enrollment whose windows stop arriving gives up this long (wall clock) after its interval and a window should have ended, s.',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'Enrollment: new classes from a few examples, without retraining (docs/teach-your-activities.md).',
  },
);

export type EnrollmentConfig = Static<typeof EnrollmentOptionsSchema>;
