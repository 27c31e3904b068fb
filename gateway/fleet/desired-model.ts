import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { GatewayError } from '../observability/errors.ts';

/**
 * The fleet's desired model: one retained message on `<baseTopic>/fleet/model`, published by
 * whoever runs the fleet. It names the model (name, version), where its manifest is (url)
 * and the manifest's sha256; the manifest in turn carries the sha256 of every file, so one
 * hash pins the whole model. `gateways` or `share` stage a rollout: named gateways first, or
 * a stable share of the fleet; a gateway outside the stage keeps what it serves.
 */
export const DesiredModelSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    version: Type.String({ minLength: 1, maxLength: 128 }),
    url: Type.String({ pattern: '^https?://', maxLength: 2048 }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    gateways: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 10_000 })),
    share: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: true },
);

export type DesiredModel = Static<typeof DesiredModelSchema>;

export function parseDesiredModel(payload: Buffer): DesiredModel {
  let data: unknown;
  try {
    data = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new GatewayError('ROLLOUT_BAD_MESSAGE', `desired model: not JSON (${(err as Error).message})`);
  }
  if (!Value.Check(DesiredModelSchema, data)) {
    const problems = [...Value.Errors(DesiredModelSchema, data)].map((e) => `${e.path || '/'}: ${e.message}`);
    throw new GatewayError('ROLLOUT_BAD_MESSAGE', `desired model: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  return data;
}

/**
 * Where this gateway falls in a staged rollout, in [0, 1): the first 32 bits of
 * sha256(gateway id). Stable across restarts and fleets, so share 0.3 then 0.6 only ever adds
 * gateways.
 */
export function rolloutPosition(gatewayId: string): number {
  return createHash('sha256').update(gatewayId).digest().readUInt32BE(0) / 2 ** 32;
}

/** Does this rollout stage include the gateway? A list wins over a share; neither = everyone. */
export function isTargeted(desired: DesiredModel, gatewayId: string): boolean {
  if (desired.gateways) return desired.gateways.includes(gatewayId);
  if (desired.share !== undefined) return rolloutPosition(gatewayId) < desired.share;
  return true;
}
