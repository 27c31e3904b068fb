import type { ModelInfo } from '../http/types.ts';
import type { RecordingControl } from '../sinks/recorder/control.ts';
import type { CommandRegistry } from './types.ts';

/** status and reload_model. */
export function registerGatewayCommands(
  commands: CommandRegistry,
  gateway: { status(): Record<string, unknown>; reload(): Promise<ModelInfo> },
): void {
  commands.registerCommand('status', () => gateway.status(), { readOnly: true });
  commands.registerCommand('reload_model', () => gateway.reload());
}

/** start_recording, stop_recording, label, recording_status (present when the recorder is enabled). */
export function registerRecordingCommands(commands: CommandRegistry, control: RecordingControl): void {
  commands.registerCommand('start_recording', (args) => control.start(args));
  commands.registerCommand('stop_recording', () => control.stop());
  commands.registerCommand('label', (args) => control.label(args));
  commands.registerCommand('recording_status', () => control.status(), { readOnly: true });
}
