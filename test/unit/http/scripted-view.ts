import { Subject } from 'rxjs';
import { Counter } from 'prom-client';
import {
  PAYLOAD_VERSION,
  type ActivityEvent,
  type DeviceState,
  type RepsEvent,
  type SubjectState,
} from '../../../gateway/domain/events.ts';
import type { LiveScores, PosePreview } from '../../../gateway/http/live-streams.ts';
import type { Modality } from '../../../gateway/domain/samples.ts';
import { nsToIso } from '../../../gateway/domain/time.ts';
import { healthReport } from '../../../gateway/http/health.ts';
import type { GatewayInfo, GatewayView, HealthReport, ModelInfo } from '../../../gateway/http/types.ts';
import { HealthRegistry } from '../../../gateway/observability/health.ts';
import { createMetricsRegistry, type Registry } from '../../../gateway/observability/metrics.ts';

/**
 * A GatewayView driven by the test: it is the same interface app.ts implements, with the
 * pipeline replaced by explicit pushes, so the HTTP server and the page run for real.
 */
export class ScriptedView implements GatewayView {
  readonly metricsRegistry: Registry = createMetricsRegistry({ defaultMetrics: false });
  readonly healthRegistry = new HealthRegistry();
  readonly activity$ = new Subject<ActivityEvent>();
  readonly states$ = new Subject<SubjectState>();
  readonly deviceStates$ = new Subject<DeviceState>();
  readonly reps$ = new Subject<RepsEvent>();
  readonly poses$ = new Subject<PosePreview>();
  readonly scores$ = new Subject<LiveScores>();
  readonly eventsCounter = new Counter({
    name: 'mujo_events_total',
    help: 'test counter',
    registers: [this.metricsRegistry],
  });
  subjectStates = new Map<string, SubjectState>();
  deviceList = new Map<string, DeviceState>();
  events: ActivityEvent[] = [];
  currentModel: ModelInfo | null = MODEL;
  reloadBehaviour: () => Promise<ModelInfo> = async () => ({ ...MODEL, version: '1.0.1' });
  reloads = 0;
  /** The gateway clock, when a test wants it off the browser's. */
  nowMs?: () => number;
  gatewayInfo: GatewayInfo = {
    gateway: 'test-gw',
    version: '0.1.0',
    mqtt: { host: '127.0.0.1', port: 1883, baseTopic: 'mujo' },
  };
  private seq = 0;
  private readonly gateway = 'test-gw';

  info(): GatewayInfo {
    return this.gatewayInfo;
  }

  health(): HealthReport {
    return healthReport(this.healthRegistry);
  }

  subjects(): readonly SubjectState[] {
    return [...this.subjectStates.values()];
  }

  devices(): readonly DeviceState[] {
    return [...this.deviceList.values()];
  }

  model(): ModelInfo | null {
    return this.currentModel;
  }

  recentEvents(n: number): readonly ActivityEvent[] {
    return this.events.slice(-n);
  }

  async reloadModel(): Promise<ModelInfo> {
    this.reloads++;
    const model = await this.reloadBehaviour();
    this.currentModel = model;
    return model;
  }

  /** Publishes a subject's new activity the way the pipeline does: an event, then the state. */
  pushActivity(
    subject: string,
    activity: string,
    activityName: string,
    confidence: number,
    modalities: Modality[],
    reps = 0,
  ): ActivityEvent {
    const nowNs = Date.now() * 1e6;
    const previous = this.subjectStates.get(subject);
    const event: ActivityEvent = {
      v: PAYLOAD_VERSION,
      gateway: this.gateway,
      subject,
      transition: previous?.activity ? 'changed' : 'started',
      activity,
      activityName,
      confidence,
      topK: [{ activity, confidence }],
      start: nsToIso(nowNs),
      startNs: nowNs,
      ...(previous?.activity ? { previous: previous.activity, end: nsToIso(nowNs), endNs: nowNs } : {}),
      modalities,
      sources: modalities.map((m) => `${subject}-${m}`),
      model: MODEL.name,
      modelVersion: MODEL.version,
      latencyMs: 3.2,
      seq: ++this.seq,
    };
    this.events.push(event);
    this.eventsCounter.inc();
    this.activity$.next(event);
    this.pushState({ subject, activity, activityName, confidence, modalities, reps, since: event.start });
    return event;
  }

  /** The subject's activity ends (the pipeline's `ended` event, then an idle state). */
  pushEnded(subject: string, endedAfterMs: number): ActivityEvent {
    const previous = this.subjectStates.get(subject);
    if (!previous?.activity || !previous.activityName || !previous.since)
      throw new Error(`${subject} has no activity to end`);
    const startNs = Date.parse(previous.since) * 1e6;
    const endNs = startNs + endedAfterMs * 1e6;
    const event: ActivityEvent = {
      v: PAYLOAD_VERSION,
      gateway: this.gateway,
      subject,
      transition: 'ended',
      activity: previous.activity,
      activityName: previous.activityName,
      // What the pipeline reports: the ended activity's probability at the hop it lost.
      confidence: 0.04,
      topK: [{ activity: previous.activity, confidence: 0.04 }],
      start: previous.since,
      startNs,
      end: nsToIso(endNs),
      endNs,
      modalities: previous.modalities,
      sources: previous.sources,
      model: MODEL.name,
      modelVersion: MODEL.version,
      latencyMs: 3.2,
      seq: ++this.seq,
    };
    this.events.push(event);
    this.activity$.next(event);
    this.pushState({
      subject,
      activity: null,
      activityName: null,
      confidence: 0,
      modalities: [],
      reps: 0,
      since: null,
    });
    return event;
  }

  pushState(s: {
    subject: string;
    activity: string | null;
    activityName: string | null;
    confidence: number;
    modalities: Modality[];
    reps: number;
    since: string | null;
    /** Default: now. */
    updated?: string;
  }): SubjectState {
    const state: SubjectState = {
      v: PAYLOAD_VERSION,
      gateway: this.gateway,
      ...s,
      sources: s.modalities.map((m) => `${s.subject}-${m}`),
      updated: s.updated ?? new Date().toISOString(),
    };
    this.subjectStates.set(s.subject, state);
    this.states$.next(state);
    return state;
  }

  pushDevice(
    device: string,
    kind: 'imu' | 'camera',
    subject: string | null,
    connected: boolean,
    radio: { battery?: number; rssi?: number; rateHz?: number; lastSeen?: string } = {},
  ): DeviceState {
    const state: DeviceState = {
      v: PAYLOAD_VERSION,
      gateway: this.gateway,
      device,
      kind,
      subject,
      connected,
      battery: radio.battery ?? null,
      rssi: radio.rssi ?? null,
      rateHz: radio.rateHz ?? (kind === 'imu' ? 50 : 20),
      dropped: 0,
      reconnects: 0,
      lastSeen: radio.lastSeen ?? new Date().toISOString(),
    };
    this.deviceList.set(device, state);
    this.deviceStates$.next(state);
    return state;
  }
}

export const MODEL: ModelInfo = {
  name: 'mujo-utd',
  version: '1.0.0',
  classes: [
    { id: 'jog', name: 'jogging' },
    { id: 'wave', name: 'waving' },
  ],
  encoders: [
    {
      name: 'imu_wrist',
      modality: 'imu',
      provider: 'cpu',
      sampleRateHz: 50,
      windowSamples: 100,
      hopSamples: 25,
    },
    { name: 'pose', modality: 'pose', provider: 'cpu', sampleRateHz: 20, windowSamples: 40, hopSamples: 10 },
  ],
  fusion: 'mean-logits',
};
