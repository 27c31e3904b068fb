import type { Timers } from '../../clock/timers.ts';
import { Subscription, type Observable } from 'rxjs';
import type { SampleChunk } from '../../domain/samples.ts';
import type { Clock } from '../../domain/time.ts';
import type { HealthRegistry } from '../../observability/health.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Registry } from '../../observability/metrics.ts';
import type { Service } from '../../service.ts';
import { RecordingControl, type RecordingContext } from './control.ts';
import { recorderFromConfig } from './from-config.ts';
import type { Recorder } from './recorder.ts';

type RecorderConfig = Parameters<typeof recorderFromConfig>[0];

export interface RecorderServiceDeps {
  readonly gatewayId: string;
  readonly registry: Registry;
  readonly health: HealthRegistry;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Timers that agree with `clock` (tests: virtual). */
  readonly timers?: Timers;
  /** Every source's chunks, already on the gateway clock (sources map device clocks where samples enter). */
  readonly input$: Observable<SampleChunk>;
  /** Subjects, devices and model written into each recording. */
  readonly context: RecordingContext;
}

/** The recorder (config `recorder`) tapping the input, and its control (HTTP, MQTT). */
export class RecorderService implements Service {
  readonly name = 'recorder';
  private recorder: Recorder | undefined;
  private controlValue: RecordingControl | undefined;
  private readonly subscription = new Subscription();

  constructor(
    private readonly config: RecorderConfig,
    private readonly deps: RecorderServiceDeps,
  ) {}

  /** Present once started, when the recorder is enabled. */
  get control(): RecordingControl | undefined {
    return this.controlValue;
  }

  start(): void {
    const { deps } = this;
    const recorder = recorderFromConfig(this.config, {
      gatewayId: deps.gatewayId,
      registry: deps.registry,
      health: deps.health,
      logger: deps.logger,
      clock: deps.clock,
      ...(deps.timers ? { timers: deps.timers } : {}),
    });
    if (!recorder) return;
    this.recorder = recorder;
    this.subscription.add(deps.input$.subscribe((chunk) => recorder.write(chunk)));
    this.controlValue = new RecordingControl(recorder, deps.context, deps.clock);
  }

  async stop(): Promise<void> {
    this.subscription.unsubscribe();
    await this.recorder?.close();
  }
}

/** Starts a recording once every source runs (config `recorder.autoStart`). */
export class RecordingAutoStart implements Service {
  readonly name = 'recording-autostart';

  constructor(
    private readonly recorder: RecorderService,
    private readonly enabled: boolean,
  ) {}

  async start(): Promise<void> {
    const recording = this.recorder.control;
    if (recording && this.enabled) await recording.start({});
  }

  stop(): void {}
}
