export { registerDeviceCommands } from './device-commands.ts';
export { registerEnrollmentCommands } from './enrollment-commands.ts';
export { registerGatewayCommands, registerRecordingCommands } from './gateway-commands.ts';
export type { CommandRegistry } from './types.ts';
