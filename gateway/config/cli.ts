import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { SOFTWARE_VERSION } from '../version.ts';
import { loadConfig } from './load.ts';
import { configToYaml } from './redact.ts';
import { ConfigError } from './errors.ts';
import type { ConfigOverride } from './overrides.ts';
import type { GatewayConfig } from './schema.ts';

export interface CliOptions {
  readonly config?: string;
  readonly validateConfig: boolean;
  readonly printConfig: boolean;
  readonly speed?: number;
  readonly port?: number;
  readonly mqttPort?: number;
}

/** Exit code for a configuration (or command line) the gateway cannot start with. */
export const EXIT_CONFIG = 2;

function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('expected a number > 0');
  return n;
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('expected an integer 0..65535');
  return n;
}

function buildCommand(output: { writeOut: (s: string) => void; writeErr: (s: string) => void }): Command {
  return new Command('mujo-gateway')
    .description(
      'Streaming edge gateway: IMU + camera pose → activity events on MQTT and a live page.\n' +
        'Configuration: a YAML file (see config/gateway.example.yaml), then MUJO__<SECTION>__<KEY>=value ' +
        'environment overrides (e.g. MUJO__MQTT__URL=mqtt://broker:1883), then the flags below.',
    )
    .option(
      '-c, --config <file>',
      'YAML configuration file (default: $MUJO_CONFIG, else built-in defaults: the demo)',
    )
    .option('--validate-config', 'check the configuration, print OK or every problem, exit 0 or 2', false)
    .option('--print-config', 'print the effective configuration as YAML (secrets redacted) and exit', false)
    .option('--speed <factor>', 'replay speed (sets replay.speed; 10 = ten times real time)', positiveNumber)
    .option('--port <port>', 'HTTP port (sets http.port)', port)
    .option(
      '--mqtt-port <port>',
      'port of the embedded MQTT broker (sets mqtt.embeddedPort; with mqtt.url set, the URL names the port)',
      port,
    )
    .version(SOFTWARE_VERSION, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput(output);
}

/**
 * Parses command-line arguments (without node and the script: `process.argv.slice(2)`).
 * Throws commander's CommanderError on bad flags or --help (runConfigCommands handles both).
 */
export function parseCli(
  args: readonly string[],
  output: { writeOut: (s: string) => void; writeErr: (s: string) => void } = {
    writeOut: (s) => process.stdout.write(s),
    writeErr: (s) => process.stderr.write(s),
  },
): CliOptions {
  const command = buildCommand(output);
  command.parse([...args], { from: 'user' });
  const o = command.opts<{
    config?: string;
    validateConfig: boolean;
    printConfig: boolean;
    speed?: number;
    port?: number;
    mqttPort?: number;
  }>();
  return {
    ...(o.config !== undefined ? { config: o.config } : {}),
    validateConfig: o.validateConfig,
    printConfig: o.printConfig,
    ...(o.speed !== undefined ? { speed: o.speed } : {}),
    ...(o.port !== undefined ? { port: o.port } : {}),
    ...(o.mqttPort !== undefined ? { mqttPort: o.mqttPort } : {}),
  };
}

export function cliOverrides(options: CliOptions): ConfigOverride[] {
  const overrides: ConfigOverride[] = [];
  if (options.speed !== undefined)
    overrides.push({ path: ['replay', 'speed'], value: options.speed, source: '--speed' });
  if (options.port !== undefined)
    overrides.push({ path: ['http', 'port'], value: options.port, source: '--port' });
  if (options.mqttPort !== undefined)
    overrides.push({ path: ['mqtt', 'embeddedPort'], value: options.mqttPort, source: '--mqtt-port' });
  return overrides;
}

export type ConfigCommandResult =
  /** Start the gateway with this configuration. */
  | { readonly config: GatewayConfig; readonly file: string | undefined; readonly exitCode?: undefined }
  /** Exit now with this code (help, --validate-config, --print-config, or an error already printed). */
  | { readonly exitCode: number; readonly config?: undefined };

export interface ConfigCommandIo {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
}

/**
 * Everything main needs before starting: parse flags, load and validate the configuration,
 * and serve --help / --validate-config / --print-config. Errors are printed to stderr and
 * turned into exit code 2; anything that is not a ConfigError or a flag error is rethrown.
 *
 *   const r = await runConfigCommands(process.argv.slice(2));
 *   if (r.exitCode !== undefined) process.exit(r.exitCode);
 *   start(r.config);
 */
export async function runConfigCommands(
  args: readonly string[],
  io: ConfigCommandIo = {},
): Promise<ConfigCommandResult> {
  const stdout = io.stdout ?? ((s: string) => void process.stdout.write(s));
  const stderr = io.stderr ?? ((s: string) => void process.stderr.write(s));
  let options: CliOptions;
  try {
    options = parseCli(args, { writeOut: stdout, writeErr: stderr });
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are successful exits; any other flag problem is a usage error.
      const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version';
      return { exitCode: ok ? 0 : EXIT_CONFIG };
    }
    throw err;
  }

  try {
    const { config, file } = await loadConfig({
      file: options.config,
      ...(io.env ? { env: io.env } : {}),
      overrides: cliOverrides(options),
    });
    if (options.printConfig) {
      stdout(configToYaml(config));
      return { exitCode: 0 };
    }
    if (options.validateConfig) {
      stdout(`OK: ${file ?? 'built-in defaults'}${file ? '' : ' (no --config)'} is a valid configuration\n`);
      return { exitCode: 0 };
    }
    return { config, file };
  } catch (err) {
    if (err instanceof ConfigError) {
      stderr(`${err.code}: ${err.message}\n`);
      return { exitCode: EXIT_CONFIG };
    }
    throw err;
  }
}
