import { hostname } from 'node:os';
import type { MqttTopics } from './topics.ts';

/**
 * Home Assistant MQTT discovery: what the gateway announces so each subject and device
 * appears in Home Assistant without YAML. Pure: returns the retained (topic, payload) pairs;
 * the sink publishes them through its durable queue.
 *
 * Per subject: an `event` entity fed by the activity topic, whose event type is the
 * transition (`started`, `changed`, `ended`) with the activity in its attributes, so an
 * automation can tell "squats started" from "squats ended"; a `sensor` with the current
 * activity (attributes: the whole state payload), a repetitions sensor (the current set's
 * count, from the retained state) and a confidence sensor. Per device: a connectivity
 * `binary_sensor` and a rate sensor, plus battery and RSSI for wearables (a camera has
 * neither), all `entity_category: diagnostic`. Everything shares the gateway's availability
 * topic, so entities go unavailable when the gateway dies (its last will).
 *
 * By the current discovery schema: `default_entity_id` (`<domain>.<object id>`) instead of
 * `object_id` (deprecated in Home Assistant 2025.10); a numeric sensor whose value is not
 * known renders `None`, which Home Assistant shows as unknown (a string such as `unknown`
 * would be refused as a non-numeric state).
 */
export interface DiscoveryMessage {
  readonly topic: string;
  readonly payload: Record<string, unknown>;
}

export interface DiscoveryContext {
  readonly prefix: string;
  readonly gatewayId: string;
  readonly topics: MqttTopics;
  readonly softwareVersion: string;
  /** The gateway's live page, linked from each device in Home Assistant; absent without HTTP. */
  readonly configurationUrl?: string | null;
}

/** Event types of the subject activity entity: one per transition of the activity payload. */
export const ACTIVITY_EVENT_TYPES = ['started', 'changed', 'ended'] as const;

/** Home Assistant object ids: lowercase letters, digits and underscores. */
function slug(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9_]+/g, '_');
}

function availability(ctx: DiscoveryContext) {
  return {
    availability_topic: ctx.topics.availability,
    payload_available: 'online',
    payload_not_available: 'offline',
  };
}

/**
 * The page to open from Home Assistant's device view. A wildcard listen address is not a
 * place a browser can go, so it becomes this machine's host name.
 */
export function reachableUrl(url: string | null | undefined): string | undefined {
  if (!url) return undefined;
  const parsed = new URL(url);
  if (parsed.hostname === '0.0.0.0' || parsed.hostname === '[::]') parsed.hostname = hostname();
  return parsed.toString();
}

function configurationUrl(ctx: DiscoveryContext): { configuration_url?: string } {
  const url = reachableUrl(ctx.configurationUrl);
  return url ? { configuration_url: url } : {};
}

function gatewayDevice(ctx: DiscoveryContext) {
  return {
    identifiers: [`mujo_${slug(ctx.gatewayId)}`],
    name: `mujo-gateway ${ctx.gatewayId}`,
    manufacturer: 'mujo-gateway',
    sw_version: ctx.softwareVersion,
    ...configurationUrl(ctx),
  };
}

/** A numeric field, or `None` (Home Assistant's "unknown") when it is null or absent. */
function numberOrNone(field: string): string {
  return `{{ value_json.${field} if value_json.${field} is number else None }}`;
}

function message(
  ctx: DiscoveryContext,
  component: string,
  objectId: string,
  payload: Record<string, unknown>,
): DiscoveryMessage {
  const node = `mujo_${slug(ctx.gatewayId)}`;
  return {
    topic: `${ctx.prefix}/${component}/${node}/${objectId}/config`,
    payload: {
      ...availability(ctx),
      unique_id: `${node}_${objectId}`,
      default_entity_id: `${component}.${node}_${objectId}`,
      ...payload,
    },
  };
}

