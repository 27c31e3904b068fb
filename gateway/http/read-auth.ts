import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/*
 * Optional authentication for reads (http.readAuth): the page, SSE, the REST API and
 * /metrics then need the token too. A browser gives it once: the login form sends it as
 * ?token=, the server answers with an HttpOnly, SameSite=Strict cookie and redirects to the
 * same page without it, so the page, its assets and its EventSource (which cannot set headers)
 * carry the cookie from then on. Scripts use `Authorization: Bearer <token>`.
 * Unauthenticated `GET /health` keeps answering, with the overall status only (liveness
 * probes), never the details.
 */

export const TOKEN_COOKIE = 'mujo_token';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function same(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function cookieToken(header: string | undefined): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === TOKEN_COOKIE) {
      try {
        return decodeURIComponent(rest.join('='));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** How the request proves it knows the token, if it does. */
export function readCredential(
  request: FastifyRequest,
  token: string,
): 'bearer' | 'cookie' | 'query' | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
  if (bearer !== undefined && same(bearer, token)) return 'bearer';
  const cookie = cookieToken(request.headers.cookie);
  if (cookie !== undefined && same(cookie, token)) return 'cookie';
  const query = (request.query as Record<string, unknown> | undefined)?.['token'];
  if (typeof query === 'string' && same(query, token)) return 'query';
  return undefined;
}

const LOGIN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mujo-gateway: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 28rem; margin: 4rem auto">
<h1>mujo-gateway</h1>
<p>This gateway asks for its access token (<code>http.token</code>).</p>
<form method="get"><label>Token <input name="token" type="password" autocomplete="current-password" autofocus required></label>
<button type="submit">Open</button></form>
</body></html>`;

/**
 * The onRequest hook: undefined when the request may go on; otherwise it has been answered.
 * `secure` marks the cookie Secure (HTTPS).
 */
export function readAuthHook(
  token: string,
  secure: boolean,
  healthStatus: () => { status: string; code: number },
) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return undefined; // mutations have their own guard
    const path = request.url.split('?')[0] ?? '/';
    const how = readCredential(request, token);
    if (how === 'query' && (request.headers.accept ?? '').includes('text/html')) {
      // Trade the token in the URL for a cookie, and drop it from the address bar and history.
      const params = new URLSearchParams(request.url.split('?')[1] ?? '');
      params.delete('token');
      const rest = params.toString();
      // Fastify: an async hook that answered returns the reply, so the route does not run too.
      return reply
        .code(303)
        .header(
          'set-cookie',
          `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`,
        )
        .header('location', rest ? `${path}?${rest}` : path)
        .send();
    }
    if (how) return undefined;
    if (path === '/health') {
      const { status, code } = healthStatus();
      return reply.code(code).send({ status });
    }
    reply.header('www-authenticate', 'Bearer');
    if ((request.headers.accept ?? '').includes('text/html')) {
      return reply.code(401).type('text/html; charset=utf-8').send(LOGIN_PAGE);
    }
    return reply
      .code(401)
      .type('application/json; charset=utf-8')
      .send({
        error: {
          code: 'HTTP_UNAUTHORIZED',
          message: 'http.readAuth is on: send "Authorization: Bearer <token>" (or sign in on the page)',
        },
      });
  };
}
