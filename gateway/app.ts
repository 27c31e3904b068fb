// Long file: the composition root: every service built from the config and listed in start order in one place, so the order reads top to bottom.
import { Subject, type Observable } from 'rxjs';
import { BrokerService } from './broker/service.ts';
import {
  registerDeviceCommands,
  registerEnrollmentCommands,
  registerGatewayCommands,
  registerRecordingCommands,
} from './commands/index.ts';
import type { GatewayConfig } from './config/schema.ts';
import { ConfigFileDevices } from './devices/config-file.ts';
import { DeviceService } from './devices/device-service.ts';
import { DeviceStatePublisher, DeviceStates, DeviceTicker } from './devices/device-states.ts';
import { DeviceTracker } from './devices/device-tracker.ts';
import {
  type ActivityEvent,
  type RepsEvent,
  type SubjectScores,
  type SubjectState,
} from './domain/events.ts';
import type { SampleChunk } from './domain/samples.ts';
import { systemClock, type Clock } from './domain/time.ts';
import type { WindowEmbedding } from './domain/windows.ts';
import { EnrollmentService } from './enrollment/service.ts';
import { healthReport, type ModelInfo } from './http/index.ts';
import { HttpService } from './http/service.ts';
import { gatewayView, modelInfo, statusInfo } from './http/view.ts';
import { ModelManager, type OrtLoadedModel } from './model/index.ts';
import { ModelService } from './model/service.ts';
import { GatewayError } from './observability/errors.ts';
import { HealthRegistry } from './observability/health.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { counter, createMetricsRegistry, type Registry } from './observability/metrics.ts';
import { redactUrl, secretValues } from './observability/redact.ts';
import { PipelineService } from './pipeline/pipeline-service.ts';
import { RepsService } from './pipeline/reps/reps-service.ts';
import type { HopDecision } from './pipeline/stages/decisions.ts';
import { ServiceList } from './service.ts';
import { InfluxService } from './sinks/influx/service.ts';
import { DiscoveryAnnouncer } from './sinks/mqtt/announcer.ts';
import { MqttService } from './sinks/mqtt/service.ts';
import { RecorderService, RecordingAutoStart } from './sinks/recorder/service.ts';
import type { BleSource } from './sources/ble/ble-source.ts';
import type { Timers } from './clock/timers.ts';
import type { ReplaySource } from './sources/replay/index.ts';
import { SourcesService } from './sources/service.ts';
import { SubjectRegistry } from './subjects/registry.ts';
import { SOFTWARE_VERSION } from './version.ts';
import { fleetServices } from './fleet/services.ts';
import type { NobleBindings } from '@abandonware/noble/with-bindings';

export interface GatewayAppDeps {
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** The YAML file the config came from; runtime device changes are saved into it. */
  readonly configFile?: string;
  /** BLE: bindings to drive instead of the platform's (tests: fake bindings). */
  readonly bleBindings?: NobleBindings;
  /** Timers that agree with `clock`, for every service that waits (tests: virtual timers). */
  readonly timers?: Timers;
}

/** Where a running gateway can be reached. */
export interface GatewayEndpoints {
  readonly http: string | null;
  readonly mqtt: string;
  readonly mqttEmbedded: boolean;
}

/**
 * The composition root: builds every service from the configuration and lists them; they
 * start in that order and stop (SIGTERM) in reverse. Start: model (refuse to run without
 * one) → broker → recorder → HTTP → MQTT → device states → InfluxDB → reps → pipeline →
 * sources → device ticker. Stop: sources → pipeline drain (final events and states) → reps
 * summaries → InfluxDB → MQTT drain + `offline` → HTTP → recorder → broker → model.
 */
export class GatewayApp {
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly health = new HealthRegistry();
  readonly clock: Clock;
  readonly models: ModelManager;
  readonly devices: DeviceTracker;
  /** BLE wearables (present when `ble.enabled`) and their runtime management (HTTP, MQTT). */
  readonly ble: BleSource | undefined;
  readonly deviceService: DeviceService;

