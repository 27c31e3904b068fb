import { createHash, timingSafeEqual } from 'node:crypto';

export type AuthResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly status: 401 | 403; readonly code: string; readonly message: string };

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Checks `Authorization: Bearer <token>` for endpoints that change the gateway. Without a
 * configured token such endpoints are off (403), never open: a gateway on a shop-floor
 * network must not be reconfigurable by whoever finds its port.
 */
export function checkBearer(configured: string | undefined, header: string | undefined): AuthResult {
  if (configured === undefined || configured === '') {
    return {
      ok: false,
      status: 403,
      code: 'HTTP_MUTATION_DISABLED',
      message: 'endpoints that change the gateway are disabled: no HTTP token is configured (set http.token)',
    };
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) {
    return {
      ok: false,
      status: 401,
      code: 'HTTP_UNAUTHORIZED',
      message: 'this endpoint requires the header "Authorization: Bearer <token>"',
    };
  }
  // Compare digests: equal length, constant time, so the token cannot be guessed by timing.
  if (!timingSafeEqual(digest(match[1]), digest(configured))) {
    return {
      ok: false,
      status: 403,
      code: 'HTTP_FORBIDDEN',
      message: 'the bearer token does not match the configured token',
    };
  }
  return { ok: true };
}
