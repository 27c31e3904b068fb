import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { merge, Subject, type Observable, type Subscription } from 'rxjs';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker/embedded.ts';
import type { GatewayConfig } from './config/schema.ts';
import { DeviceTracker } from './devices/device-tracker.ts';
import { ConfigFileDevices } from './devices/config-file.ts';
import { DeviceService } from './devices/device-service.ts';
import {
  PAYLOAD_VERSION,
  UNKNOWN_ACTIVITY,
  type ActivityEvent,
  type DeviceState,
  type RepsEvent,
  type SubjectScores,
  type SubjectState,
} from './domain/events.ts';
import type { ImuChunk, SampleChunk } from './domain/samples.ts';
import { nsToIso, systemClock, type Clock } from './domain/time.ts';
import {
  createHttpServer,
  healthReport,
  type GatewayView,
  type HttpServer,
  type ModelInfo,
} from './http/index.ts';
import { ModelManager, type OrtLoadedModel } from './model/index.ts';
import { EnrollmentService } from './enrollment/service.ts';
import type { WindowEmbedding } from './domain/windows.ts';
import { GatewayError, errorCode, errorMessage } from './observability/errors.ts';
import { HealthRegistry } from './observability/health.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { counter, createMetricsRegistry, type Registry } from './observability/metrics.ts';
import { createPipeline, type Pipeline } from './pipeline/pipeline.ts';
import { RepService } from './pipeline/reps/rep-service.ts';
import type { RepActivityOverride } from './pipeline/reps/settings.ts';
import type { HopDecision } from './pipeline/stages/decisions.ts';
import {
  deviceDiscovery,
  gatewayDiscovery,
  subjectDiscovery,
  type DiscoveryMessage,
} from './sinks/mqtt/home-assistant.ts';
import { MqttSink, mqttSinkOptionsFromConfig } from './sinks/mqtt/index.ts';
import { MqttImuIngest } from './sources/mqtt/index.ts';
import { openReplaySource, type ReplaySource } from './sources/replay/index.ts';
import { createCameraSource, type CameraSource } from './sources/camera/camera-source.ts';
import { recorderFromConfig, type Recorder } from './sinks/recorder/index.ts';
import { InfluxSink, influxSinkOptionsFromConfig } from './sinks/influx/index.ts';
import { PipelineStatsSampler } from './sinks/influx/pipeline-stats.ts';
import { RecordingControl } from './sinks/recorder/control.ts';
import { moveNetEstimatorFactory } from './sources/camera/pose-estimator.ts';
import { SOFTWARE_VERSION } from './version.ts';
import { SequenceFile } from './spool/sequence-file.ts';
import { redactUrl, secretValues } from './observability/redact.ts';
import type { NobleBindings } from '@abandonware/noble/with-bindings';
import { createBleSource, type BleSource } from './sources/ble/ble-source.ts';
import type { Timers } from './sources/ble/timers.ts';

/** How many recent activity events the live page and /api/events/recent can show. */
const RECENT_EVENTS = 200;
/** Period of device-state re-evaluation (connected / silent) and its retained MQTT message. */
const DEVICE_TICK_MS = 5000;
/** Period of the `pipeline` points written to InfluxDB (the Grafana gateway dashboard). */
const PIPELINE_STATS_MS = 10_000;

/** Does an MQTT broker accept a connection at `url` (MQTT 3.1.1, 2 s)? */
async function brokerAnswers(url: string): Promise<boolean> {
  const { connectAsync } = await import('mqtt');
  try {
    const client = await connectAsync(url, { protocolVersion: 4, connectTimeout: 2000, reconnectPeriod: 0 });
    await client.endAsync();
    return true;
  } catch {
    return false;
  }
}

export interface GatewayAppDeps {
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** The YAML file the config came from; runtime device changes are saved into it. */
  readonly configFile?: string;
  /** BLE: bindings to drive instead of the platform's (tests: fake bindings), and timers that agree with `clock`. */
  readonly bleBindings?: NobleBindings;
  readonly bleTimers?: Timers;
}

/** Where a running gateway can be reached. */
export interface GatewayEndpoints {
  readonly http: string | null;
  readonly mqtt: string;
  readonly mqttEmbedded: boolean;
}

