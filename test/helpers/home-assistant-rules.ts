/**
 * Home Assistant's MQTT discovery rules, as a checker for discovery payloads. Written from
 * Home Assistant's MQTT documentation and its `mqtt` integration: the options each platform
 * accepts, `default_entity_id` = `<domain>.<object id>` (`object_id` is deprecated since
 * 2025.10), entity categories a read-only entity may have, a device with identifiers and a
 * valid configuration URL, event types that the template's `event_type` must be one of, and
 * numeric sensors whose template renders a number or `None` (shown as unknown).
 *
 * Templates are rendered by real Jinja2 (Debian's python3-jinja2) in the sandboxed
 * environment Home Assistant uses, with `value_json` bound to the message's JSON.
 */
import { execFileSync } from 'node:child_process';

const COMMON = [
  'availability_topic',
  'payload_available',
  'payload_not_available',
  'availability_mode',
  'availability_template',
  'unique_id',
  'default_entity_id',
  'name',
  'device',
  'entity_category',
  'icon',
  'json_attributes_topic',
  'json_attributes_template',
  'value_template',
  'state_topic',
  'qos',
  'enabled_by_default',
  'encoding',
  'origin',
];
const PLATFORM_OPTIONS: Record<string, readonly string[]> = {
  sensor: [
    ...COMMON,
    'unit_of_measurement',
    'state_class',
    'device_class',
    'expire_after',
    'force_update',
    'suggested_display_precision',
  ],
  binary_sensor: [
    ...COMMON,
    'payload_on',
    'payload_off',
    'device_class',
    'expire_after',
    'off_delay',
    'force_update',
  ],
  event: [...COMMON, 'event_types', 'device_class'],
};
const DEVICE_OPTIONS = [
  'identifiers',
  'connections',
  'name',
  'manufacturer',
  'model',
  'model_id',
  'sw_version',
  'hw_version',
  'serial_number',
  'suggested_area',
  'via_device',
  'configuration_url',
];
/** Read-only platforms cannot be `config` entities (Home Assistant refuses it). */
const ENTITY_CATEGORIES: Record<string, readonly string[]> = {
  sensor: ['diagnostic'],
  binary_sensor: ['diagnostic'],
  event: ['diagnostic'],
};

export interface Announced {
  readonly topic: string;
  readonly payload: Record<string, unknown>;
}

const TOPIC = /^[^/#+]+\/(sensor|binary_sensor|event)\/([a-zA-Z0-9_-]+)\/([a-zA-Z0-9_-]+)\/config$/;

/** Every rule broken by a set of discovery messages; empty when they all hold. */
export function discoveryProblems(messages: readonly Announced[]): string[] {
  const problems: string[] = [];
  const uniqueIds = new Set<unknown>();
  for (const { topic, payload } of messages) {
    const say = (p: string) => problems.push(`${topic}: ${p}`);
    const match = TOPIC.exec(topic);
    if (!match) {
      say('topic is not <prefix>/<component>/<node_id>/<object_id>/config');
      continue;
    }
    const component = match[1]!;
    for (const key of Object.keys(payload))
      if (!PLATFORM_OPTIONS[component]!.includes(key)) say(`option ${key} is not a ${component} option`);
    if ('object_id' in payload) say('object_id is deprecated; use default_entity_id');
    const entityId = payload['default_entity_id'];
    if (typeof entityId !== 'string' || !new RegExp(`^${component}\\.[a-z0-9_]+$`).test(entityId))
      say(`default_entity_id ${String(entityId)} is not ${component}.<lowercase object id>`);
    if (typeof payload['unique_id'] !== 'string') say('no unique_id');
    else if (uniqueIds.has(payload['unique_id'])) say(`unique_id ${payload['unique_id']} repeated`);
    uniqueIds.add(payload['unique_id']);
    if (typeof payload['state_topic'] !== 'string' || /[#+]/.test(payload['state_topic']))
      say('state_topic missing or a wildcard');
    const category = payload['entity_category'];
    if (category !== undefined && !ENTITY_CATEGORIES[component]!.includes(String(category)))
      say(`entity_category ${String(category)} not allowed for ${component}`);
    const device = payload['device'] as Record<string, unknown> | undefined;
    if (!device) say('no device');
    else {
      for (const key of Object.keys(device))
        if (!DEVICE_OPTIONS.includes(key)) say(`device option ${key} unknown`);
      if (!Array.isArray(device['identifiers']) || device['identifiers'].length === 0)
        say('device without identifiers');
      const url = device['configuration_url'];
      if (url !== undefined && !/^(https?|homeassistant):\/\/[^\s]+$/.test(String(url)))
        say(`configuration_url ${String(url)} is not an http(s) or homeassistant:// URL`);
    }
    if (component === 'event') {
      const types = payload['event_types'];
      if (!Array.isArray(types) || types.length === 0) say('event without event_types');
      else if (new Set(types).size !== types.length) say('event_types repeated');
    }
  }
  return problems;
}

/** Renders each template against each message (JSON text) with Jinja2 as Home Assistant does. */
export function renderTemplates(jobs: readonly { template: string; payload: string }[]): string[] {
  const script = `
import json, sys
from jinja2.sandbox import ImmutableSandboxedEnvironment
env = ImmutableSandboxedEnvironment()
out = []
for job in json.load(sys.stdin):
    try:
        value_json = json.loads(job["payload"])
    except ValueError:
        value_json = None
    try:
        out.append(env.from_string(job["template"]).render(value=job["payload"], value_json=value_json))
    except Exception as err:
        out.append("TEMPLATE_ERROR: %s" % err)
json.dump(out, sys.stdout)
`;
  const stdout = execFileSync('/usr/bin/python3', ['-c', script], {
    input: JSON.stringify(jobs),
    encoding: 'utf8',
  });
  return JSON.parse(stdout) as string[];
}

/** A numeric sensor's rendered state: a number, or `None` for unknown. */
export function isNumericState(rendered: string): boolean {
  return rendered === 'None' || (rendered.trim() !== '' && Number.isFinite(Number(rendered)));
}

/** Sensors Home Assistant treats as numeric (a unit or a state class). */
export function isNumericSensor(topic: string, payload: Record<string, unknown>): boolean {
  return (
    /\/sensor\//.test(topic) &&
    (payload['unit_of_measurement'] !== undefined || payload['state_class'] !== undefined)
  );
}
