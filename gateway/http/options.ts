import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Port, Section } from '../domain/option-schema.ts';

/* The `http` config section: the server's address, token and TLS (composed by gateway/config). */

export const HttpOptionsSchema = Section(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'Serve /health, /metrics, the REST API and the live page.',
    }),
    host: Type.String({
      minLength: 1,
      default: '127.0.0.1',
      description: 'Address to bind. The default keeps the server local; 0.0.0.0 exposes it.',
    }),
    port: Port('TCP port (0 picks a free port).', 8080),
    token: Type.Optional(
      Type.String({
        minLength: 8,
        description:
          'Bearer token required by endpoints that change anything. Absent: those endpoints are refused.',
      }),
    ),
    readAuth: Type.Boolean({
      default: false,
      description:
        'Reads need the token too: the live page (asks for it once, then a cookie), SSE, the REST API and /metrics; unauthenticated GET /health gives the overall status only. Needs token.',
    }),
    tls: Section(
      {
        cert: Type.Optional(
          Type.String({ minLength: 1, description: 'HTTPS certificate chain file (PEM).' }),
        ),
        key: Type.Optional(Type.String({ minLength: 1, description: 'HTTPS private key file (PEM).' })),
      },
      { description: 'HTTPS when both cert and key are given; plain HTTP otherwise.' },
    ),
  },
  { description: 'HTTP server.' },
);

export type HttpConfig = Static<typeof HttpOptionsSchema>;

/** The defaults, read from the schema above (written once, there). */
export const HTTP_DEFAULTS: HttpConfig = Value.Default(HttpOptionsSchema, {}) as HttpConfig;
