import { Subject, Subscription } from 'rxjs';
import type { NobleBindings } from '@abandonware/noble/with-bindings';
import type { DeviceState } from '../domain/events.ts';
import type { ImuChunk, SampleChunk } from '../domain/samples.ts';
import type { Clock } from '../domain/time.ts';
import type { DeviceStates } from '../devices/device-states.ts';
import type { DeviceTracker } from '../devices/device-tracker.ts';
import type { InferenceThread } from '../model/inference-thread.ts';
import { errorCode, errorMessage } from '../observability/errors.ts';
import type { HealthRegistry } from '../observability/health.ts';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../observability/metrics.ts';
import type { Service } from '../service.ts';
import type { MqttSink } from '../sinks/mqtt/index.ts';
import type { SubjectRegistry } from '../subjects/registry.ts';
import { createBleSource, type BleSource } from './ble/ble-source.ts';
import type { Timers } from '../clock/timers.ts';
import { createCameraSource, type CameraSource } from './camera/camera-source.ts';
import { moveNetEstimatorFactory } from './camera/pose-estimator.ts';
import { MqttImuIngest } from './mqtt/index.ts';
import { openReplaySource, type ReplaySource } from './replay/index.ts';

type BleOptions = Parameters<typeof createBleSource>[0] & { readonly enabled: boolean };
type CameraOptions = Parameters<typeof createCameraSource>[0];

export interface SourcesOptions {
  readonly gatewayId: string;
  readonly replay: {
    readonly enabled: boolean;
    readonly path: string;
    readonly speed: number;
    readonly loop: boolean;
    readonly withoutModalities: NonNullable<Parameters<typeof openReplaySource>[1]>['withoutModalities'];
  };
  readonly ingest: {
    readonly enabled: boolean;
    readonly maxSamplesPerMessage: number;
    readonly jsonFastPath?: boolean;
  };
  readonly ble: BleOptions;
  readonly cameras: CameraOptions['cameras'];
  readonly matching: CameraOptions['matching'];
  /** For the cameras' pose estimator. */
  readonly model: Pick<Parameters<typeof moveNetEstimatorFactory>[0], 'providers' | 'intraOpThreads'>;
}

export interface SourcesDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly health: HealthRegistry;
  /** Where every source's chunks go, on the gateway clock. */
  readonly input: Subject<SampleChunk>;
  readonly subjects: SubjectRegistry;
  readonly devices: DeviceTracker;
  readonly deviceStates: () => DeviceStates;
  /** The MQTT client the ingest subscribes with (ingest needs MQTT). */
  readonly mqtt: () => MqttSink | undefined;
  /** BLE: bindings to drive instead of the platform's (tests: fake bindings), and and timers that agree with `clock` (BLE and cameras). */
  readonly bleBindings?: NobleBindings | undefined;
  readonly timers?: Timers | undefined;
  /** The inference worker (model.inferenceThread 'worker') the cameras' MoveNet runs in; absent, the main thread. */
  readonly inferenceThread?: InferenceThread | undefined;
}

/**
 * Every source: replay, MQTT IMU ingest, BLE wearables and RTSP cameras, started in that
 * order. Stopping closes BLE links and cameras before the pipeline drains, so their final
 * (disconnected) states still reach MQTT.
 */
export class SourcesService implements Service {
  readonly name = 'sources';
  /** BLE wearables (present when `ble.enabled`); built without I/O (noble loads at start). */
  readonly ble: BleSource | undefined;
  private replayValue: ReplaySource | undefined;
  private cameraValue: CameraSource | undefined;
  private ingest: MqttImuIngest | undefined;
  /** IMU chunks on the gateway clock with a subject: what camera matching correlates with. */
  private readonly wearableImu = new Subject<ImuChunk>();
  private readonly subscription = new Subscription();

  constructor(
    private readonly options: SourcesOptions,
    private readonly deps: SourcesDeps,
  ) {
    this.ble = options.ble.enabled ? this.createBle() : undefined;
  }

  get replay(): ReplaySource | undefined {
    return this.replayValue;
  }

  /** Devices whose source keeps their state (BLE, cameras). */
  ownDeviceStates(): DeviceState[] {
    return [...(this.ble?.devices() ?? []), ...(this.cameraValue?.devices() ?? [])];
  }

  async start(): Promise<void> {
    const { options, deps } = this;
    if (options.replay.enabled) {
      const replay = await openReplaySource(options.replay.path, {
        speed: options.replay.speed,
        loop: options.replay.loop,
        withoutModalities: options.replay.withoutModalities,
      });
      this.replayValue = replay;
      for (const device of replay.devices) {
        this.trackDevice({
          id: device.id,
          kind: device.kind,
          subjectId: device.subjectId,
          sourceIds: device.sourceIds,
        });
      }
      for (const subject of replay.recording.subjects) deps.subjects.ensure(subject.id);
      this.subscription.add(
        replay.samples$.subscribe((chunk) => deps.input.next(deps.subjects.assign(chunk))),
      );
      replay.start();
      deps.health.set('replay', {
        status: 'up',
        details: { path: options.replay.path, speed: options.replay.speed, loop: options.replay.loop },
      });
    }
    for (const subject of deps.subjects.configured()) deps.subjects.ensure(subject);
    const mqtt = deps.mqtt();
    if (options.ingest.enabled && mqtt) this.startIngest(mqtt);
    await this.startBle();
    await this.startCameras();
  }

