import type { Logger } from 'pino';
import type { Observable, Subscription } from 'rxjs';
import type { SubjectState } from '../domain/events.ts';
import type { Service } from '../service.ts';
import type { MessageHandler } from '../sinks/mqtt/sink.ts';
import { isTopicLevel } from '../sinks/mqtt/topics.ts';
import type { HandoverConfig } from './options.ts';

/** What the handover needs of the MQTT sink. */
export interface HandoverMqtt {
  subscribe(filter: string, qos: 0 | 1 | 2, handler: MessageHandler): () => void;
  publishRetained(kind: string, topic: string, payload: unknown): void;
}

export interface HandoverDeps {
  readonly gatewayId: string;
  readonly baseTopic: string;
  readonly logger: Logger;
  readonly mqtt: () => HandoverMqtt | undefined;
  /** Every subject state the pipeline publishes (present: modalities non-empty). */
  readonly states$: Observable<SubjectState>;
  /** Ends the subject's activity now and forgets it (the pipeline's release). */
  readonly release: (subject: string) => void;
  readonly now: () => Date;
}

/** Retained on `<baseTopic>/fleet/subjects/<subject>/owner`: the gateway that has the subject now. */
export interface SubjectOwner {
  readonly subject: string;
  readonly gateway: string;
  readonly at: string;
}

/**
 * One subject across gateways. Subject ids are global; a wearable or phone that moves from
 * room A to room B reaches B's gateway. When a subject's data starts arriving here, this
 * gateway claims it (retained, so the site's tools see where everyone is); a gateway that
 * holds the subject and sees another gateway's claim ends the subject's activity at once
 * instead of after `pipeline.idleEndS`, so the subject never has an activity running in two
 * rooms and B's `started` follows A's `ended`. The last claim wins: if the device comes back,
 * A claims again and B lets go. Only live claims count; a retained claim delivered on
 * (re)subscribing is history, not a move.
 */
export class HandoverService implements Service {
  readonly name = 'handover';
  private readonly held = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private states: Subscription | undefined;
  private handedOver = 0;

  constructor(
    private readonly config: HandoverConfig,
    private readonly deps: HandoverDeps,
  ) {}

  private ownerTopic(subject: string): string {
    return `${this.deps.baseTopic}/fleet/subjects/${subject}/owner`;
  }

  start(): void {
    if (!this.config.enabled) return;
    const mqtt = this.deps.mqtt();
    if (!mqtt) {
      this.deps.logger.warn('fleet.handover.enabled but MQTT is off: no other gateway to hand over to');
      return;
    }
    const prefix = `${this.deps.baseTopic}/fleet/subjects/`;
    this.unsubscribe = mqtt.subscribe(`${prefix}+/owner`, 1, (topic, payload, packet) => {
      if (packet.retain) return;
      const subject = topic.slice(prefix.length, -'/owner'.length);
      let owner: Partial<SubjectOwner>;
      try {
        owner = JSON.parse(payload.toString('utf8')) as Partial<SubjectOwner>;
      } catch {
        this.deps.logger.warn(
          { code: 'HANDOVER_BAD_MESSAGE', topic },
          'subject owner message is not JSON; ignored',
        );
        return;
      }
      if (typeof owner.gateway !== 'string' || owner.gateway === this.deps.gatewayId) return;
      if (!this.held.delete(subject)) return;
      this.handedOver++;
      this.deps.logger.info(
        { subject, to: owner.gateway },
        `subject ${subject} moved to gateway ${owner.gateway}`,
      );
      this.deps.release(subject);
    });
    this.states = this.deps.states$.subscribe((state) => {
      const present = state.modalities.length > 0;
      if (!present) {
        this.held.delete(state.subject);
        return;
      }
      if (this.held.has(state.subject) || !isTopicLevel(state.subject)) return;
      this.held.add(state.subject);
      const claim: SubjectOwner = {
        subject: state.subject,
        gateway: this.deps.gatewayId,
        at: this.deps.now().toISOString(),
      };
      this.deps.mqtt()?.publishRetained('subject_owner', this.ownerTopic(state.subject), claim);
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.states?.unsubscribe();
    this.states = undefined;
    this.held.clear();
  }

  health() {
    return {
      status: 'up' as const,
      details: { enabled: this.config.enabled, held: this.held.size, handedOver: this.handedOver },
    };
  }
}