export function subjectDiscovery(ctx: DiscoveryContext, subject: string): DiscoveryMessage[] {
  const id = slug(subject);
  const device = {
    identifiers: [`mujo_${slug(ctx.gatewayId)}_subject_${id}`],
    name: `${subject} (mujo ${ctx.gatewayId})`,
    manufacturer: 'mujo-gateway',
    model: 'subject',
    via_device: `mujo_${slug(ctx.gatewayId)}`,
    ...configurationUrl(ctx),
  };
  const stateTopic = ctx.topics.subjectState(subject);
  return [
    message(ctx, 'event', `${id}_activity`, {
      name: 'Activity',
      state_topic: ctx.topics.activity(subject),
      event_types: [...ACTIVITY_EVENT_TYPES],
      // HA wants `event_type`; the other keys become the event's attributes. An ended
      // activity's final probability says nothing, so `ended` carries no confidence.
      value_template:
        "{{ {'event_type': value_json.transition, 'activity': value_json.activity, 'activity_name': value_json.activityName, 'previous': value_json.get('previous'), 'confidence': (value_json.confidence if value_json.transition != 'ended' else None)} | tojson }}",
      device,
    }),
    message(ctx, 'sensor', `${id}_current_activity`, {
      name: 'Current activity',
      state_topic: stateTopic,
      value_template: "{{ value_json.activityName if value_json.activityName else 'idle' }}",
      json_attributes_topic: stateTopic,
      icon: 'mdi:run',
      device,
    }),
    message(ctx, 'sensor', `${id}_reps`, {
      name: 'Repetitions',
      state_topic: stateTopic,
      value_template: numberOrNone('reps'),
      unit_of_measurement: 'reps',
      state_class: 'measurement',
      icon: 'mdi:counter',
      device,
    }),
    message(ctx, 'sensor', `${id}_confidence`, {
      name: 'Activity confidence',
      state_topic: stateTopic,
      value_template:
        '{{ (value_json.confidence * 100) | round(0) if value_json.confidence is number else None }}',
      unit_of_measurement: '%',
      state_class: 'measurement',
      device,
    }),
  ];
}

export function deviceDiscovery(
  ctx: DiscoveryContext,
  deviceId: string,
  kind: 'imu' | 'camera',
): DiscoveryMessage[] {
  const id = slug(deviceId);
  const stateTopic = ctx.topics.deviceState(deviceId);
  const device = {
    identifiers: [`mujo_${slug(ctx.gatewayId)}_device_${id}`],
    name: `${deviceId} (mujo ${ctx.gatewayId})`,
    manufacturer: 'mujo-gateway',
    model: kind === 'camera' ? 'camera' : 'IMU',
    via_device: gatewayDevice(ctx).identifiers[0],
    ...configurationUrl(ctx),
  };
  const sensor = (objectId: string, name: string, field: string, extra: Record<string, unknown>) =>
    message(ctx, 'sensor', `${id}_${objectId}`, {
      name,
      state_topic: stateTopic,
      value_template: numberOrNone(field),
      state_class: 'measurement',
      entity_category: 'diagnostic',
      device,
      ...extra,
    });
  return [
    message(ctx, 'binary_sensor', `${id}_connected`, {
      name: 'Connected',
      state_topic: stateTopic,
      value_template: "{{ 'ON' if value_json.connected else 'OFF' }}",
      device_class: 'connectivity',
      entity_category: 'diagnostic',
      json_attributes_topic: stateTopic,
      device,
    }),
    sensor('rate', kind === 'camera' ? 'Frame rate' : 'Sample rate', 'rateHz', { unit_of_measurement: 'Hz' }),
    // A camera has no battery and no radio link: no entity that would stay unknown forever.
    ...(kind === 'camera'
      ? []
      : [
          sensor('battery', 'Battery', 'battery', { unit_of_measurement: '%', device_class: 'battery' }),
          sensor('rssi', 'Signal', 'rssi', { unit_of_measurement: 'dBm', device_class: 'signal_strength' }),
        ]),
  ];
}

/** The gateway itself: a connectivity sensor on availability, so HA shows the gateway device. */
export function gatewayDiscovery(ctx: DiscoveryContext): DiscoveryMessage[] {
  return [
    message(ctx, 'binary_sensor', 'online', {
      name: 'Online',
      state_topic: ctx.topics.availability,
      payload_on: 'online',
      payload_off: 'offline',
      device_class: 'connectivity',
      entity_category: 'diagnostic',
      device: gatewayDevice(ctx),
    }),
  ];
}
