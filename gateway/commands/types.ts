import type { MqttSink } from '../sinks/mqtt/index.ts';

/** Where commands are registered (the MQTT sink's request/<action> router). */
export type CommandRegistry = Pick<MqttSink, 'registerCommand'>;
