import { Type, type Static } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import type { DeviceState } from '../domain/events.ts';
import type { Placement } from '../domain/samples.ts';
import { describeAjvErrors } from '../validation/messages.ts';
import { GatewayError, errorCode, errorMessage } from '../observability/errors.ts';
import type { Logger } from '../observability/logger.ts';
import { MAX_SCAN_S, type BleSource, type NearbyReport, type ScanStatus } from '../sources/ble/ble-source.ts';
import { PLACEMENTS } from '../domain/placement.ts';
import { BleDeviceSchema, deviceIdFor, type BleDeviceConfig } from '../sources/ble/options.ts';
import type { ConfigFileDevices } from './config-file.ts';

/*
 * Runtime device management — add, remove, (re)assign a BLE wearable — shared by the HTTP
 * API and the MQTT requests. A change is applied to the running BLE source and then saved
 * into the config file's `ble.devices`; when saving fails the runtime change is undone, so
 * what runs and what the next start will run never disagree. Without a config file the
 * change is applied and the answer says it lasts only until restart.
 */

export const AssignmentSchema = Type.Object(
  {
    subject: Type.Optional(
      Type.Union([Type.String({ pattern: '^[A-Za-z0-9_-]+$', minLength: 1, maxLength: 64 }), Type.Null()], {
        description: 'Subject id, or null to unassign.',
      }),
    ),
    placement: Type.Optional(Type.Unsafe<Placement>({ type: 'string', enum: [...PLACEMENTS] })),
  },
  { additionalProperties: false },
);
export type AssignmentRequest = Static<typeof AssignmentSchema>;

/** `POST /api/ble/scan` body and the MQTT `scan_devices` request. */
export const ScanRequestSchema = Type.Object(
  {
    seconds: Type.Integer({
      minimum: 1,
      maximum: MAX_SCAN_S,
      default: 30,
      description: 'How long to listen for new wearables, s.',
    }),
  },
  { additionalProperties: false },
);

export type DeviceChangeAction = 'add' | 'remove' | 'assign';

/** The answer to every change, over HTTP and MQTT alike. */
export interface DeviceChangeResult {
  readonly action: DeviceChangeAction;
  readonly device: string;
  /** The device's config entry after the change (null after remove). */
  readonly config: BleDeviceConfig | null;
  /** True when the change was written to `file`. */
  readonly persisted: boolean;
  /** The config file written, or null when the gateway runs without one. */
  readonly file: string | null;
  /** Set when the change is not persisted: why, and what that means. */
  readonly note?: string;
}

/** What the service needs of the BLE source. */
export type ManagedBleSource = Pick<
  BleSource,
  'addDevice' | 'removeDevice' | 'assign' | 'deviceConfigs' | 'devices' | 'scan' | 'nearby'
>;

export interface DeviceServiceOptions {
  /** null when BLE is disabled: every change is refused with BLE_DISABLED. */
  readonly ble: ManagedBleSource | null;
  /** null when the gateway was started without a config file. */
  readonly store: ConfigFileDevices | null;
  readonly logger: Logger;
  /** Called after every successful change (the app publishes state, creates subjects). */
  readonly onChange?: (change: DeviceChangeResult, state: DeviceState | undefined) => void;
}

const NO_FILE_NOTE =
  'not saved: the gateway was started without a config file (--config / MUJO_CONFIG), so this change lasts until it restarts';

interface Validators {
  readonly device: ValidateFunction;
  readonly assignment: ValidateFunction;
  readonly scan: ValidateFunction;
}
let validators: Validators | undefined;

function compiled(): Validators {
  if (!validators) {
    const ajv = new Ajv({ allErrors: true, verbose: true, useDefaults: true, strict: true });
    validators = {
      device: ajv.compile(BleDeviceSchema),
      assignment: ajv.compile(AssignmentSchema),
      scan: ajv.compile(ScanRequestSchema),
    };
  }
  return validators;
}

function invalid(what: string, validate: ValidateFunction): GatewayError {
  const problems = describeAjvErrors(validate.errors ?? []).map((p) => `${p.key}: ${p.message}`);
  return new GatewayError('DEVICE_INVALID', `${what}: ${problems.join('; ')}`, { details: { problems } });
}

export class DeviceService {
  constructor(private readonly options: DeviceServiceOptions) {}

  get enabled(): boolean {
    return this.options.ble !== null;
  }

  /** The config file changes are saved to, if any. */
  get file(): string | null {
    return this.options.store?.file ?? null;
  }

