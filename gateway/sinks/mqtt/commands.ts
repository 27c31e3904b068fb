import { timingSafeEqual } from 'node:crypto';
import { realTimers, type TimerHandle, type Timers } from '../../clock/timers.ts';
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

/**
 * Who may run what. Actions registered `readOnly` (status…) answer anyone who can publish to
 * request/#. Every other action changes something and needs `"token": "<token>"` in the
 * request body, equal to `token`; with no token configured they are refused
 * (MQTT_COMMANDS_DISABLED) unless `open` (library default, for embedding in tests).
 * Each action also has a token bucket: `ratePerMinute` requests a minute, bursts up to that.
 */
export interface CommandPolicy {
  readonly token: string | undefined;
  /** No authorisation at all (only when nothing else can reach the broker). */
  readonly open: boolean;
  readonly ratePerMinute: number;
}

export interface CommandOptions {
  /** Changes nothing: no token needed. */
  readonly readOnly?: boolean;
  /** Overrides the command timeout for an action that legitimately takes longer, ms. */
  readonly timeoutMs?: number;
}

const OPEN_POLICY: CommandPolicy = { token: undefined, open: true, ratePerMinute: Number.POSITIVE_INFINITY };

const ACTION_RE = /^[a-z][a-z0-9_]{0,63}$/;
const MAX_CORRELATION_ID = 256;

/**
 * Dispatches requests to the handlers the app registered. Pure: no MQTT here, so every
 * answer (including the coded refusals) is testable without a broker.
 */
export class CommandRouter {
  private readonly handlers = new Map<string, CommandHandler>();
  private readonly timeouts = new Map<string, number>();
  private readonly readOnly = new Set<string>();
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    private readonly gateway: string,
    private readonly timeoutMs: number,
    private readonly policy: CommandPolicy = OPEN_POLICY,
    /** Command timeouts and the rate buckets' time. Default: real timers; tests pass virtual ones. */
    private readonly timers: Timers = realTimers,
  ) {}

  register(action: string, handler: CommandHandler, options: CommandOptions = {}): void {
    if (options.readOnly) this.readOnly.add(action);
    else this.readOnly.delete(action);
    if (!ACTION_RE.test(action)) {
      throw new GatewayError(
        'MQTT_BAD_ACTION',
        `command action ${JSON.stringify(action)}: expected lower-case snake_case (${ACTION_RE.source})`,
      );
    }
    this.handlers.set(action, handler);
    if (options.timeoutMs !== undefined) this.timeouts.set(action, options.timeoutMs);
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
    if (!this.take(action))
      return fail(
        'MQTT_RATE_LIMITED',
        `action ${action}: more than ${this.policy.ratePerMinute} requests a minute; try again later`,
      );
    const { token, ...handlerArgs } = args;
    args = handlerArgs; // the token never reaches a handler (or a log line)
    if (!this.readOnly.has(action) && !this.policy.open) {
      if (this.policy.token === undefined)
        return fail(
          'MQTT_COMMANDS_DISABLED',
          `action ${action} changes the gateway and is disabled: set mqtt.commands.token (or http.token) and send it as "token" in the request`,
        );
      if (typeof token !== 'string' || !sameSecret(token, this.policy.token))
        return fail(
          'MQTT_UNAUTHORIZED',
          `action ${action} changes the gateway: the request needs "token" equal to mqtt.commands.token`,
        );
    }
    let timer: TimerHandle | undefined;
    const timeoutMs = this.timeouts.get(action) ?? this.timeoutMs;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = this.timers.setTimeout(
          () =>
            reject(
              new GatewayError(
                'MQTT_COMMAND_TIMEOUT',
                `action ${action} did not answer within ${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
          true,
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
      if (timer !== undefined) this.timers.clearTimeout(timer);
    }
  }

  /** One request from the action's bucket; false when it is empty. */
  private take(action: string): boolean {
    const rate = this.policy.ratePerMinute;
    if (!Number.isFinite(rate)) return true;
    const now = this.timers.now();
    const b = this.buckets.get(action) ?? { tokens: rate, atMs: now };
    b.tokens = Math.min(rate, b.tokens + ((now - b.atMs) * rate) / 60_000);
    b.atMs = now;
    this.buckets.set(action, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

/** Constant-time comparison, so response timing does not reveal how much of a guess was right. */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
