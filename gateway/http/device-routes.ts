import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../observability/logger.ts';
import { guardedRoute, sendError } from './guarded.ts';
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
  const guarded = guardedRoute(token, logger, STATUS_BY_CODE, 'device change');
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
