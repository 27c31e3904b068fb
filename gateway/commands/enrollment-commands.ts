import type { EnrollmentService } from '../enrollment/service.ts';
import type { ModelManager } from '../model/index.ts';
import { GatewayError } from '../observability/errors.ts';
import type { CommandRegistry } from './types.ts';

/** enroll, list_classes, list_versions, activate_version, rollback_model, remove_class. */
export function registerEnrollmentCommands(
  commands: CommandRegistry,
  enrollment: EnrollmentService,
  models: ModelManager,
  limits: { readonly maxSeconds: number; readonly graceS: number },
): void {
  const { maxSeconds, graceS } = limits;
  commands.registerCommand('enroll', (args) => enrollment.enroll(args), {
    timeoutMs: (maxSeconds + graceS + 60) * 1000,
  });
  commands.registerCommand(
    'list_classes',
    () => {
      const model = models.requireCurrent();
      return { model: { name: model.name, version: model.version }, classes: enrollment.classes() };
    },
    { readOnly: true },
  );
  commands.registerCommand('list_versions', () => enrollment.versions(), { readOnly: true });
  commands.registerCommand('activate_version', (args) => {
    if (typeof args['version'] !== 'string' || args['version'] === '')
      throw new GatewayError('ENROLL_BAD_REQUEST', 'the request needs "version": "<version>"');
    return enrollment.activate(args['version']);
  });
  commands.registerCommand('rollback_model', () => enrollment.rollback());
  commands.registerCommand('remove_class', (args) => {
    if (typeof args['class'] !== 'string' || args['class'] === '')
      throw new GatewayError('ENROLL_BAD_REQUEST', 'the request needs "class": "<class id>"');
    return enrollment.removeClass(args['class']);
  });
}
