import type { Observable } from 'rxjs';
import type { ActivityEvent, DeviceState, RepsEvent, SubjectScores, SubjectState } from '../domain/events.ts';
import type { SampleChunk } from '../domain/samples.ts';
import type { Clock } from '../domain/time.ts';
import type { DeviceService } from '../devices/device-service.ts';
import type { EnrollmentService } from '../enrollment/service.ts';
import type { ModelManager, OrtLoadedModel } from '../model/index.ts';
import type { HealthRegistry } from '../observability/health.ts';
import type { Registry } from '../observability/metrics.ts';
import type { RecordingControl } from '../sinks/recorder/control.ts';
import { SOFTWARE_VERSION } from '../version.ts';
import { healthReport } from './health.ts';
import { liveScores, posePreviews } from './live-streams.ts';
import type { GatewayView, ModelInfo } from './types.ts';

/** What `/api/model`, the `model` SSE event and the `status`/`reload_model` commands say about a model. */
export function modelInfo(model: OrtLoadedModel): ModelInfo {
  return {
    name: model.name,
    version: model.version,
    classes: model.classes.map((c) => ({ id: c.id, name: c.name })),
    encoders: model.encoders.map((e) => ({
      name: e.name,
      modality: e.modality,
      provider: e.provider,
      sampleRateHz: e.sampleRateHz,
      windowSamples: e.windowSamples,
      hopSamples: e.hopSamples,
    })),
    fusion: model.fusion,
    openSet: model.openSetThresholds ?? null,
    enrolled: model.manifest.enrollment?.classes.map((c) => c.id) ?? [],
    dir: model.dir,
    metrics: model.manifest.training.metrics,
  };
}

/** The model part of the retained MQTT `status` message. */
export function statusInfo(model: OrtLoadedModel) {
  return {
    model: { name: model.name, version: model.version },
    encoders: model.encoders.map((e) => ({ name: e.name, modality: e.modality, provider: e.provider })),
  };
}

/** What the HTTP view reads from the running gateway (read lazily, at request time). */
export interface GatewayViewSources {
  readonly gatewayId: string;
  readonly baseTopic: string;
  readonly mqttUrl: () => string;
  readonly mqttEmbedded: () => boolean;
  readonly health: HealthRegistry;
  readonly metrics: Registry;
  readonly models: ModelManager;
  readonly subjects: () => SubjectState[];
  readonly devices: () => DeviceState[];
  readonly activity$: Observable<ActivityEvent>;
  readonly states$: Observable<SubjectState>;
  readonly deviceStates$: Observable<DeviceState>;
  readonly model$: Observable<ModelInfo>;
  /** Every source's chunks (the skeleton: pose chunks of subjects' camera tracks). */
  readonly samples$: Observable<SampleChunk>;
  /** Fused class probabilities per subject and hop (the page's top three). */
  readonly scores$: Observable<SubjectScores>;
  readonly reps$: Observable<RepsEvent>;
  /** `subjects[].name` by subject id. */
  readonly subjectNames: Readonly<Record<string, string>>;
  /** The gateway clock (the page's "now"). */
  readonly clock: Clock;
  readonly recentEvents: (n: number) => ActivityEvent[];
  readonly reloadModel: () => Promise<OrtLoadedModel>;
  readonly deviceService: DeviceService;
  readonly recording: RecordingControl | undefined;
  readonly enrollment: EnrollmentService;
}

/** The skeleton is redrawn at most this often per subject, ms (5 Hz). */
const POSE_PREVIEW_MS = 200;
/** The top three are refreshed at most this often per subject, ms. */
const SCORES_PREVIEW_MS = 1000;

/** The gateway as the HTTP server sees it. */
export function gatewayView(s: GatewayViewSources): GatewayView {
  const mqttUrl = (): URL | null => {
    try {
      return new URL(s.mqttUrl());
    } catch {
      return null;
    }
  };
  return {
    info: () => {
      const url = mqttUrl();
      return {
        gateway: s.gatewayId,
        version: SOFTWARE_VERSION,
        mqtt: url
          ? {
              host: url.hostname,
              port: Number(url.port || (url.protocol === 'mqtts:' ? 8883 : 1883)),
              baseTopic: s.baseTopic,
              mqtt311Only: s.mqttEmbedded(),
            }
          : null,
        subjectNames: s.subjectNames,
      };
    },
    health: () => healthReport(s.health),
    metricsRegistry: s.metrics,
    subjects: () => s.subjects(),
    devices: (): DeviceState[] => s.devices(),
    model: () => {
      const model = s.models.current;
      return model ? modelInfo(model) : null;
    },
    activity$: s.activity$,
    states$: s.states$,
    deviceStates$: s.deviceStates$,
    model$: s.model$,
    reps$: s.reps$,
    poses$: posePreviews(s.samples$, POSE_PREVIEW_MS),
    scores$: liveScores(s.scores$, () => s.models.current?.classes ?? [], SCORES_PREVIEW_MS),
    recentEvents: (n) => s.recentEvents(n),
    nowMs: () => s.clock.nowNs() / 1e6,
    reloadModel: async () => modelInfo(await s.reloadModel()),
    addDevice: (entry) => s.deviceService.add(entry),
    removeDevice: (id) => s.deviceService.remove(id),
    assignDevice: (id, assignment) => s.deviceService.assign(id, assignment),
    scanDevices: (request) => s.deviceService.scan(request),
    nearbyDevices: () => s.deviceService.nearby(),
    bleEnabled: () => s.deviceService.enabled,
    ...(s.recording ? { recording: s.recording } : {}),
    enrollment: s.enrollment,
  };
}