  /** Every activity event, every subject state (hot). */
  readonly activity$: Observable<ActivityEvent>;
  readonly states$: Observable<SubjectState>;
  /** Raw per-hop top-1 decisions before smoothing (for scoring against labels). */
  readonly decisions$: Observable<HopDecision>;
  /** Fused class probabilities per subject and hop, with the latency from window close. */
  readonly scores$: Observable<SubjectScores>;
  /** Every window embedding of the pipeline serving now (what enrollment learns from). */
  readonly embeddings$: Observable<WindowEmbedding>;
  /** Enrollment of new classes and the model versions it makes. */
  readonly enrollment: EnrollmentService;
  /** Every repetition and set summary (what goes to `<base>/<gw>/subjects/<s>/reps`). */
  readonly reps$: Observable<RepsEvent>;

  /** Every source's chunks, on the gateway clock. */
  private readonly input = new Subject<SampleChunk>();
  private readonly modelSwaps = new Subject<ModelInfo>();
  /** Subjects another gateway has taken over (fleet handover): the pipeline ends them now. */
  private readonly releasedSubjects = new Subject<string>();
  private readonly subjects: SubjectRegistry;
  private readonly deviceStates: DeviceStates;
  private readonly announcer: DiscoveryAnnouncer;
  private readonly broker: BrokerService;
  private readonly recorder: RecorderService;
  private readonly http: HttpService;
  private readonly mqtt: MqttService;
  private readonly influx: InfluxService;
  private readonly reps: RepsService;
  private readonly pipeline: PipelineService;
  private readonly sources: SourcesService;
  private readonly services: ServiceList;
  private endpointsValue: GatewayEndpoints | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly config: GatewayConfig,
    deps: GatewayAppDeps = {},
  ) {
    this.logger = deps.logger ?? createLogger({ level: config.log.level, secrets: secretValues(config) });
    this.clock = deps.clock ?? systemClock;
    this.metrics = createMetricsRegistry();
    const { logger, clock, metrics, health } = this;
    const gatewayId = config.gateway.id;
    this.models = new ModelManager({
      dir: config.model.path,
      providers: config.model.providers,
      intraOpThreads: config.model.intraOpThreads,
      inferenceThread: config.model.inferenceThread,
      openSet: config.model.openSet,
      logger,
      health,
      metrics,
    });
    this.announcer = new DiscoveryAnnouncer(
      { ...config.mqtt.homeAssistant, gatewayId, configurationUrl: () => this.http.url },
      () => this.mqtt.sink,
      () => this.deviceStates.states$,
    );
    this.subjects = new SubjectRegistry(
      { gatewayId, clock, subjects: config.subjects },
      {
        mqtt: () => this.mqtt.sink,
        influx: () => this.influx.sink,
        reps: () => this.reps.current,
        onNewSubject: (id) => this.announcer.subject(id),
      },
    );
    this.activity$ = this.subjects.activity$;
    this.states$ = this.subjects.states$;
    this.broker = new BrokerService(config.mqtt, logger);
    this.mqtt = new MqttService(config.mqtt, {
      gatewayId,
      logger,
      registry: metrics,
      health,
      httpToken: config.http.token,
      broker: () => this.broker,
      registerCommands: (sink) => {
        registerGatewayCommands(sink, {
          status: () => this.status(),
          reload: async () => modelInfo(await this.reloadModel()),
        });
        registerDeviceCommands(sink, this.deviceService);
        registerEnrollmentCommands(sink, this.enrollment, this.models, config.enrollment);
        const recording = this.recorder.control;
        if (recording) registerRecordingCommands(sink, recording);
      },
      onStarted: () => this.announcer.gateway(),
      ...(deps.timers ? { timers: deps.timers } : {}),
    });
    this.reps = new RepsService(
      { ...config.reps, gateway: gatewayId },
      {
        clock,
        metrics,
        nextSeq: () => this.mqtt.nextEventSeq(),
        subjects: this.subjects,
        mqtt: () => this.mqtt.sink,
        influx: () => this.influx.sink,
      },
    );
    this.reps$ = this.reps.events$;
    const unknownDevices = counter(
      metrics,
      'mujo_devices_unknown_total',
      'Devices not configured that sent data, by outcome: tracked, refused (messages while at ingest.unknownDevices.maxTracked), expired (idle).',
      ['outcome'],
    );
    this.devices = new DeviceTracker({
      gateway: gatewayId,
      clock,
      unknown: config.ingest.unknownDevices,
      onUnknown: (outcome) => unknownDevices.inc({ outcome }),
    });
    this.deviceStates = new DeviceStates(this.devices, gatewayId, () => this.sources.ownDeviceStates());
    this.pipeline = new PipelineService(
      { ...config.pipeline, gateway: gatewayId },
      {
        clock,
        logger,
        metrics,
        models: this.models,
        nextSeq: () => this.mqtt.nextEventSeq(),
        release$: this.releasedSubjects,
        subjects: this.subjects,
        reps: this.reps,
        input$: this.input,
        observe: (chunk) => this.devices.observe(chunk),
        onModel: (model) => this.onModel(model),
      },
    );
    this.decisions$ = this.pipeline.decisions$;
    this.scores$ = this.pipeline.scores$;
    this.embeddings$ = this.pipeline.embeddings$;
    this.enrollment = new EnrollmentService(
      { ...config.enrollment, bundledDir: config.model.path },
      {
        models: this.models,
        embeddings$: this.embeddings$,
        subjects: () => this.subjects.ids(),
        lastWindowEndNs: (subject) => this.subjects.lastWindowEndNs(subject),
        logger,
      },
    );
    this.sources = new SourcesService(
      { gatewayId, ...config },
      {
        clock,
        logger,
        metrics,
        health,
        input: this.input,
        subjects: this.subjects,
        devices: this.devices,
        deviceStates: () => this.deviceStates,
        mqtt: () => this.mqtt.sink,
        bleBindings: deps.bleBindings,
        timers: deps.timers,
        inferenceThread: this.models.thread,
      },
    );
    this.ble = this.sources.ble;
    this.deviceService = new DeviceService({
      ble: this.ble ?? null,
      store: deps.configFile !== undefined ? new ConfigFileDevices(deps.configFile) : null,
      logger,
      onChange: (change, state) => {
        const subject = change.config?.subject;
        if (subject) this.subjects.ensure(subject);
        if (state) this.deviceStates.report(state);
        else if (change.action === 'remove') this.deviceStates.reportRemoved(change.device);
      },
    });
    this.recorder = new RecorderService(config.recorder, {
      gatewayId,
      registry: metrics,
      health,
      logger,
      clock,
      ...(deps.timers ? { timers: deps.timers } : {}),
      input$: this.input,
      context: () => {
        const model = this.models.current;
        return {
          subjects: this.subjects.ids(),
          devices: this.deviceStates
            .snapshot()
            .map((d) => ({ id: d.device, kind: d.kind, subject: d.subject })),
          model: model ? { name: model.name, version: model.version } : null,
        };
      },
    });
    this.http = new HttpService(
      config.http,
      logger,
      () =>
        gatewayView({
          gatewayId,
          baseTopic: config.mqtt.baseTopic,
          mqttUrl: () => this.broker.url,
          mqttEmbedded: () => this.broker.isEmbedded,
          health,
          metrics,
          models: this.models,
          subjects: () => this.subjects.snapshot(),
          devices: () => this.deviceStates.snapshot(),
          activity$: this.activity$,
          states$: this.states$,
          deviceStates$: this.deviceStates.states$,
          model$: this.modelSwaps.asObservable(),
          samples$: this.input.asObservable(),
          scores$: this.scores$,
          reps$: this.reps$,
          clock,
          subjectNames: Object.fromEntries(
            config.subjects.flatMap((s) => (s.name ? [[s.id, s.name] as const] : [])),
          ),
          recentEvents: (n) => this.subjects.recentEvents(n),
          reloadModel: () => this.reloadModel(),
          deviceService: this.deviceService,
          recording: this.recorder.control,
          enrollment: this.enrollment,
        }),
      deps.timers,
    );
    this.influx = new InfluxService(config.influx, {
      gatewayId,
      logger,
      registry: metrics,
      health,
      clock,
      input$: this.input,
      deviceStates$: this.deviceStates.states$,
      mqttConnected: () => this.mqtt.sink?.connected ?? false,
    });
    // Started in this order, stopped in reverse: see the class comment.
    this.services = new ServiceList([
      new ModelService(this.models, this.enrollment, config.model.path, logger),
      this.broker,
      this.recorder,
      this.http,
      this.mqtt,
      this.announcer,
      new DeviceStatePublisher(this.deviceStates, this.devices, () => this.mqtt.sink),
      this.influx,
      this.reps,
      this.pipeline,
      ...fleetServices(config.fleet, {
        gatewayId,
        baseTopic: config.mqtt.baseTopic,
        logger,
        mqtt: () => this.mqtt.sink,
        versions: this.enrollment,
        currentModel: () => this.models.current,
        states$: this.states$,
        release: (subject) => this.releasedSubjects.next(subject),
        clock,
      }),
      this.sources,
      new RecordingAutoStart(this.recorder, config.recorder.autoStart),
      new DeviceTicker(this.devices, deps.timers),
    ]);
    this.services.reportTo(health);
  }

  get endpoints(): GatewayEndpoints {
    if (!this.endpointsValue) throw new GatewayError('APP_NOT_STARTED', 'the gateway has not started');
    return this.endpointsValue;
  }

  get replaySource(): ReplaySource | undefined {
    return this.sources.replay;
  }

  async start(): Promise<GatewayEndpoints> {
    this.health.set('gateway', { status: 'starting' });
    // A line per service as it comes up: the terminal shows where a slow start is.
    await this.services.start((service, ms) =>
      this.logger.info({ service, ms }, `${service} started (${ms} ms)`),
    );
    this.health.set('gateway', { status: 'up', details: { version: SOFTWARE_VERSION } });
    const endpoints: GatewayEndpoints = {
      http: this.http.url,
      mqtt: this.broker.url,
      mqttEmbedded: this.broker.isEmbedded,
    };
    this.endpointsValue = endpoints;
    this.logger.info({ endpoints: { ...endpoints, mqtt: redactUrl(endpoints.mqtt) } }, 'gateway started');
    return endpoints;
  }

  /**
   * A pipeline serves `model`: MQTT status and the `model` SSE event. (Home Assistant's event
   * types are the transitions, not the classes, so a new class needs no new discovery.)
   */
  private onModel(model: OrtLoadedModel): void {
    this.mqtt.sink?.setStatus(statusInfo(model));
    this.modelSwaps.next(modelInfo(model));
  }

  async reloadModel(): Promise<OrtLoadedModel> {
    const result = await this.models.reload();
    if (!result.ok) throw result.error;
    return result.model;
  }

  /** The `status` command's answer. */
  status(): Record<string, unknown> {
    const model = this.models.current;
    return {
      gateway: this.config.gateway.id,
      version: SOFTWARE_VERSION,
      health: healthReport(this.health),
      model: model ? modelInfo(model) : null,
      subjects: this.subjects.snapshot(),
      devices: this.deviceStates.snapshot(),
    };
  }

  modelInfo(model: OrtLoadedModel): ModelInfo {
    return modelInfo(model);
  }

  /** Graceful shutdown; safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.logger.info('gateway stopping');
    this.health.set('gateway', { status: 'stopped' });
    try {
      await this.services.stop();
    } finally {
      this.subjects.complete();
      this.pipeline.complete();
      this.modelSwaps.complete();
      this.reps.complete();
      this.deviceStates.complete();
    }
    this.logger.info('gateway stopped');
  }
}
