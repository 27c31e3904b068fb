/*
 * The registry of device drivers: an explicit list (a test checks every file in this folder
 * is listed), so adding a family is one file plus one line here.
 */
import { GatewayError } from '../../../observability/errors.ts';
import type { Advertisement, DeviceDriver } from '../driver.ts';
import { batteryDriver } from './battery.ts';
import { createGenericDriver } from './generic-gatt.ts';
import { metawearDriver } from './metawear.ts';
import { movesenseDriver } from './movesense.ts';
import { polarPmdDriver } from './polar-pmd.ts';
import { thingy52Driver } from './thingy52.ts';
import { witmotionDriver } from './witmotion.ts';

/** Built-in IMU families, in auto-detection order (most specific advertisement first). */
export const BUILTIN_DRIVERS: readonly DeviceDriver[] = [
  polarPmdDriver,
  movesenseDriver,
  metawearDriver,
  thingy52Driver,
  witmotionDriver,
];

/** Drivers that run beside any IMU driver whose device exposes their service. */
export const COMPANION_DRIVERS: readonly DeviceDriver[] = [batteryDriver];

export {
  batteryDriver,
  createGenericDriver,
  metawearDriver,
  movesenseDriver,
  polarPmdDriver,
  thingy52Driver,
  witmotionDriver,
};
export { GenericGattDeviceSchema, type GenericGattDeviceConfig } from './generic-gatt.ts';

/**
 * The drivers a gateway runs with: the built-ins plus one per generic device in config.
 * Throws GatewayError BLE_GENERIC_CONFIG_INVALID (naming the key) for a bad generic entry,
 * and BLE_DRIVER_DUPLICATE when two share a family id.
 */
export function buildDriverRegistry(genericDevices: readonly unknown[] = []): DriverRegistry {
  return new DriverRegistry([...BUILTIN_DRIVERS, ...genericDevices.map((g) => createGenericDriver(g))]);
}

export class DriverRegistry {
  private readonly byFamily = new Map<string, DeviceDriver>();

  constructor(readonly drivers: readonly DeviceDriver[]) {
    for (const d of drivers) {
      if (this.byFamily.has(d.family)) {
        throw new GatewayError(
          'BLE_DRIVER_DUPLICATE',
          `two BLE drivers share the family id "${d.family}"; generic device names must differ from each other`,
          {
            details: { family: d.family },
          },
        );
      }
      this.byFamily.set(d.family, d);
    }
  }

  get(family: string): DeviceDriver | undefined {
    return this.byFamily.get(family);
  }

  /** First driver whose descriptor recognises the advertisement (auto-detection). */
  detect(advert: Advertisement): DeviceDriver | undefined {
    return this.drivers.find((d) => d.matches(advert));
  }

  /** Companions (Battery Service) whose service is among the device's discovered services. */
  companionsFor(discoveredServices: readonly string[]): DeviceDriver[] {
    return COMPANION_DRIVERS.filter((c) => c.services.every((s) => discoveredServices.includes(s)));
  }

  families(): string[] {
    return [...this.byFamily.keys()];
  }
}
