export {
  MqttSink,
  topicMatches,
  type MqttSinkOptions,
  type MqttQueueOptions,
  type MessageHandler,
} from './sink.ts';
export { mqttTopics, type MqttTopics } from './topics.ts';
export type { CommandHandler, CommandArgs, CommandContext, CommandResponse } from './commands.ts';
export type { GatewayStatus, GatewayStatusInfo, RepsEvent } from './payloads.ts';
export type { MqttTlsOptions } from './client-options.ts';
export { mqttSinkOptionsFromConfig } from './from-config.ts';