/**
 * The composition root: wires sources → pipeline → sinks from the configuration, and owns
 * start/stop order. Start: model (refuse to run without one) → broker/MQTT → pipeline →
 * HTTP → sources. Stop (SIGTERM): sources → pipeline drain (final events and states) →
 * MQTT drain + `offline` → HTTP → broker → model.
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
  private readonly sourceDeviceStates = new Subject<DeviceState>();
  /** Every device state change: tracker (replay, ingest) plus what BLE and cameras report. */
  private readonly deviceStates$: Observable<DeviceState>;

  private pipeline: Pipeline | undefined;
  private pipelineSubs: Subscription[] = [];
  private readonly activitySubject = new Subject<ActivityEvent>();
  private readonly stateSubject = new Subject<SubjectState>();
  private readonly decisionSubject = new Subject<HopDecision>();
  private readonly scoreSubject = new Subject<SubjectScores>();
  private readonly embeddingSubject = new Subject<WindowEmbedding>();
  private readonly modelSwaps = new Subject<ModelInfo>();
  /** End (data time) of each subject's newest window: where a live enrollment starts. */
  private readonly lastWindowEndNs = new Map<string, number>();
  private readonly repsSubject = new Subject<RepsEvent>();
  /** Repetition counting (config `reps`); fed the input samples and the activity events. */
  private reps: RepService | undefined;
  private readonly input = new Subject<SampleChunk>();
  private readonly subjectStates = new Map<string, SubjectState>();
  private readonly recent: ActivityEvent[] = [];
  private readonly sourceSubject = new Map<string, string>();
  /** Activity `seq`: never repeats across restarts (kept next to the MQTT spool, see docs/mqtt.md). */
  private eventSeq: SequenceFile | undefined;
  private seq = 0;
  private broker: EmbeddedBroker | undefined;
  private mqtt: MqttSink | undefined;
  private ingest: MqttImuIngest | undefined;
  private http: HttpServer | undefined;
  private replay: ReplaySource | undefined;
  private camera: CameraSource | undefined;
  private recorder: Recorder | undefined;
  private influx: InfluxSink | undefined;
  private influxTimer: NodeJS.Timeout | undefined;
  private recording: RecordingControl | undefined;
  /** IMU chunks on the gateway clock with a subject: what camera matching correlates with. */
  private readonly wearableImu = new Subject<ImuChunk>();
  private deviceTimer: NodeJS.Timeout | undefined;
  private inputSub: Subscription | undefined;
  private endpointsValue: GatewayEndpoints | undefined;
  private stopping: Promise<void> | undefined;

  /** Every activity event, every subject state (hot). */
  readonly activity$: Observable<ActivityEvent> = this.activitySubject.asObservable();
  readonly states$: Observable<SubjectState> = this.stateSubject.asObservable();
  /** Raw per-hop top-1 decisions before smoothing (for scoring against labels). */
  readonly decisions$: Observable<HopDecision> = this.decisionSubject.asObservable();
  /** Fused class probabilities per subject and hop, with the latency from window close. */
  readonly scores$: Observable<SubjectScores> = this.scoreSubject.asObservable();
  /** Every window embedding of the pipeline serving now (what enrollment learns from). */
  readonly embeddings$: Observable<WindowEmbedding> = this.embeddingSubject.asObservable();
  /** Enrollment of new classes and the model versions it makes. */
  readonly enrollment: EnrollmentService;
  /** Every repetition and set summary (what goes to `<base>/<gw>/subjects/<s>/reps`). */
  readonly reps$: Observable<RepsEvent> = this.repsSubject.asObservable();

  constructor(
    readonly config: GatewayConfig,
    deps: GatewayAppDeps = {},
  ) {
    this.logger = deps.logger ?? createLogger({ level: config.log.level, secrets: secretValues(config) });
    this.clock = deps.clock ?? systemClock;
    this.metrics = createMetricsRegistry();
    this.models = new ModelManager({
      dir: config.model.path,
      providers: config.model.providers,
      intraOpThreads: config.model.intraOpThreads,
      openSet: config.model.openSet,
      logger: this.logger,
      health: this.health,
      metrics: this.metrics,
    });
    this.enrollment = new EnrollmentService(
      { ...config.enrollment, bundledDir: config.model.path },
      {
        models: this.models,
        embeddings$: this.embeddings$,
        subjects: () => [...this.subjectStates.keys()],
        lastWindowEndNs: (subject) => this.lastWindowEndNs.get(subject),
        logger: this.logger,
      },
    );
    const unknownDevices = counter(
      this.metrics,
      'mujo_devices_unknown_total',
      'Devices not configured that sent data, by outcome: tracked, refused (messages while at ingest.unknownDevices.maxTracked), expired (idle).',
      ['outcome'],
    );
    this.devices = new DeviceTracker({
      gateway: config.gateway.id,
      clock: this.clock,
      unknown: config.ingest.unknownDevices,
      onUnknown: (outcome) => unknownDevices.inc({ outcome }),
    });
    this.deviceStates$ = merge(this.devices.states$, this.sourceDeviceStates);
    for (const subject of config.subjects) {
      for (const device of subject.devices) this.sourceSubject.set(device, subject.id);
      for (const track of subject.cameraTracks) this.sourceSubject.set(track, subject.id);
    }
    this.ble = config.ble.enabled ? this.createBle(deps) : undefined;
    this.deviceService = new DeviceService({
      ble: this.ble ?? null,
      store: deps.configFile !== undefined ? new ConfigFileDevices(deps.configFile) : null,
      logger: this.logger,
      onChange: (change, state) => {
        const subject = change.config?.subject;
        if (subject) this.ensureSubject(subject);
        if (state) this.sourceDeviceStates.next(state);
        else if (change.action === 'remove')
          this.sourceDeviceStates.next(this.removedDeviceState(change.device));
      },
    });
  }

  // ---- BLE wearables ---------------------------------------------------------------------

  /** Builds the BLE source (no I/O: noble is loaded in start()). A device's own `subject` wins over subjects[].devices. */
  private createBle(deps: GatewayAppDeps): BleSource {
    const { config } = this;
    const devices = config.ble.devices.map((d) => {
      const listed = d.id !== undefined ? this.sourceSubject.get(d.id) : undefined;
      if (d.subject !== undefined && listed !== undefined && listed !== d.subject) {
        this.logger.warn(
          { code: 'BLE_SUBJECT_CONFLICT', device: d.id, subject: d.subject, listed },
          `ble device '${d.id}' says subject '${d.subject}' but subjects lists it under '${listed}'; using '${d.subject}'`,
        );
      }
      return d.subject === undefined && listed !== undefined ? { ...d, subject: listed } : d;
    });
    return createBleSource(
      { ...config.ble, devices },
      {
        gatewayId: config.gateway.id,
        clock: this.clock,
        registry: this.metrics,
        health: this.health,
        logger: this.logger,
        ...(deps.bleBindings ? { bindings: deps.bleBindings } : {}),
        ...(deps.bleTimers ? { timers: deps.bleTimers } : {}),
      },
    );
  }

  /**
   * Chunks carry the subject the BLE source knows (config, then runtime assignments), so they
   * bypass `assign()`. Without Bluetooth the gateway keeps running its other sources; /health
   * shows `ble` down with BLE_UNAVAILABLE.
   */
  private async startBle(): Promise<void> {
    const ble = this.ble;
    if (!ble) return;
    for (const c of ble.deviceConfigs()) if (c.subject) this.ensureSubject(c.subject);
    ble.chunks$.subscribe((chunk) => this.input.next(chunk));
    ble.devices$.subscribe((state) => this.sourceDeviceStates.next(state));
    try {
      await ble.start();
    } catch (err) {
      this.logger.error({ code: errorCode(err) }, `BLE did not start: ${errorMessage(err)}`);
    }
  }

  private registerDeviceCommands(mqtt: MqttSink): void {
    const id = (args: Record<string, unknown>): string => {
      if (typeof args['device'] !== 'string' || args['device'] === '') {
        throw new GatewayError('DEVICE_INVALID', 'the request needs "device": "<device id>"');
      }
      return args['device'];
    };
    mqtt.registerCommand('add_device', (args) => this.deviceService.add(args['config'] ?? args));
    mqtt.registerCommand('remove_device', (args) => this.deviceService.remove(id(args)));
    mqtt.registerCommand('assign_device', (args) => {
      const { device: _device, ...assignment } = args;
      return this.deviceService.assign(id(args), assignment);
    });
  }

  /** Every device: replay/ingest ones from the tracker, BLE ones from the BLE source (its state is richer). */
  private deviceSnapshot(): DeviceState[] {
    const own = [...(this.ble?.devices() ?? []), ...(this.camera?.devices() ?? [])];
    const ownIds = new Set(own.map((d) => d.device));
    return [...this.devices.snapshot().filter((d) => !ownIds.has(d.device)), ...own];
  }

  private removedDeviceState(device: string): DeviceState {
    return {
      v: PAYLOAD_VERSION,
      gateway: this.config.gateway.id,
      device,
      kind: 'imu',
      subject: null,
      connected: false,
      battery: null,
      rssi: null,
      rateHz: null,
      dropped: 0,
      reconnects: 0,
      lastSeen: null,
    };
  }

  // -----------------------------------------------------------------------------------------

  get endpoints(): GatewayEndpoints {
    if (!this.endpointsValue) throw new GatewayError('APP_NOT_STARTED', 'the gateway has not started');
    return this.endpointsValue;
  }

  get replaySource(): ReplaySource | undefined {
    return this.replay;
  }

  async start(): Promise<GatewayEndpoints> {
    const { config } = this;
    this.health.set('gateway', { status: 'starting' });
    const model = await this.startModel();
    this.models.onSwap((next) => this.swapPipeline(next));

    await this.startMqtt();
    await this.startInflux();
    this.startReps();
    this.swapPipeline(model);
    this.inputSub = this.input.subscribe((chunk) => {
      this.devices.observe(chunk);
      this.pipeline?.push(chunk);
    });
    this.startRecorder();

    if (config.http.enabled) {
      this.http = createHttpServer({
        host: config.http.host,
        port: config.http.port,
        ...(config.http.token !== undefined ? { token: config.http.token } : {}),
        readAuth: config.http.readAuth,
        ...(config.http.tls.cert !== undefined && config.http.tls.key !== undefined
          ? { tls: { cert: readFileSync(config.http.tls.cert), key: readFileSync(config.http.tls.key) } }
          : {}),
        logger: this.logger,
        view: this.view(),
      });
      await this.http.start();
    }

    this.deviceStates$.subscribe((state) => this.mqtt?.publishDeviceState(state));
    await this.startSources();
    if (this.recording && config.recorder.autoStart) await this.recording.start({});
    this.deviceTimer = setInterval(() => this.devices.tick(), DEVICE_TICK_MS);
    this.deviceTimer.unref();
    this.devices.tick();

    this.health.set('gateway', { status: 'up', details: { version: SOFTWARE_VERSION } });
    const endpoints: GatewayEndpoints = {
      http: this.http?.url ?? null,
      mqtt: this.mqttUrl,
      mqttEmbedded: this.broker !== undefined,
    };
    this.endpointsValue = endpoints;
    this.logger.info({ endpoints: { ...endpoints, mqtt: redactUrl(endpoints.mqtt) } }, 'gateway started');
    return endpoints;
  }

  private mqttUrl = '';

  /**
   * The version enrollment last activated (enrollment.storeDir/active.json), else model.path.
   * An activated version that no longer loads is reported and the bundled model serves.
   */
  private async startModel(): Promise<OrtLoadedModel> {
    const dir = await this.enrollment.startDir();
    if (dir === this.enrollment.store.bundledDir) return this.models.start(this.config.model.path);
    try {
      return await this.models.start(dir);
    } catch (err) {
      this.logger.error(
        { code: errorCode(err), dir },
        `the active model version does not load (${errorMessage(err)}); starting with ${this.config.model.path}`,
      );
      return this.models.start(this.config.model.path);
    }
  }

  /** enroll, list_classes, list_versions, activate_version, rollback_model, remove_class. */
  private registerEnrollmentCommands(mqtt: MqttSink): void {
    const enrollment = this.enrollment;
    const { maxSeconds, graceS } = this.config.enrollment;
    mqtt.registerCommand('enroll', (args) => enrollment.enroll(args), {
      timeoutMs: (maxSeconds + graceS + 60) * 1000,
    });
    mqtt.registerCommand(
      'list_classes',
      () => {
        const model = this.models.requireCurrent();
        return { model: { name: model.name, version: model.version }, classes: enrollment.classes() };
      },
      { readOnly: true },
    );
    mqtt.registerCommand('list_versions', () => enrollment.versions(), { readOnly: true });
    mqtt.registerCommand('activate_version', (args) => {
      if (typeof args['version'] !== 'string' || args['version'] === '')
        throw new GatewayError('ENROLL_BAD_REQUEST', 'the request needs "version": "<version>"');
      return enrollment.activate(args['version']);
    });
    mqtt.registerCommand('rollback_model', () => enrollment.rollback());
    mqtt.registerCommand('remove_class', (args) => {
      if (typeof args['class'] !== 'string' || args['class'] === '')
        throw new GatewayError('ENROLL_BAD_REQUEST', 'the request needs "class": "<class id>"');
      return enrollment.removeClass(args['class']);
    });
  }

  /**
   * Repetition counting: every rep on MQTT (`reps`) and InfluxDB (`reps` points), and the
   * subject's retained state re-published with the new count (which the live page shows).
   */
  private startReps(): void {
    const { config } = this;
    if (!config.reps.enabled) return;
    this.reps = new RepService(
      {
        gateway: config.gateway.id,
        activities: config.reps.activities,
        restS: config.reps.restS,
        historyS: config.reps.historyS,
      },
      { clock: this.clock, nextSeq: () => this.nextSeq() },
    );
    const repsCounted = counter(
      this.metrics,
      'mujo_reps_total',
      'repetitions counted, by counting modality',
      ['modality'],
    );
    const setsEnded = counter(
      this.metrics,
      'mujo_rep_sets_total',
      'repetition sets ended (summaries published)',
    );
    this.reps.events$.subscribe((event) => {
      if (event.kind === 'rep') repsCounted.inc({ modality: event.modality });
      else setsEnded.inc();
      this.onReps(event);
    });
  }

  private onReps(event: RepsEvent): void {
    this.mqtt?.publishReps(event);
    this.repsSubject.next(event);
    if (event.kind !== 'rep') return;
    this.influx?.writeReps({
      subject: event.subject,
      activity: event.activity,
      count: event.count,
      timeNs: event.timeNs,
    });
    const state = this.subjectStates.get(event.subject);
    if (state && state.activity === event.activity) {
      this.publishState({ ...state, reps: event.count, updated: nsToIso(this.clock.nowNs()) }, false);
    }
  }

  private async startMqtt(): Promise<void> {
    const { config } = this;
    let url = config.mqtt.url;
    let protocolVersion: 4 | 5 = 5;
    if (url === undefined) {
      // No broker configured: run one in-process so the demo needs nothing installed.
      // aedes speaks MQTT 3.1.1 only, hence protocol 4 for our own client.
      try {
        this.broker = await startEmbeddedBroker({
          host: config.mqtt.embeddedHost,
          port: config.mqtt.embeddedPort,
          logger: this.logger,
          ...(config.mqtt.username !== undefined ? { username: config.mqtt.username } : {}),
          ...(config.mqtt.password !== undefined ? { password: config.mqtt.password } : {}),
        });
        url = this.broker.url;
        protocolVersion = this.broker.protocolVersion;
      } catch (err) {
        // Port taken: if a broker already answers there (a local mosquitto), use it rather
        // than refusing to start; otherwise the listen error stands.
        const local = `mqtt://${config.mqtt.embeddedHost === '0.0.0.0' ? '127.0.0.1' : config.mqtt.embeddedHost}:${config.mqtt.embeddedPort}`;
        if (!(await brokerAnswers(local))) throw err;
        this.logger.warn(
          { url: local, code: 'MQTT_EMBEDDED_PORT_TAKEN' },
          'embedded broker port is taken by a running MQTT broker: using that broker',
        );
        url = local;
        protocolVersion = 4;
      }
    }
    this.mqttUrl = url;
    await mkdir(config.mqtt.queue.spoolDir, { recursive: true });
    this.eventSeq = new SequenceFile({
      path: `${config.mqtt.queue.spoolDir}/event-seq.json`,
      logger: this.logger,
    });
    this.eventSeq.open();
    this.mqtt = new MqttSink(
      mqttSinkOptionsFromConfig(config.mqtt, {
        gatewayId: config.gateway.id,
        url,
        protocolVersion,
        logger: this.logger,
        registry: this.metrics,
        health: this.health,
        softwareVersion: SOFTWARE_VERSION,
        ...(config.http.token !== undefined ? { httpToken: config.http.token } : {}),
      }),
    );
    this.mqtt.registerCommand('status', () => this.status(), { readOnly: true });
    this.mqtt.registerCommand('reload_model', async () => this.modelInfo(await this.reloadModel()));
    this.registerDeviceCommands(this.mqtt);
    this.registerEnrollmentCommands(this.mqtt);
    await this.mqtt.start();
    this.announce(() => gatewayDiscovery(this.discoveryContext()));
  }

  /**
   * InfluxDB: activity, reps (from state), device state, optional downsampled IMU, and every
   * PIPELINE_STATS_MS a `pipeline` snapshot of the metrics. Starts before the sources so
   * nothing produced is missed; its own queue and spool keep points while the database is away.
   */
  private async startInflux(): Promise<void> {
    const { config } = this;
    if (!config.influx.enabled) return;
    const influx = new InfluxSink(
      influxSinkOptionsFromConfig(config.influx, {
        gatewayId: config.gateway.id,
        logger: this.logger,
        registry: this.metrics,
        health: this.health,
        clock: this.clock,
      }),
    );
    this.influx = influx;
    await influx.start();
    this.input.subscribe((chunk) => {
      if (chunk.modality === 'imu') influx.writeImu(chunk);
    });
    this.deviceStates$.subscribe((state) => influx.writeDevice(state));
    const sampler = new PipelineStatsSampler(this.metrics);
    this.influxTimer = setInterval(() => {
      void sampler
        .sample(this.clock.nowNs(), { mqtt: this.mqtt?.connected ?? false, influx: influx.connected })
        .then((stats) => influx.writePipeline(stats));
    }, PIPELINE_STATS_MS);
    this.influxTimer.unref();
  }

  /**
   * The recorder taps the input, where every source's chunks are already on the gateway clock
   * (sources map device clocks where samples enter).
   */
  private startRecorder(): void {
    const { config } = this;
    this.recorder = recorderFromConfig(config.recorder, {
      gatewayId: config.gateway.id,
      registry: this.metrics,
      health: this.health,
      logger: this.logger,
      clock: this.clock,
    });
    if (!this.recorder) return;
    const recorder = this.recorder;
    this.input.subscribe((chunk) => recorder.write(chunk));
    this.recording = new RecordingControl(
      recorder,
      () => {
        const model = this.models.current;
        return {
          subjects: [...this.subjectStates.keys()],
          devices: this.deviceSnapshot().map((d) => ({ id: d.device, kind: d.kind, subject: d.subject })),
          model: model ? { name: model.name, version: model.version } : null,
        };
      },
      this.clock,
    );
    const control = this.recording;
    if (this.mqtt) {
      this.mqtt.registerCommand('start_recording', (args) => control.start(args));
      this.mqtt.registerCommand('stop_recording', () => control.stop());
      this.mqtt.registerCommand('label', (args) => control.label(args));
      this.mqtt.registerCommand('recording_status', () => control.status(), { readOnly: true });
    }
  }

  private discoveryContext() {
    const mqtt = this.mqtt as MqttSink;
    return {
      prefix: this.config.mqtt.homeAssistant.discoveryPrefix,
      gatewayId: this.config.gateway.id,
      topics: mqtt.topics,
      softwareVersion: SOFTWARE_VERSION,
    };
  }

  /** Publishes Home Assistant discovery config (retained) when enabled. */
  private announce(build: () => DiscoveryMessage[]): void {
    if (!this.mqtt || !this.config.mqtt.homeAssistant.enabled) return;
    for (const m of build()) this.mqtt.publishRetained('discovery', m.topic, m.payload);
  }

  /** Registers a device for state tracking and announces it. */
  private trackDevice(device: Parameters<DeviceTracker['register']>[0]): void {
    this.devices.register(device);
    this.announce(() => deviceDiscovery(this.discoveryContext(), device.id));
  }

  private async startSources(): Promise<void> {
    const { config } = this;
    if (config.replay.enabled) {
      this.replay = await openReplaySource(config.replay.path, {
        speed: config.replay.speed,
        loop: config.replay.loop,
        withoutModalities: config.replay.withoutModalities,
      });
      for (const device of this.replay.devices) {
        this.trackDevice({
          id: device.id,
          kind: device.kind,
          subjectId: device.subjectId,
          sourceIds: device.sourceIds,
        });
      }
      for (const subject of this.replay.recording.subjects) this.ensureSubject(subject.id);
      this.replay.samples$.subscribe((chunk) => this.input.next(this.assign(chunk)));
      this.replay.start();
      this.health.set('replay', {
        status: 'up',
        details: { path: config.replay.path, speed: config.replay.speed, loop: config.replay.loop },
      });
    }
    for (const subject of config.subjects) this.ensureSubject(subject.id);
    if (config.ingest.enabled && this.mqtt) {
      const mqtt = this.mqtt;
      this.ingest = new MqttImuIngest({
        subscriber: mqtt,
        topics: mqtt.topics,
        subjectForDevice: (device) => this.sourceSubject.get(device),
        maxSamplesPerMessage: config.ingest.maxSamplesPerMessage,
        logger: this.logger,
        registry: this.metrics,
        clock: this.clock,
      });
      this.ingest.samples$.subscribe(({ chunk }) => {
        if (!this.devices.has(chunk.sourceId)) {
          const device = {
            id: chunk.sourceId,
            kind: 'imu' as const,
            subjectId: chunk.subjectId ?? null,
            sourceIds: [chunk.sourceId],
          };
          // Not configured: bounded and expiring (one client can send any number of ids).
          if (chunk.subjectId === undefined) this.devices.registerUnknown(device);
          else this.trackDevice(device);
        }
        this.input.next(chunk);
      });
      this.ingest.start();
    }
    await this.startBle();
    await this.startCameras();
  }

  /**
   * RTSP cameras → MoveNet → tracks → pose chunks. Tracks get their subject from zones or by
   * matching wrist motion against the wearables' IMU (every source's chunks are on the gateway
   * clock by the time they reach the input). A camera that fails is reported in /health and retried;
   * the rest of the gateway keeps running.
   */
  private async startCameras(): Promise<void> {
    const { config } = this;
    if (config.cameras.length === 0) return;
    this.input.subscribe((chunk) => {
      if (chunk.modality === 'imu' && chunk.subjectId !== undefined) {
        this.wearableImu.next(chunk);
      }
    });
    this.camera = createCameraSource(
      { cameras: config.cameras, matching: config.matching },
      {
        gatewayId: config.gateway.id,
        clock: this.clock,
        registry: this.metrics,
        health: this.health,
        logger: this.logger,
        createEstimator: moveNetEstimatorFactory({
          logger: this.logger,
          providers: config.model.providers,
          intraOpThreads: config.model.intraOpThreads,
        }),
        imu$: this.wearableImu,
      },
    );
    this.camera.chunks$.subscribe((chunk) => {
      if (chunk.subjectId !== undefined) this.ensureSubject(chunk.subjectId);
      this.input.next(this.assign(chunk));
    });
    this.camera.devices$.subscribe((state) => this.sourceDeviceStates.next(state));
    try {
      await this.camera.start();
    } catch (err) {
      this.logger.error({ code: errorCode(err) }, `cameras did not start: ${errorMessage(err)}`);
    }
  }

  /** Configuration assignments win over what a recording says. */
  private assign(chunk: SampleChunk): SampleChunk {
    const subjectId = this.sourceSubject.get(chunk.sourceId);
    return subjectId === undefined || subjectId === chunk.subjectId ? chunk : { ...chunk, subjectId };
  }

  private ensureSubject(id: string): void {
    if (this.subjectStates.has(id)) return;
    this.announce(() => subjectDiscovery(this.discoveryContext(), id, this.activityIds()));
    this.subjectStates.set(id, {
      v: PAYLOAD_VERSION,
      gateway: this.config.gateway.id,
      subject: id,
      activity: null,
      activityName: null,
      confidence: 0,
      since: null,
      reps: 0,
      updated: new Date(this.clock.nowNs() / 1e6).toISOString(),
      modalities: [],
      sources: [],
    });
  }

  /** What activity events can name: the model's classes, and `unknown` with an open set. */
  private activityIds(model: OrtLoadedModel | undefined = this.models.current): string[] {
    if (!model) return [];
    return [...model.classes.map((c) => c.id), ...(model.openSetThresholds ? [UNKNOWN_ACTIVITY] : [])];
  }

  /** Builds a pipeline on `model` and retires the previous one (drained in the background). */
  private swapPipeline(model: OrtLoadedModel): void {
    const { config } = this;
    const previous = this.pipeline;
    const previousSubs = this.pipelineSubs;
    const pipeline = createPipeline(
      model,
      {
        batching: {
          maxBatch: config.pipeline.maxBatch,
          maxWaitMs: config.pipeline.maxBatchWaitMs,
          queueCapacity: config.pipeline.queueCapacity,
        },
        fusion: { staleAfterHops: config.pipeline.staleAfterHops },
        smoothing: {
          gateway: config.gateway.id,
          emaAlpha: config.pipeline.smoothing.alpha,
          enterThreshold: config.pipeline.smoothing.enterThreshold,
          exitThreshold: config.pipeline.smoothing.exitThreshold,
          minDwellS:
            config.pipeline.smoothing.minDwellHops *
            Math.max(...model.encoders.map((e) => e.hopSamples / e.sampleRateHz)),
          stateIntervalS: config.pipeline.stateIntervalS,
        },
      },
      {
        clock: this.clock,
        logger: this.logger,
        metrics: this.metrics,
        nextSeq: () => this.nextSeq(),
      },
    );
    this.pipelineSubs = [
      pipeline.events$.subscribe((event) => this.onActivity(event)),
      pipeline.states$.subscribe((state) => this.onState(state)),
      pipeline.decisions$.subscribe((d) => this.decisionSubject.next(d)),
      pipeline.scores$.subscribe((s) => this.scoreSubject.next(s)),
      pipeline.embeddings$.subscribe((e) => {
        const { subjectId, endNs } = e.window;
        if (endNs > (this.lastWindowEndNs.get(subjectId) ?? -Infinity))
          this.lastWindowEndNs.set(subjectId, endNs);
        this.embeddingSubject.next(e);
      }),
      // The pipeline's chunks: device clocks (BLE, MQTT ingest) already mapped to the gateway's.
      pipeline.samples$.subscribe((chunk) => this.reps?.push(chunk)),
    ];
    this.pipeline = pipeline;
    this.reps?.setManifestSettings(
      Object.fromEntries(
        model.manifest.classes.flatMap((c): [string, RepActivityOverride][] =>
          c.reps ? [[c.id, c.reps]] : [],
        ),
      ),
    );
    this.mqtt?.setStatus(this.statusInfo(model));
    this.modelSwaps.next(this.modelInfo(model));
    // A model with other classes (enrollment, another version): Home Assistant learns them.
    if (previous) {
      for (const id of this.subjectStates.keys())
        this.announce(() => subjectDiscovery(this.discoveryContext(), id, this.activityIds(model)));
    }
    if (previous) {
      void previous.stop().finally(() => previousSubs.forEach((s) => s.unsubscribe()));
    }
  }

  /** One sequence for activity and reps events: persisted next to the MQTT spool when there is one. */
  private nextSeq(): number {
    return this.eventSeq ? this.eventSeq.next() : ++this.seq;
  }

  private onActivity(event: ActivityEvent): void {
    this.recent.push(event);
    if (this.recent.length > RECENT_EVENTS) this.recent.shift();
    this.mqtt?.publishActivity(event);
    this.influx?.writeActivity(event);
    this.activitySubject.next(event);
    this.reps?.onActivity(event);
  }

  private onState(state: SubjectState): void {
    this.publishState(this.reps ? { ...state, reps: this.reps.count(state.subject) } : state, true);
  }

  /** `toInflux` false for rep updates: their `reps` point is written from the rep event itself. */
  private publishState(state: SubjectState, toInflux: boolean): void {
    this.subjectStates.set(state.subject, state);
    this.mqtt?.publishSubjectState(state);
    if (toInflux) this.influx?.writeSubjectState(state);
    this.stateSubject.next(state);
  }

  async reloadModel(): Promise<OrtLoadedModel> {
    const result = await this.models.reload();
    if (!result.ok) throw result.error;
    return result.model;
  }

  private statusInfo(model: OrtLoadedModel) {
    return {
      model: { name: model.name, version: model.version },
      encoders: model.encoders.map((e) => ({ name: e.name, modality: e.modality, provider: e.provider })),
    };
  }

  /** The `status` command's answer. */
  status(): Record<string, unknown> {
    const model = this.models.current;
    return {
      gateway: this.config.gateway.id,
      version: SOFTWARE_VERSION,
      health: healthReport(this.health),
      model: model ? this.modelInfo(model) : null,
      subjects: [...this.subjectStates.values()],
      devices: this.deviceSnapshot(),
    };
  }

  modelInfo(model: OrtLoadedModel): ModelInfo {
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

  private view(): GatewayView {
    const mqttUrl = (): URL | null => {
      try {
        return new URL(this.mqttUrl);
      } catch {
        return null;
      }
    };
    return {
      info: () => {
        const url = mqttUrl();
        return {
          gateway: this.config.gateway.id,
          version: SOFTWARE_VERSION,
          mqtt: url
            ? {
                host: url.hostname,
                port: Number(url.port || (url.protocol === 'mqtts:' ? 8883 : 1883)),
                baseTopic: this.config.mqtt.baseTopic,
                mqtt311Only: this.broker !== undefined,
              }
            : null,
        };
      },
      health: () => healthReport(this.health),
      metricsRegistry: this.metrics,
      subjects: () => [...this.subjectStates.values()],
      devices: (): DeviceState[] => this.deviceSnapshot(),
      model: () => {
        const model = this.models.current;
        return model ? this.modelInfo(model) : null;
      },
      activity$: this.activity$,
      states$: this.states$,
      deviceStates$: this.deviceStates$,
      model$: this.modelSwaps.asObservable(),
      recentEvents: (n) => this.recent.slice(-n),
      reloadModel: async () => this.modelInfo(await this.reloadModel()),
      addDevice: (entry) => this.deviceService.add(entry),
      removeDevice: (id) => this.deviceService.remove(id),
      assignDevice: (id, assignment) => this.deviceService.assign(id, assignment),
      ...(this.recording ? { recording: this.recording } : {}),
      enrollment: this.enrollment,
    };
  }

  /** Graceful shutdown; safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const log = this.logger;
    log.info('gateway stopping');
    this.health.set('gateway', { status: 'stopped' });
    if (this.deviceTimer) clearInterval(this.deviceTimer);
    this.replay?.stop();
    // BLE links close before the pipeline drains; their final (disconnected) states still reach MQTT.
    await this.ble?.stop();
    await this.camera?.stop();
    this.wearableImu.complete();
    this.ingest?.stop();
    this.inputSub?.unsubscribe();
    // Drain: queued windows run, open slots are decided, activities end with final states,
    // and all of it is published before MQTT goes offline.
    await this.pipeline?.stop();
    // After the drain: the final `ended` events have closed every set, and the summaries are queued.
    this.reps?.complete();
    await this.recorder?.close();
    if (this.influxTimer) clearInterval(this.influxTimer);
    await this.influx?.stop();
    this.pipelineSubs.forEach((s) => s.unsubscribe());
    this.devices.tick();
    this.devices.complete();
    await this.mqtt?.stop();
    this.eventSeq?.close();
    await this.http?.stop();
    await this.broker?.close();
    await this.models.close();
    this.activitySubject.complete();
    this.stateSubject.complete();
    this.decisionSubject.complete();
    this.scoreSubject.complete();
    this.embeddingSubject.complete();
    this.modelSwaps.complete();
    this.repsSubject.complete();
    this.sourceDeviceStates.complete();
    log.info('gateway stopped');
  }
}
