import { GatewayError } from '../../observability/errors.ts';

/**
 * Every topic the gateway uses, built in one place from the DESIGN.md table so a rename
 * cannot leave one publisher or subscriber behind.
 */
export interface MqttTopics {
  readonly base: string;
  readonly availability: string;
  readonly status: string;
  activity(subject: string): string;
  subjectState(subject: string): string;
  reps(subject: string): string;
  deviceState(device: string): string;
  /** `<base>/<gw>/request/+` */
  readonly requestFilter: string;
  response(action: string): string;
  /** `<base>/<gw>/ingest/+/imu` */
  readonly ingestImuFilter: string;
  /** The action of a request topic, or undefined when the topic is not one. */
  actionOf(topic: string): string | undefined;
  /** The device of an ingest topic, or undefined when the topic is not one. */
  ingestDeviceOf(topic: string): string | undefined;
}

/** One topic level: no wildcard, no separator, not empty. */
export function isTopicLevel(value: string): boolean {
  return value.length > 0 && value.length <= 128 && !value.includes('\u0000') && !/[/#+]/.test(value);
}

function level(kind: string, value: string): string {
  if (!isTopicLevel(value)) {
    throw new GatewayError(
      'MQTT_BAD_TOPIC_LEVEL',
      `${kind} ${JSON.stringify(value)} cannot be an MQTT topic level (empty, or contains / # + or NUL)`,
    );
  }
  return value;
}

export function mqttTopics(baseTopic: string, gatewayId: string): MqttTopics {
  if (
    baseTopic.length === 0 ||
    /[#+]/.test(baseTopic) ||
    baseTopic.includes('\u0000') ||
    baseTopic.startsWith('/') ||
    baseTopic.endsWith('/')
  ) {
    throw new GatewayError(
      'MQTT_BAD_TOPIC_LEVEL',
      `mqtt.baseTopic ${JSON.stringify(baseTopic)}: expected no wildcards and no leading or trailing /`,
    );
  }
  const base = `${baseTopic}/${level('gateway id', gatewayId)}`;
  const requestPrefix = `${base}/request/`;
  const ingestPrefix = `${base}/ingest/`;
  return {
    base,
    availability: `${base}/availability`,
    status: `${base}/status`,
    activity: (subject) => `${base}/subjects/${level('subject', subject)}/activity`,
    subjectState: (subject) => `${base}/subjects/${level('subject', subject)}/state`,
    reps: (subject) => `${base}/subjects/${level('subject', subject)}/reps`,
    deviceState: (device) => `${base}/devices/${level('device', device)}/state`,
    requestFilter: `${requestPrefix}+`,
    response: (action) => `${base}/response/${level('action', action)}`,
    ingestImuFilter: `${ingestPrefix}+/imu`,
    actionOf(topic) {
      if (!topic.startsWith(requestPrefix)) return undefined;
      const action = topic.slice(requestPrefix.length);
      return isTopicLevel(action) ? action : undefined;
    },
    ingestDeviceOf(topic) {
      if (!topic.startsWith(ingestPrefix) || !topic.endsWith('/imu')) return undefined;
      const device = topic.slice(ingestPrefix.length, -'/imu'.length);
      return isTopicLevel(device) ? device : undefined;
    },
  };
}