  async stop(): Promise<void> {
    this.replayValue?.stop();
    await this.ble?.stop();
    await this.cameraValue?.stop();
    this.wearableImu.complete();
    this.ingest?.stop();
    this.subscription.unsubscribe();
  }

  private startIngest(mqtt: MqttSink): void {
    const { options, deps } = this;
    const ingest = new MqttImuIngest({
      subscriber: mqtt,
      topics: mqtt.topics,
      subjectForDevice: (device) => deps.subjects.subjectFor(device),
      maxSamplesPerMessage: options.ingest.maxSamplesPerMessage,
      jsonFastPath: options.ingest.jsonFastPath,
      logger: deps.logger,
      registry: deps.metrics,
      clock: deps.clock,
    });
    this.ingest = ingest;
    this.subscription.add(
      ingest.samples$.subscribe(({ chunk }) => {
        if (!deps.devices.has(chunk.sourceId)) {
          const device = {
            id: chunk.sourceId,
            kind: 'imu' as const,
            subjectId: chunk.subjectId ?? null,
            sourceIds: [chunk.sourceId],
          };
          // Not configured: bounded and expiring (one client can send any number of ids).
          if (chunk.subjectId === undefined) deps.devices.registerUnknown(device);
          else this.trackDevice(device);
        }
        deps.input.next(chunk);
      }),
    );
    ingest.start();
  }

  /** Builds the BLE source. A device's own `subject` wins over subjects[].devices. */
  private createBle(): BleSource {
    const { options, deps } = this;
    const devices = options.ble.devices.map((d) => {
      const listed = d.id !== undefined ? deps.subjects.subjectFor(d.id) : undefined;
      if (d.subject !== undefined && listed !== undefined && listed !== d.subject) {
        deps.logger.warn(
          { code: 'BLE_SUBJECT_CONFLICT', device: d.id, subject: d.subject, listed },
          `ble device '${d.id}' says subject '${d.subject}' but subjects lists it under '${listed}'; using '${d.subject}'`,
        );
      }
      return d.subject === undefined && listed !== undefined ? { ...d, subject: listed } : d;
    });
    return createBleSource(
      { ...options.ble, devices },
      {
        gatewayId: options.gatewayId,
        clock: deps.clock,
        registry: deps.metrics,
        health: deps.health,
        logger: deps.logger,
        ...(deps.bleBindings ? { bindings: deps.bleBindings } : {}),
        ...(deps.timers ? { timers: deps.timers } : {}),
      },
    );
  }

  /**
   * Chunks carry the subject the BLE source knows (config, then runtime assignments), so they
   * bypass `assign()`. Without Bluetooth the gateway keeps running its other sources; /health
   * shows `ble` down with BLE_UNAVAILABLE.
   */
  private async startBle(): Promise<void> {
    const { ble, deps } = this;
    if (!ble) return;
    for (const c of ble.deviceConfigs()) if (c.subject) deps.subjects.ensure(c.subject);
    this.subscription.add(ble.chunks$.subscribe((chunk) => deps.input.next(chunk)));
    this.subscription.add(ble.devices$.subscribe((state) => deps.deviceStates().report(state)));
    try {
      await ble.start();
    } catch (err) {
      deps.logger.error({ code: errorCode(err) }, `BLE did not start: ${errorMessage(err)}`);
    }
  }

  /**
   * RTSP cameras → MoveNet → tracks → pose chunks. Tracks get their subject from zones or by
   * matching wrist motion against the wearables' IMU (every source's chunks are on the gateway
   * clock by the time they reach the input). A camera that fails is reported in /health and
   * retried; the rest of the gateway keeps running.
   */
  private async startCameras(): Promise<void> {
    const { options, deps } = this;
    if (options.cameras.length === 0) return;
    this.subscription.add(
      deps.input.subscribe((chunk) => {
        if (chunk.modality === 'imu' && chunk.subjectId !== undefined) {
          this.wearableImu.next(chunk);
        }
      }),
    );
    const camera = createCameraSource(
      { cameras: options.cameras, matching: options.matching },
      {
        gatewayId: options.gatewayId,
        clock: deps.clock,
        registry: deps.metrics,
        health: deps.health,
        logger: deps.logger,
        createEstimator: moveNetEstimatorFactory({
          logger: deps.logger,
          providers: options.model.providers,
          intraOpThreads: options.model.intraOpThreads,
          thread: deps.inferenceThread,
        }),
        imu$: this.wearableImu,
        ...(deps.timers ? { timers: deps.timers } : {}),
      },
    );
    this.cameraValue = camera;
    this.subscription.add(
      camera.chunks$.subscribe((chunk) => {
        if (chunk.subjectId !== undefined) deps.subjects.ensure(chunk.subjectId);
        deps.input.next(deps.subjects.assign(chunk));
      }),
    );
    this.subscription.add(camera.devices$.subscribe((state) => deps.deviceStates().report(state)));
    try {
      await camera.start();
    } catch (err) {
      deps.logger.error({ code: errorCode(err) }, `cameras did not start: ${errorMessage(err)}`);
    }
  }

  private trackDevice(device: Parameters<DeviceTracker['register']>[0]): void {
    this.deps.devices.register(device);
  }
}
