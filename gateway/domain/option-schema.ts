import { Type, type SchemaOptions, type TSchema } from '@sinclair/typebox';

/*
 * TypeBox building blocks for the modules' own config sections (each module's options.ts), so
 * every section is written the same way and gateway/config/ only has to compose them.
 *
 * Convention: a key with a `default` is required in the TypeScript type (validation fills it
 * in, so code never handles `undefined`), but optional in the published schema. Keys that are
 * `Type.Optional` have no default: absence means something.
 */

/** A string enum as a plain `enum` (TypeBox unions become anyOf, whose errors are unreadable). */
export function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** An object whose every key is checked, that is filled in with defaults when absent. */
export function Section<T extends Record<string, TSchema>>(properties: T, options: SchemaOptions = {}) {
  return Type.Object(properties, { additionalProperties: false, default: {}, ...options });
}

/** An id that is safe in MQTT topics, file names and InfluxDB tags. */
export const Identifier = (description: string, options: SchemaOptions = {}) =>
  Type.String({ pattern: '^[A-Za-z0-9_-]+$', minLength: 1, maxLength: 64, description, ...options });

export const Port = (description: string, defaultPort: number) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: defaultPort, description });
