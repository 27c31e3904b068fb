import { GatewayError } from '../observability/errors.ts';

export type ConfigErrorCode = 'CONFIG_INVALID' | 'CONFIG_PARSE' | 'CONFIG_NOT_FOUND';

/**
 * A configuration the gateway cannot start with. The message lists every problem, one per
 * line, each naming where it came from (file:line, or the environment variable / CLI flag),
 * the key, the bad value and what was expected. main exits with code 2 on it.
 */
export class ConfigError extends GatewayError {
  readonly problems: readonly string[];

  constructor(
    code: ConfigErrorCode,
    summary: string,
    problems: readonly string[],
    options: { cause?: unknown } = {},
  ) {
    const message =
      problems.length === 0 ? summary : `${summary}\n${problems.map((p) => `  - ${p}`).join('\n')}`;
    super(code, message, { ...options, details: { problems } });
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
