import { pino, type Logger, type LoggerOptions } from 'pino';
import { PinoPretty } from 'pino-pretty';
import { scrubSecrets } from './redact.ts';

export type { Logger };

/**
 * One structured logger for the process; components take a child with their name
 * (`logger.child({ component: 'mqtt' })`). Errors are logged with their `code`.
 */
export function createLogger(
  options: {
    level?: string;
    /**
     * Human-readable lines (time, level name, message, fields) instead of JSON. Default: when
     * stdout is a terminal; JSON for journald, Docker and log shippers. MUJO_LOG_FORMAT=json|pretty overrides.
     */
    pretty?: boolean;
    /** Values never to print (secretValues(config)): replaced in every line, whatever put them there. */
    secrets?: readonly string[];
  } = {},
): Logger {
  const secrets = options.secrets ?? [];
  const opts: LoggerOptions = {
    level: options.level ?? process.env['LOG_LEVEL'] ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(secrets.length > 0 ? { hooks: { streamWrite: (s: string) => scrubSecrets(s, secrets) } } : {}),
  };
  const pretty = options.pretty ?? prettyByDefault();
  if (!pretty) return pino(opts);
  // Synchronous, in this thread: a transport worker would lose the last lines on process.exit.
  return pino(
    opts,
    PinoPretty({
      colorize: process.stdout.isTTY === true,
      sync: true,
      singleLine: true,
      ignore: 'pid,hostname',
      translateTime: 'SYS:HH:MM:ss.l',
    }),
  );
}

function prettyByDefault(): boolean {
  const format = process.env['MUJO_LOG_FORMAT'];
  if (format === 'json') return false;
  if (format === 'pretty') return true;
  return process.stdout.isTTY === true;
}

/** A logger that discards everything, for tests that do not assert on logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
