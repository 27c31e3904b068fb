import type { MqttTopics } from './topics.ts';

/**
 * Home Assistant MQTT discovery: what the gateway announces so each subject and device
 * appears in Home Assistant without YAML. Pure: returns the retained (topic, payload) pairs;
 * the sink publishes them through its durable queue.
 *
 * Per subject: an `event` entity fed by the activity topic (one event type per model class —
 * Home Assistant's natural fit for "started squats"), a `sensor` with the current activity
 * (attributes: the whole state payload), a repetitions sensor (the current set's count,
 * from the retained state) and a confidence sensor. Per device: a connectivity
 * `binary_sensor` plus rate, battery and RSSI sensors. Everything shares the gateway's
 * availability topic, so entities go unavailable when the gateway dies (its last will).
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
}

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

function gatewayDevice(ctx: DiscoveryContext) {
  return {
    identifiers: [`mujo_${slug(ctx.gatewayId)}`],
    name: `mujo-gateway ${ctx.gatewayId}`,
    manufacturer: 'mujo-gateway',
    sw_version: ctx.softwareVersion,
  };
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
      object_id: `${node}_${objectId}`,
      ...payload,
    },
  };
}

export function subjectDiscovery(
  ctx: DiscoveryContext,
  subject: string,
  classIds: readonly string[],
): DiscoveryMessage[] {
  const id = slug(subject);
  const device = {
    identifiers: [`mujo_${slug(ctx.gatewayId)}_subject_${id}`],
    name: `${subject} (mujo ${ctx.gatewayId})`,
    manufacturer: 'mujo-gateway',
    model: 'subject',
    via_device: `mujo_${slug(ctx.gatewayId)}`,
  };
  const stateTopic = ctx.topics.subjectState(subject);
  return [
    message(ctx, 'event', `${id}_activity`, {
      name: 'Activity',
      state_topic: ctx.topics.activity(subject),
      event_types: [...classIds],
      // The activity payload names the class in `activity`; HA wants `event_type`.
      value_template:
        "{{ {'event_type': value_json.activity, 'transition': value_json.transition, 'confidence': value_json.confidence} | tojson }}",
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
      value_template: '{{ value_json.reps }}',
      unit_of_measurement: 'reps',
      state_class: 'measurement',
      icon: 'mdi:counter',
      device,
    }),
    message(ctx, 'sensor', `${id}_confidence`, {
      name: 'Activity confidence',
      state_topic: stateTopic,
      value_template: '{{ (value_json.confidence * 100) | round(0) }}',
      unit_of_measurement: '%',
      state_class: 'measurement',
      device,
    }),
  ];
}

export function deviceDiscovery(ctx: DiscoveryContext, deviceId: string): DiscoveryMessage[] {
  const id = slug(deviceId);
  const stateTopic = ctx.topics.deviceState(deviceId);
  const device = {
    identifiers: [`mujo_${slug(ctx.gatewayId)}_device_${id}`],
    name: `${deviceId} (mujo ${ctx.gatewayId})`,
    manufacturer: 'mujo-gateway',
    model: 'sensor',
    via_device: gatewayDevice(ctx).identifiers[0],
  };
  const sensor = (objectId: string, name: string, field: string, extra: Record<string, unknown>) =>
    message(ctx, 'sensor', `${id}_${objectId}`, {
      name,
      state_topic: stateTopic,
      value_template: `{{ value_json.${field} if value_json.${field} is not none else 'unknown' }}`,
      state_class: 'measurement',
      device,
      ...extra,
    });
  return [
    message(ctx, 'binary_sensor', `${id}_connected`, {
      name: 'Connected',
      state_topic: stateTopic,
      value_template: "{{ 'ON' if value_json.connected else 'OFF' }}",
      device_class: 'connectivity',
      json_attributes_topic: stateTopic,
      device,
    }),
    sensor('rate', 'Sample rate', 'rateHz', { unit_of_measurement: 'Hz' }),
    sensor('battery', 'Battery', 'battery', { unit_of_measurement: '%', device_class: 'battery' }),
    sensor('rssi', 'Signal', 'rssi', { unit_of_measurement: 'dBm', device_class: 'signal_strength' }),
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
      device: gatewayDevice(ctx),
    }),
  ];
}
