import { pino, type Logger, type LoggerOptions } from 'pino';
import { scrubSecrets } from './redact.ts';

export type { Logger };

/**
 * One structured logger for the process; components take a child with their name
 * (`logger.child({ component: 'mqtt' })`). Errors are logged with their `code`.
 */
export function createLogger(
  options: {
    level?: string;
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
  return pino(opts);
}

/** A logger that discards everything, for tests that do not assert on logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
