import { Type, type Static } from '@sinclair/typebox';
import { Identifier as Id, StringEnum } from '../../domain/option-schema.ts';

/*
 * The `cameras` and `matching` blocks of the gateway config. gateway/config composes `CamerasSection`
 * and `MatchingSection` into the main schema; keys with a default are filled in by validation.
 */

const Unit = (description: string) => Type.Number({ minimum: 0, maximum: 1, description });

export const POSE_MODELS = ['lightning', 'thunder', 'multipose'] as const;

export const ZoneSchema = Type.Object(
  {
    subject: Id('Subject whose pose this zone is.'),
    x0: Unit('Left edge, normalised image x (0 = left).'),
    y0: Unit('Top edge, normalised image y (0 = top).'),
    x1: Unit('Right edge, normalised image x.'),
    y1: Unit('Bottom edge, normalised image y.'),
  },
  {
    additionalProperties: false,
    description:
      'A rectangle of the image: a person whose hips (else shoulders, else box centre) are inside is this subject. The first matching zone wins.',
  },
);
export type ZoneConfig = Static<typeof ZoneSchema>;

export const CameraSchema = Type.Object(
  {
    id: Id(
      'Camera id: the first part of the pose stream id `<camera>/<track>` and the <device> of MQTT device state.',
    ),
    url: Type.String({
      pattern: '^(rtsps?|rtmp|https?|file|srt|udp|tcp)://',
      description:
        'Stream URL ffmpeg opens, e.g. rtsp://user:password@192.168.1.20:554/stream1 (credentials are redacted in logs).',
    }),
    width: Type.Integer({
      minimum: 32,
      maximum: 3840,
      default: 640,
      description:
        'Width ffmpeg scales frames to before pose estimation (the model resizes again; smaller is cheaper).',
    }),
    height: Type.Integer({
      minimum: 32,
      maximum: 2160,
      default: 480,
      description: 'Height of the scaled frames.',
    }),
    fps: Type.Number({
      exclusiveMinimum: 0,
      maximum: 60,
      default: 15,
      description:
        'Frames per second handed to the pose estimator at most; the stream may run faster (the surplus is counted as dropped, reason fps_cap).',
    }),
    model: StringEnum(POSE_MODELS, {
      default: 'lightning',
      description:
        'MoveNet variant: lightning (fast, one person), thunder (accurate, one person), multipose (up to 6 people, with boxes).',
    }),
    zones: Type.Optional(
      Type.Array(ZoneSchema, {
        description:
          'Manual subject assignment by image region; tracks outside every zone are left to automatic matching.',
      }),
    ),
    minPersonScore: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.25,
      description: 'Detections with a lower person score are ignored.',
    }),
    transport: StringEnum(['tcp', 'udp'] as const, {
      default: 'tcp',
      description: 'RTSP transport; TCP survives lossy Wi-Fi without smeared frames.',
    }),
    stallTimeoutMs: Type.Integer({
      minimum: 500,
      default: 5000,
      description: 'A stream that delivers no frame for this long is restarted (watchdog).',
    }),
    connectTimeoutMs: Type.Integer({
      minimum: 1000,
      default: 15000,
      description: 'Time from starting ffmpeg to the first frame before the attempt counts as failed.',
    }),
    enabled: Type.Boolean({ default: true, description: 'Read this camera.' }),
  },
  { additionalProperties: false, description: 'One camera (RTSP or anything ffmpeg opens).' },
);
export type CameraConfig = Static<typeof CameraSchema>;

export const CamerasSection = Type.Array(CameraSchema, {
  default: [],
  description: 'Cameras whose people become pose streams. Needs ffmpeg on PATH (or `MUJO_FFMPEG`).',
});
export type CamerasConfig = Static<typeof CamerasSection>;

export const MatchingSection = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description:
        'Assign camera tracks to subjects automatically by correlating wrist (or knee/ankle/hip) keypoint motion with each wearable\u2019s acceleration.',
    }),
    windowS: Type.Number({
      minimum: 2,
      maximum: 120,
      default: 4,
      description:
        'Length of the sliding correlation window, s. Short windows lock sooner; bench/matching measured 4 s best on UTD-MHAD scenes.',
    }),
    hopS: Type.Number({
      exclusiveMinimum: 0,
      maximum: 10,
      default: 0.5,
      description: 'How often the assignment is re-evaluated, s.',
    }),
    minCorrelation: Type.Number({
      minimum: -1,
      maximum: 1,
      default: 0.3,
      description: 'A wearable and a track are never paired below this correlation.',
    }),
    minMargin: Type.Number({
      minimum: 0,
      maximum: 2,
      default: 0.05,
      description: 'A new pairing needs this lead over the runner-up for the same wearable and track.',
    }),
    lockS: Type.Number({
      minimum: 0,
      maximum: 60,
      default: 1,
      description: 'A pairing must win this long before it is used (hysteresis against flicker).',
    }),
    switchMargin: Type.Number({
      minimum: 0,
      maximum: 2,
      default: 0.15,
      description:
        'A held pairing is replaced only when the new assignment scores this much better per pair.',
    }),
    switchS: Type.Number({
      minimum: 0,
      maximum: 120,
      default: 4,
      description: 'How long the better assignment must hold before a held pairing is replaced, s.',
    }),
    releaseS: Type.Number({
      minimum: 0,
      maximum: 600,
      default: 20,
      description: 'A held pairing whose correlation stays below minCorrelation this long is released, s.',
    }),
    binS: Type.Number({
      minimum: 0.02,
      maximum: 0.5,
      default: 0.1,
      description: 'Both signals are averaged onto a common grid of this step before correlating, s.',
    }),
    poseFeature: StringEnum(['speed', 'acceleration'] as const, {
      default: 'speed',
      description:
        'Keypoint motion compared with the wearable: image speed (default, measured better) or acceleration magnitude.',
    }),
    maxLagS: Type.Number({
      minimum: 0,
      maximum: 2,
      default: 0.3,
      description:
        'Camera and wearable clocks may disagree by this much; correlation is maximised over the lag.',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Automatic wearable ↔ camera-track assignment (zones take precedence).',
  },
);
export type MatchingConfig = Static<typeof MatchingSection>;

/** `rtsp://user:secret@host/…` → `rtsp://user:<redacted>@host/…` for logs and errors. */
export { redactUrl } from '../../observability/redact.ts';
