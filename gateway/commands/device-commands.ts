import type { DeviceService } from '../devices/device-service.ts';
import { GatewayError } from '../observability/errors.ts';
import type { CommandRegistry } from './types.ts';

/**
 * add_device, remove_device, assign_device (BLE wearables at runtime), scan_devices (listen for
 * new ones) and nearby_devices (the scan list). HTTP calls the same DeviceService methods.
 */
export function registerDeviceCommands(commands: CommandRegistry, devices: DeviceService): void {
  const id = (args: Record<string, unknown>): string => {
    if (typeof args['device'] !== 'string' || args['device'] === '') {
      throw new GatewayError('DEVICE_INVALID', 'the request needs "device": "<device id>"');
    }
    return args['device'];
  };
  commands.registerCommand('add_device', (args) => devices.add(args['config'] ?? args));
  commands.registerCommand('remove_device', (args) => devices.remove(id(args)));
  commands.registerCommand('assign_device', (args) => {
    const { device: _device, ...assignment } = args;
    return devices.assign(id(args), assignment);
  });
  commands.registerCommand('scan_devices', (args) => devices.scan(args));
  commands.registerCommand('nearby_devices', () => devices.nearby(), { readOnly: true });
}