  /** `entry` is untrusted input (HTTP body, MQTT request); it is validated against the config schema. */
  async add(entry: unknown): Promise<DeviceChangeResult> {
    const ble = this.ble();
    const { device: validate } = compiled();
    const candidate = entry !== null && typeof entry === 'object' ? structuredClone(entry) : entry;
    if (!validate(candidate)) throw invalid('device entry is invalid', validate);
    const config = candidate as BleDeviceConfig;
    const id = ble.addDevice(config);
    const stored = ble.deviceConfigs().find((c) => c.id === id) ?? { ...config, id };
    try {
      await this.options.store?.add(stored);
    } catch (err) {
      await ble.removeDevice(id);
      throw this.notSaved('add', id, err);
    }
    return this.done('add', id, stored);
  }

  async remove(id: string): Promise<DeviceChangeResult> {
    const ble = this.ble();
    const before = this.configOf(ble, id);
    // Save first: a removal that cannot be saved is refused without touching the running device.
    try {
      await this.options.store?.remove(id);
    } catch (err) {
      throw this.notSaved('remove', id, err);
    }
    await ble.removeDevice(id);
    return this.done('remove', id, null, before);
  }

  async assign(id: string, request: unknown): Promise<DeviceChangeResult> {
    const ble = this.ble();
    const before = this.configOf(ble, id);
    const { assignment: validate } = compiled();
    if (!validate(request)) throw invalid(`assignment of '${id}' is invalid`, validate);
    const a = request as AssignmentRequest;
    if (a.subject === undefined && a.placement === undefined) {
      throw new GatewayError('DEVICE_INVALID', `assignment of '${id}' names neither subject nor placement`);
    }
    ble.assign(id, a);
    try {
      await this.options.store?.assign(id, a);
    } catch (err) {
      ble.assign(id, { subject: before.subject ?? null, placement: before.placement as Placement });
      throw this.notSaved('assign', id, err);
    }
    return this.done('assign', id, this.configOf(ble, id));
  }

  /**
   * Listens for new wearables (body `{ seconds? }`, default 30): they appear in `nearby()`
   * with the family detected, ready to `add`. Changes nothing that is saved.
   */
  scan(request: unknown): ScanStatus {
    const ble = this.ble();
    const { scan: validate } = compiled();
    const candidate = request === undefined || request === null ? {} : structuredClone(request);
    if (!validate(candidate)) throw invalid('scan request is invalid', validate);
    return ble.scan((candidate as { seconds: number }).seconds);
  }

  /** The scan list: devices heard lately, the family detected, and which are already added. */
  nearby(): NearbyReport {
    return this.ble().nearby();
  }

  private ble(): ManagedBleSource {
    if (!this.options.ble) {
      throw new GatewayError(
        'BLE_DISABLED',
        'BLE is disabled (ble.enabled: false); devices cannot be changed',
      );
    }
    return this.options.ble;
  }

  private configOf(ble: ManagedBleSource, id: string): BleDeviceConfig {
    const found = ble.deviceConfigs().find((c, i) => deviceIdFor(c, i) === id);
    if (!found) {
      const known = ble.deviceConfigs().map((c, i) => deviceIdFor(c, i));
      throw new GatewayError(
        'BLE_UNKNOWN_DEVICE',
        `no BLE device '${id}' (known: ${known.join(', ') || 'none'})`,
        {
          details: { device: id },
        },
      );
    }
    return found;
  }

  private notSaved(action: DeviceChangeAction, id: string, err: unknown): GatewayError {
    const message = `${action} of device '${id}' was undone: ${errorMessage(err)}`;
    this.options.logger.error({ code: errorCode(err), device: id, action }, message);
    return new GatewayError(errorCode(err) === 'UNKNOWN' ? 'CONFIG_WRITE_FAILED' : errorCode(err), message, {
      cause: err,
    });
  }

  private done(
    action: DeviceChangeAction,
    id: string,
    config: BleDeviceConfig | null,
    before?: BleDeviceConfig,
  ): DeviceChangeResult {
    const file = this.file;
    const result: DeviceChangeResult = {
      action,
      device: id,
      config,
      persisted: file !== null,
      file,
      ...(file === null ? { note: NO_FILE_NOTE } : {}),
    };
    const log = { device: id, action, file, subject: (config ?? before)?.subject ?? null };
    if (file === null)
      this.options.logger.warn({ ...log, code: 'DEVICE_NOT_PERSISTED' }, `device ${action}: ${NO_FILE_NOTE}`);
    else this.options.logger.info(log, `device ${action} saved to ${file}`);
    const state = this.options.ble?.devices().find((d) => d.device === id);
    this.options.onChange?.(result, state);
    return result;
  }
}
