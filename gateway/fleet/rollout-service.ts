import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { OrtLoadedModel } from '../model/load-model.ts';
import { GatewayError, errorCode, errorMessage } from '../observability/errors.ts';
import type { ComponentHealth } from '../observability/health.ts';
import type { Service } from '../service.ts';
import type { MessageHandler } from '../sinks/mqtt/sink.ts';
import { isTargeted, parseDesiredModel, type DesiredModel } from './desired-model.ts';
import { downloadModel, storeEntryOf } from './download-model.ts';
import type { RolloutConfig } from './options.ts';

/** What the rollout needs of the MQTT sink. */
export interface RolloutMqtt {
  subscribe(filter: string, qos: 0 | 1 | 2, handler: MessageHandler): () => void;
  publishRetained(kind: string, topic: string, payload: unknown): void;
}

/** What the rollout needs of the model versions (the enrollment service's store). */
export interface RolloutVersions {
  readonly store: { readonly root: string; readonly bundledDir: string };
  activate(version: string): Promise<{ model: { name: string; version: string; dir: string } }>;
}

export interface RolloutDeps {
  readonly gatewayId: string;
  readonly baseTopic: string;
  readonly userAgent: string;
  readonly logger: Logger;
  readonly mqtt: () => RolloutMqtt | undefined;
  readonly versions: RolloutVersions;
  readonly current: () => OrtLoadedModel | undefined;
}

export type RolloutState = 'not-targeted' | 'downloading' | 'activating' | 'active' | 'failed';

/** Retained on `<baseTopic>/<gw>/rollout`: where this gateway stands on the desired model. */
export interface RolloutReport {
  readonly gateway: string;
  readonly state: RolloutState;
  readonly desired: Pick<DesiredModel, 'name' | 'version' | 'sha256'> | null;
  readonly serving: { readonly name: string; readonly version: string; readonly sha256: string } | null;
  readonly error?: { readonly code: string; readonly message: string };
  readonly at: string;
}

/**
 * Follows the fleet's desired model (`<baseTopic>/fleet/model`, retained): when this gateway
 * is in the rollout stage and serves something else, it downloads the model into the store
 * (verified, see download-model.ts) and activates it through the same path as
 * `activate_version`, which loads it completely before swapping. Any failure leaves the model
 * serving untouched and is reported, retained, on `<baseTopic>/<gw>/rollout` and in /health.
 * Messages are handled one at a time; one arriving meanwhile replaces any still waiting.
 */
export class RolloutService implements Service {
  readonly name = 'rollout';
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> = Promise.resolve();
  private waiting: Buffer | undefined;
  private last: RolloutReport | undefined;

  constructor(
    private readonly config: RolloutConfig,
    private readonly deps: RolloutDeps,
  ) {}

  get topic(): string {
    return `${this.deps.baseTopic}/fleet/model`;
  }

  get report(): RolloutReport | undefined {
    return this.last;
  }

  start(): void {
    if (!this.config.enabled) return;
    const mqtt = this.deps.mqtt();
    if (!mqtt) {
      this.deps.logger.warn('fleet.rollout.enabled but MQTT is off: no rollout to follow');
      return;
    }
    this.unsubscribe = mqtt.subscribe(this.topic, 1, (_topic, payload) => this.receive(payload));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.waiting = undefined;
    await this.running;
  }

  health(): ComponentHealth {
    if (!this.config.enabled) return { status: 'up', details: { enabled: false } };
    const last = this.last;
    if (last?.state === 'failed') {
      const { code, message } = last.error ?? { code: 'ROLLOUT_FAILED', message: 'rollout failed' };
      return { status: 'degraded', error: { code, message, at: last.at }, details: { ...last } };
    }
    return { status: 'up', details: last ? { ...last } : { state: 'waiting' } };
  }

  /** Resolves when every message received so far has been handled (tests, shutdown). */
  idle(): Promise<void> {
    return this.running;
  }

  private receive(payload: Buffer): void {
    if (payload.length === 0) return; // a cleared retained message: nothing desired
    const first = this.waiting === undefined;
    this.waiting = payload;
    if (!first) return;
    this.running = this.running.then(async () => {
      const next = this.waiting;
      this.waiting = undefined;
      if (next) await this.follow(next);
    });
  }

  private async follow(payload: Buffer): Promise<void> {
    let desired: DesiredModel | undefined;
    try {
      desired = parseDesiredModel(payload);
      if (!isTargeted(desired, this.deps.gatewayId)) {
        this.publish('not-targeted', desired);
        return;
      }
      const serving = this.deps.current();
      if (
        serving?.name === desired.name &&
        serving.version === desired.version &&
        serving.manifestSha256 === desired.sha256
      ) {
        this.publish('active', desired);
        return;
      }
      const version = await this.fetchVersion(desired);
      this.publish('activating', desired);
      const { model } = await this.deps.versions.activate(version);
      const now = this.deps.current();
      if (now?.manifestSha256 !== desired.sha256) {
        throw new GatewayError(
          'ROLLOUT_MANIFEST_MISMATCH',
          `activated ${model.name} ${model.version} but it is not the desired manifest ${desired.sha256}`,
        );
      }
      this.deps.logger.info(
        { model: model.name, version: model.version },
        `rollout: now serving ${model.name} ${model.version}`,
      );
      this.publish('active', desired);
    } catch (err) {
      const error = { code: errorCode(err), message: errorMessage(err) };
      this.deps.logger.error(
        { code: error.code },
        `rollout refused, the model serving stays: ${error.message}`,
      );
      this.publish('failed', desired, error);
    }
  }

  /** The store version (or `bundled`) holding the desired model, downloaded if needed. */
  private async fetchVersion(desired: DesiredModel): Promise<string> {
    const bundledManifest = await readFile(join(this.deps.versions.store.bundledDir, 'manifest.json')).catch(
      () => undefined,
    );
    if (bundledManifest && createHash('sha256').update(bundledManifest).digest('hex') === desired.sha256)
      return 'bundled';
    this.publish('downloading', desired);
    await downloadModel(desired, {
      storeRoot: this.deps.versions.store.root,
      maxFileBytes: this.config.maxFileBytes,
      timeoutMs: this.config.timeoutMs,
      allowedUrlPrefixes: this.config.allowedUrlPrefixes,
      userAgent: this.deps.userAgent,
    });
    return storeEntryOf(desired);
  }

  private publish(
    state: RolloutState,
    desired: DesiredModel | undefined,
    error?: { code: string; message: string },
  ): void {
    const serving = this.deps.current();
    this.last = {
      gateway: this.deps.gatewayId,
      state,
      desired: desired ? { name: desired.name, version: desired.version, sha256: desired.sha256 } : null,
      serving: serving
        ? { name: serving.name, version: serving.version, sha256: serving.manifestSha256 }
        : null,
      ...(error ? { error } : {}),
      at: new Date().toISOString(),
    };
    this.deps
      .mqtt()
      ?.publishRetained('rollout', `${this.deps.baseTopic}/${this.deps.gatewayId}/rollout`, this.last);
  }
}
