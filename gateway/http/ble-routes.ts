import type { FastifyInstance, FastifyReply } from 'fastify';
import { errorCode, errorMessage } from '../observability/errors.ts';
import type { Logger } from '../observability/logger.ts';
import { guardedRoute, sendError } from './guarded.ts';
import type { GatewayView } from './types.ts';

/** HTTP status of a scan refusal, by error code. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  DEVICE_INVALID: 400,
  BLE_BAD_SCAN: 400,
  BLE_DISABLED: 409,
  BLE_NOT_READY: 409,
};

/**
 * BLE onboarding: `POST /api/ble/scan` (token) listens for new wearables for a while, and
 * `GET /api/ble/nearby` lists what was heard with the family detected and whether each is
 * already a configured device. Adding and assigning one are `POST /api/devices` and
 * `PATCH /api/devices/:id` (device-routes.ts). The MQTT requests `scan_devices` and
 * `nearby_devices` call the same DeviceService methods.
 */
export function registerBleRoutes(
  app: FastifyInstance,
  view: GatewayView,
  token: string | undefined,
  logger: Logger,
): void {
  const guarded = guardedRoute(token, logger, STATUS_BY_CODE, 'BLE scan');
  const unsupported = (reply: FastifyReply): FastifyReply =>
    sendError(reply, 501, 'HTTP_NOT_SUPPORTED', 'this gateway does not manage devices at runtime');

  app.get('/api/ble/nearby', async (_request, reply) => {
    if (!view.nearbyDevices) return unsupported(reply);
    try {
      return reply.send(view.nearbyDevices());
    } catch (err) {
      const code = errorCode(err);
      const status = STATUS_BY_CODE[code] ?? 500;
      if (status >= 500) logger.error({ code, err }, 'BLE scan list failed');
      return sendError(reply, status, code === 'UNKNOWN' ? 'HTTP_INTERNAL' : code, errorMessage(err));
    }
  });
  app.post(
    '/api/ble/scan',
    guarded(async (request, reply) => {
      if (!view.scanDevices) return unsupported(reply);
      return reply.send(view.scanDevices(request.body ?? {}));
    }),
  );
}
