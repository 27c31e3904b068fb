import type { Logger } from 'pino';
import type { Observable } from 'rxjs';
import { NS_PER_MS, type Clock } from '../domain/time.ts';
import type { SubjectState } from '../domain/events.ts';
import type { OrtLoadedModel } from '../model/load-model.ts';
import type { Service } from '../service.ts';
import { SOFTWARE_VERSION } from '../version.ts';
import { HandoverService, type HandoverMqtt } from './handover-service.ts';
import type { FleetConfig } from './options.ts';
import { RolloutService, type RolloutMqtt, type RolloutVersions } from './rollout-service.ts';

export interface FleetDeps {
  readonly gatewayId: string;
  readonly baseTopic: string;
  readonly logger: Logger;
  readonly mqtt: () => (RolloutMqtt & HandoverMqtt) | undefined;
  readonly versions: RolloutVersions;
  readonly currentModel: () => OrtLoadedModel | undefined;
  readonly states$: Observable<SubjectState>;
  readonly release: (subject: string) => void;
  /** The gateway's clock: handover claims are stamped with it, so tests on virtual time agree. */
  readonly clock: Clock;
}

/** The gateway's part in a fleet (docs/fleet.md): following model rollouts, handing subjects over. */
export function fleetServices(config: FleetConfig, deps: FleetDeps): Service[] {
  return [
    new RolloutService(config.rollout, {
      gatewayId: deps.gatewayId,
      baseTopic: deps.baseTopic,
      userAgent: `mujo-gateway/${SOFTWARE_VERSION} (${deps.gatewayId})`,
      logger: deps.logger,
      mqtt: deps.mqtt,
      versions: deps.versions,
      current: deps.currentModel,
    }),
    new HandoverService(config.handover, {
      gatewayId: deps.gatewayId,
      baseTopic: deps.baseTopic,
      logger: deps.logger,
      mqtt: deps.mqtt,
      states$: deps.states$,
      release: deps.release,
      now: () => new Date(deps.clock.nowNs() / NS_PER_MS),
    }),
  ];
}
