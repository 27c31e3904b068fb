import { Type, type Static } from '@sinclair/typebox';

/** `fleet`: following a model rollout published for the whole fleet (docs/fleet.md). */
export const FleetOptionsSchema = Type.Object(
  {
    rollout: Type.Object(
      {
        enabled: Type.Boolean({
          default: false,
          description:
            'Follow the retained desired-model message on <baseTopic>/fleet/model: download, verify and serve the model it names. Off by default: whoever may publish that topic chooses what this gateway runs.',
        }),
        allowedUrlPrefixes: Type.Array(Type.String({ minLength: 1 }), {
          default: [],
          description:
            'Model URLs must start with one of these (e.g. "https://models.site.lan/"); empty = any http(s) URL.',
        }),
        maxFileBytes: Type.Integer({
          minimum: 1024,
          default: 256 * 1024 * 1024,
          description: 'Largest file of a model download (manifest, ONNX, prototypes), bytes.',
        }),
        timeoutMs: Type.Integer({
          minimum: 1000,
          default: 120_000,
          description: 'Time allowed for one file of a model download, ms.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    handover: Type.Object(
      {
        enabled: Type.Boolean({
          default: false,
          description:
            'One subject across gateways: claim a subject on <baseTopic>/fleet/subjects/<id>/owner when its data arrives here, and end its activity at once when another gateway claims it.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Fleet: model rollout over MQTT (docs/fleet.md).',
  },
);

export type FleetConfig = Static<typeof FleetOptionsSchema>;
export type RolloutConfig = FleetConfig['rollout'];
export type HandoverConfig = FleetConfig['handover'];
