export { GatewayConfigSchema, publishedSchema, LOG_LEVELS } from './schema.ts';
export type {
  GatewayConfig,
  SubjectConfig,
  MqttConfig,
  HttpConfig,
  PipelineConfig,
  ModelConfig,
  ReplayConfig,
} from './schema.ts';
export { ConfigError, type ConfigErrorCode } from './errors.ts';
export {
  loadConfig,
  parseConfigText,
  CONFIG_FILE_ENV,
  type LoadConfigOptions,
  type LoadedConfig,
} from './load.ts';
export { validateConfig, defaultConfig } from './validate.ts';
export { ENV_PREFIX, envOverrides, applyOverrides, type ConfigOverride } from './overrides.ts';
export { redactConfig, configToYaml, REDACTED } from './redact.ts';
export {
  parseCli,
  runConfigCommands,
  cliOverrides,
  EXIT_CONFIG,
  type CliOptions,
  type ConfigCommandResult,
  type ConfigCommandIo,
} from './cli.ts';
