import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from '../observability/logger.ts';
import { guardedRoute, sendError } from './guarded.ts';
import type { GatewayView } from './types.ts';

/** HTTP status of an enrollment refusal, by error code (anything else: 500, the running model keeps serving). */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  ENROLL_BAD_REQUEST: 400,
  ENROLL_UNKNOWN_SUBJECT: 404,
  ENROLL_UNKNOWN_CLASS: 404,
  ENROLL_UNKNOWN_VERSION: 404,
  REPLAY_NOT_FOUND: 404,
  ENROLL_BUSY: 409,
  ENROLL_NO_PREVIOUS: 409,
  ENROLL_TOO_FEW_CLASSES: 409,
  ENROLL_EMPTY_INTERVAL: 422,
  ENROLL_TOO_FEW_WINDOWS: 422,
  REPLAY_INVALID: 422,
};

/**
 * Teach the running model (docs/teach-your-activities.md): `GET /api/model/classes`,
 * `GET /api/model/versions`, and token-protected `POST /api/model/enroll`,
 * `POST /api/model/activate`, `POST /api/model/rollback`, `DELETE /api/model/classes/:id`.
 */
export function registerEnrollmentRoutes(
  app: FastifyInstance,
  view: GatewayView,
  token: string | undefined,
  logger: Logger,
): void {
  const guarded = guardedRoute(token, logger, STATUS_BY_CODE, 'enrollment');
  const enrollment = view.enrollment;
  const unsupported = (reply: FastifyReply): FastifyReply =>
    sendError(reply, 501, 'HTTP_NOT_SUPPORTED', 'this gateway does not enroll classes');
  const body = (b: unknown): Record<string, unknown> =>
    b !== null && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};

  app.get('/api/model/classes', async (_request, reply) => {
    if (!enrollment) return unsupported(reply);
    const model = view.model();
    return {
      model: model ? { name: model.name, version: model.version } : null,
      classes: model ? enrollment.classes() : [],
    };
  });
  app.get('/api/model/versions', async (_request, reply) =>
    enrollment ? reply.send(await enrollment.versions()) : unsupported(reply),
  );
  app.post(
    '/api/model/enroll',
    guarded(async (request, reply) =>
      enrollment ? reply.code(201).send(await enrollment.enroll(body(request.body))) : unsupported(reply),
    ),
  );
  app.post(
    '/api/model/activate',
    guarded(async (request, reply) => {
      if (!enrollment) return unsupported(reply);
      const version = body(request.body)['version'];
      if (typeof version !== 'string' || version === '')
        return sendError(reply, 400, 'ENROLL_BAD_REQUEST', 'the request needs "version": "<version>"');
      return reply.send(await enrollment.activate(version));
    }),
  );
  app.post(
    '/api/model/rollback',
    guarded(async (_request, reply) =>
      enrollment ? reply.send(await enrollment.rollback()) : unsupported(reply),
    ),
  );
  app.delete(
    '/api/model/classes/:id',
    guarded(async (request, reply) =>
      enrollment
        ? reply.send(await enrollment.removeClass((request.params as { id: string }).id))
        : unsupported(reply),
    ),
  );
}
