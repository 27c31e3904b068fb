import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorCode, errorMessage } from '../observability/errors.ts';
import type { Logger } from '../observability/logger.ts';
import { checkBearer } from './auth.ts';
import type { GatewayView } from './types.ts';

/** HTTP status of a device-management refusal, by error code. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  DEVICE_INVALID: 400,
  BLE_BAD_DEVICE: 400,
  BLE_UNKNOWN_FAMILY: 400,
  BLE_UNKNOWN_DEVICE: 404,
  BLE_DUPLICATE_DEVICE: 409,
  BLE_DISABLED: 409,
};

function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ error: { code, message } });
}

/**
 * `POST /api/devices`, `DELETE /api/devices/:id`, `PATCH /api/devices/:id`: add, remove and
 * (re)assign BLE wearables at runtime. Token-protected like every route that changes the gateway.
 */
export function registerDeviceRoutes(
  app: FastifyInstance,
  view: GatewayView,
  token: string | undefined,
  logger: Logger,
): void {
  const guarded =
    (handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
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
        const status = STATUS_BY_CODE[code] ?? 500;
        if (status >= 500) logger.error({ code, err }, 'device change failed');
        return sendError(reply, status, code === 'UNKNOWN' ? 'HTTP_INTERNAL' : code, errorMessage(err));
      }
    };
  const unsupported = (reply: FastifyReply): FastifyReply =>
    sendError(reply, 501, 'HTTP_NOT_SUPPORTED', 'this gateway does not manage devices at runtime');
  const idOf = (request: FastifyRequest): string => (request.params as { id: string }).id;

  app.post(
    '/api/devices',
    guarded(async (request, reply) => {
      if (!view.addDevice) return unsupported(reply);
      const result = await view.addDevice(request.body ?? {});
      return reply.code(201).send(result);
    }),
  );
  app.delete(
    '/api/devices/:id',
    guarded(async (request, reply) => {
      if (!view.removeDevice) return unsupported(reply);
      return reply.send(await view.removeDevice(idOf(request)));
    }),
  );
  app.patch(
    '/api/devices/:id',
    guarded(async (request, reply) => {
      if (!view.assignDevice) return unsupported(reply);
      return reply.send(await view.assignDevice(idOf(request), request.body ?? {}));
    }),
  );
}
