import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorCode, errorMessage } from '../observability/errors.ts';
import type { Logger } from '../observability/logger.ts';
import { checkBearer } from './auth.ts';

export type RouteHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ error: { code, message } });
}

/**
 * Wraps a route that changes the gateway: bearer token first (401/403 as in auth.ts), then the
 * handler, with coded errors mapped to HTTP statuses by `statusByCode` (unknown codes → 500,
 * logged).
 */
export function guardedRoute(
  token: string | undefined,
  logger: Logger,
  statusByCode: Readonly<Record<string, number>>,
  what: string,
) {
  return (handler: RouteHandler) =>
    async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      const auth = checkBearer(token, request.headers.authorization);
      if (!auth.ok) {
        if (auth.status === 401) reply.header('www-authenticate', 'Bearer');
        return sendError(reply, auth.status, auth.code, auth.message);
      }
      try {
        return await handler(request, reply);
      } catch (err) {
        const code = errorCode(err);
        const status = statusByCode[code] ?? 500;
        if (status >= 500) logger.error({ code, err }, `${what} failed`);
        return sendError(reply, status, code === 'UNKNOWN' ? 'HTTP_INTERNAL' : code, errorMessage(err));
      }
    };
}
