import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from '../observability/logger.ts';
import { guardedRoute, sendError } from './guarded.ts';
import type { GatewayView } from './types.ts';

const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  RECORDER_BUSY: 409,
  RECORDER_NOT_RECORDING: 409,
  RECORDER_BAD_REQUEST: 400,
  RECORDER_BAD_LABEL: 400,
};

/**
 * `GET /api/recording` (status), `POST /api/recording/start|stop|label`: record what the
 * gateway sees for the trainer (docs/recording.md). Changes are token-protected.
 */
export function registerRecordingRoutes(
  app: FastifyInstance,
  view: GatewayView,
  token: string | undefined,
  logger: Logger,
): void {
  const guarded = guardedRoute(token, logger, STATUS_BY_CODE, 'recording command');
  const recording = view.recording;
  const disabled = (reply: FastifyReply): FastifyReply =>
    sendError(reply, 501, 'HTTP_NOT_SUPPORTED', 'the recorder is disabled (recorder.enabled: false)');
  const body = (b: unknown): Record<string, unknown> =>
    b !== null && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};

  app.get('/api/recording', async (_request, reply) =>
    recording ? reply.send({ recording: recording.status() }) : disabled(reply),
  );
  app.post(
    '/api/recording/start',
    guarded(async (request, reply) =>
      recording ? reply.code(201).send(await recording.start(body(request.body))) : disabled(reply),
    ),
  );
  app.post(
    '/api/recording/stop',
    guarded(async (_request, reply) => (recording ? reply.send(await recording.stop()) : disabled(reply))),
  );
  app.post(
    '/api/recording/label',
    guarded(async (request, reply) =>
      recording ? reply.send(recording.label(body(request.body))) : disabled(reply),
    ),
  );
}
