import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** A pino logger whose JSON lines are kept, so tests can look for error codes. */
export function captureLogger(): {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
  codes: () => string[];
} {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return {
    logger: pino({ level: 'debug' }, stream),
    lines,
    codes: () => lines.map((l) => l['code']).filter((c): c is string => typeof c === 'string'),
  };
}

/** Waits until `predicate` holds (polling), or throws after `timeoutMs` naming `what`. */
export async function until(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 15000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
