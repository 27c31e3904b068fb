import { PAYLOAD_VERSION } from '../../domain/events.ts';
import { GatewayError, errorCode, errorMessage } from '../../observability/errors.ts';

/** Arguments of a request: its JSON object without `correlationId`. */
export type CommandArgs = Record<string, unknown>;

export interface CommandContext {
  readonly action: string;
  readonly correlationId: string | null;
}

/** Returns the JSON-serialisable `result`; throw a GatewayError to answer with its code. */
export type CommandHandler = (args: CommandArgs, ctx: CommandContext) => unknown;

/** `<base>/<gw>/response/<action>` payload (config/schemas/mqtt-response.schema.json). */
export type CommandResponse =
  | {
      readonly v: typeof PAYLOAD_VERSION;
      readonly gateway: string;
      readonly action: string;
      readonly correlationId: string | null;
      readonly ok: true;
      readonly result: unknown;
    }
  | {
      readonly v: typeof PAYLOAD_VERSION;
      readonly gateway: string;
      readonly action: string;
      readonly correlationId: string | null;
      readonly ok: false;
      readonly error: { readonly code: string; readonly message: string };
    };

const ACTION_RE = /^[a-z][a-z0-9_]{0,63}$/;
const MAX_CORRELATION_ID = 256;

/**
 * Dispatches requests to the handlers the app registered. Pure: no MQTT here, so every
 * answer (including the coded refusals) is testable without a broker.
 */
export class CommandRouter {
  private readonly handlers = new Map<string, CommandHandler>();
  private readonly timeouts = new Map<string, number>();

  constructor(
    private readonly gateway: string,
    private readonly timeoutMs: number,
  ) {}

  register(action: string, handler: CommandHandler, timeoutMs?: number): void {
    if (!ACTION_RE.test(action)) {
      throw new GatewayError(
        'MQTT_BAD_ACTION',
        `command action ${JSON.stringify(action)}: expected lower-case snake_case (${ACTION_RE.source})`,
      );
    }
    this.handlers.set(action, handler);
    if (timeoutMs !== undefined) this.timeouts.set(action, timeoutMs);
  }

  has(action: string): boolean {
    return this.handlers.has(action);
  }

  actions(): string[] {
    return [...this.handlers.keys()].sort();
  }

  /**
   * `payload` is the request body; `fallbackCorrelationId` is MQTT v5 correlation data,
   * used when the body names none.
   */
  async handle(
    action: string,
    payload: Buffer,
    fallbackCorrelationId: string | null = null,
  ): Promise<CommandResponse> {
    let correlationId = fallbackCorrelationId;
    const fail = (code: string, message: string): CommandResponse => ({
      v: PAYLOAD_VERSION,
      gateway: this.gateway,
      action,
      correlationId,
      ok: false,
      error: { code, message },
    });
    let args: CommandArgs = {};
    const text = payload.toString('utf8').trim();
    if (text.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        return fail('MQTT_BAD_REQUEST', `request body is not JSON: ${errorMessage(err)}`);
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        return fail(
          'MQTT_BAD_REQUEST',
          'request body must be a JSON object ({"correlationId": "...", ...arguments})',
        );
      }
      const { correlationId: cid, ...rest } = parsed as Record<string, unknown>;
      if (cid !== undefined) {
        if (typeof cid !== 'string' || cid.length === 0 || cid.length > MAX_CORRELATION_ID) {
          return fail(
            'MQTT_BAD_REQUEST',
            `correlationId must be a string of 1..${MAX_CORRELATION_ID} characters`,
          );
        }
        correlationId = cid;
      }
      args = rest;
    }
    const handler = this.handlers.get(action);
    if (!handler) {
      return fail(
        'MQTT_UNKNOWN_ACTION',
        `unknown action ${JSON.stringify(action)}; known: ${this.actions().join(', ') || '(none)'}`,
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = this.timeouts.get(action) ?? this.timeoutMs;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new GatewayError(
                'MQTT_COMMAND_TIMEOUT',
                `action ${action} did not answer within ${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
        );
      });
      const result = await Promise.race([
        Promise.resolve().then(() => handler(args, { action, correlationId })),
        timeout,
      ]);
      return {
        v: PAYLOAD_VERSION,
        gateway: this.gateway,
        action,
        correlationId,
        ok: true,
        result: result === undefined ? null : result,
      };
    } catch (err) {
      const code = errorCode(err);
      return fail(code === 'UNKNOWN' ? 'MQTT_COMMAND_FAILED' : code, errorMessage(err));
    } finally {
      clearTimeout(timer);
    }
  }
}
