import { realTimers, repeat, type Repeating, type Timers } from '../../clock/timers.ts';
import { Subject, type Observable, type Subscription } from 'rxjs';
import { PAYLOAD_VERSION, type DeviceState } from '../../domain/events.ts';
import type { ImuChunk, PoseChunk } from '../../domain/samples.ts';
import { nsToIso, type Clock } from '../../domain/time.ts';
import { errorCode, errorMessage } from '../../observability/errors.ts';
import type { HealthRegistry } from '../../observability/health.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Registry } from '../../observability/metrics.ts';
import { WearableMatcher, type MatchChange } from './matching.ts';
import { cameraMetrics, type CameraMetrics } from './metrics.ts';
import { Value } from '@sinclair/typebox/value';
import {
  CameraSchema,
  redactUrl,
  type CameraConfig,
  type MatchingConfig,
  type ZoneConfig,
} from './options.ts';
import { RtspReader, type BackoffOptions, type ReaderStatus } from './rtsp-reader.ts';
import { PersonTracker, type Box } from './tracker.ts';
import type { PoseEstimator, PoseEstimatorFactory, PoseModelName } from './types.ts';

/*
 * Cameras as a sample source: per camera an ffmpeg reader → pose estimator → tracker, each
 * confirmed track a pose stream `<camera>/<track>`. Its subject comes from the camera's
 * zones, else from automatic matching against the wearables' IMU (one matcher across all
 * cameras, fed by `deps.imu$`). A person who leaves the view ends their stream (the
 * pipeline carries on with their IMU alone); when they come back a new track is matched again.
 */

type CameraOptions = Pick<CameraConfig, 'id' | 'url'> & Partial<Omit<CameraConfig, 'id' | 'url'>>;

export interface CameraSourceOptions {
  readonly cameras: readonly CameraOptions[];
  readonly matching?: Partial<MatchingConfig>;
}

export interface CameraSourceDeps {
  readonly gatewayId: string;
  readonly clock: Clock;
  readonly registry: Registry;
  readonly health: HealthRegistry;
  readonly logger?: Logger;
  /** Makes a pose estimator for a model name; called once per distinct model in start(). */
  readonly createEstimator: PoseEstimatorFactory;
  /** The wearables' IMU chunks (with subject and placement), for automatic matching. */
  readonly imu$?: Observable<ImuChunk>;
  readonly ffmpegPath?: string;
  readonly random?: () => number;
  /** Reader retry tuning beyond the config (tests). */
  readonly backoff?: Partial<BackoffOptions>;
  /** The readers' watchdogs, backoff and fps cap, and the periodic state. Default: real timers. */
  readonly timers?: Timers;
}

export interface CameraTrackInfo {
  readonly sourceId: string;
  readonly subject: string | null;
  readonly via: 'zone' | 'matching' | null;
}

export interface CameraSource {
  readonly chunks$: Observable<PoseChunk>;
  /** Camera state on every connection change and every 5 s. */
  readonly devices$: Observable<DeviceState>;
  /** Pairings made, switched and released by automatic matching. */
  readonly matches$: Observable<MatchChange>;
  start(): Promise<void>;
  stop(): Promise<void>;
  devices(): DeviceState[];
  /** Tracks seen in each camera's latest frame, with their subject. */
  tracks(): CameraTrackInfo[];
  readonly readers: ReadonlyMap<string, RtspReader>;
  readonly matcher: WearableMatcher | undefined;
}

const DEFAULT_MATCHING: MatchingConfig = {
  enabled: true,
  windowS: 4,
  hopS: 0.5,
  minCorrelation: 0.3,
  minMargin: 0.05,
  lockS: 1,
  switchMargin: 0.15,
  switchS: 4,
  releaseS: 20,
  binS: 0.1,
  poseFeature: 'speed',
  maxLagS: 0.3,
};
const STATE_INTERVAL_MS = 5000;
const MIN_KEYPOINT_SCORE = 0.2;

interface CameraEntry {
  readonly config: Required<Omit<CameraOptions, 'zones'>> & { zones: readonly ZoneConfig[] };
  readonly reader: RtspReader;
  readonly tracker: PersonTracker;
  estimator?: PoseEstimator;
  loop?: Promise<void>;
  estimateErrors: number;
  current: CameraTrackInfo[];
}

export function createCameraSource(options: CameraSourceOptions, deps: CameraSourceDeps): CameraSource {
  const logger = deps.logger?.child({ component: 'camera' });
  const metrics: CameraMetrics = cameraMetrics(deps.registry);
  const chunks$ = new Subject<PoseChunk>();
  const devices$ = new Subject<DeviceState>();
  const matches$ = new Subject<MatchChange>();
  const matching = { ...DEFAULT_MATCHING, ...options.matching };
  const matcher = matching.enabled ? new WearableMatcher(matching) : undefined;
  const cameras = new Map<string, CameraEntry>();
  const subs: Subscription[] = [];
  const timers = deps.timers ?? realTimers;
  let stateTicks: Repeating | undefined;
  let running = false;

  for (const c of options.cameras) {
    if (c.enabled === false) continue;
    // Options given in code (tests, tools) may be partial: the schema's defaults fill the rest.
    const config = { ...(Value.Default(CameraSchema, { ...c }) as CameraConfig), zones: c.zones ?? [] };
    const reader = new RtspReader(
      {
        cameraId: config.id,
        url: config.url,
        width: config.width,
        height: config.height,
        fps: config.fps,
        transport: config.transport,
        stallTimeoutMs: config.stallTimeoutMs,
        connectTimeoutMs: config.connectTimeoutMs,
        ...(deps.backoff ? { backoff: deps.backoff } : {}),
      },
      {
        clock: deps.clock,
        registry: deps.registry,
        ...(logger ? { logger } : {}),
        ...(deps.ffmpegPath ? { ffmpegPath: deps.ffmpegPath } : {}),
        timers,
        ...(deps.random ? { random: deps.random } : {}),
      },
    );
    // Single-pose models find one person per frame; the tracker still gives them a stable id.
    const tracker = new PersonTracker({ aspect: config.width / config.height });
    cameras.set(config.id, { config, reader, tracker, estimateErrors: 0, current: [] });
  }

  function emitChanges(changes: readonly MatchChange[]): void {
    for (const ch of changes) {
      metrics.matchAssignments.inc({ result: ch.kind });
      logger?.info(
        { subject: ch.subject, track: ch.track, correlation: Math.round(ch.correlation * 100) / 100 },
        `matching: ${ch.kind}`,
      );
      matches$.next(ch);
    }
  }

  async function runCamera(cam: CameraEntry): Promise<void> {
    const { config, reader, tracker } = cam;
    const aspect = config.width / config.height;
    for (;;) {
      const frame = await reader.next();
      if (!frame || !running) return;
      const t0 = performance.now();
      let persons;
      try {
        persons = await (cam.estimator as PoseEstimator).estimate(frame.data, frame.width, frame.height);
      } catch (err) {
        cam.estimateErrors++;
        metrics.dropped.inc({ camera: config.id, reason: 'estimate_error' });
        if (cam.estimateErrors === 1 || cam.estimateErrors % 100 === 0)
          logger?.error(
            { camera: config.id, code: errorCode(err), count: cam.estimateErrors },
            `pose estimation failed: ${errorMessage(err)}`,
          );
        continue;
      }
      metrics.estimateSeconds.observe({ camera: config.id }, (performance.now() - t0) / 1e3);
      const people = persons.filter((p) => p.score >= config.minPersonScore);
      metrics.persons.inc({ camera: config.id }, people.length);
      const u = tracker.update(people, frame.tNs);
      for (const id of u.expired) if (matcher) emitChanges(matcher.removeTrack(`${config.id}/${id}`));
      const zoneSubjects = new Set<string>();
      const current: CameraTrackInfo[] = [];
      const viaZone = new Map<number, string>();
      for (const p of u.active) {
        const z = zoneOf(config.zones, p.keypoints, p.box);
        if (z) {
          viaZone.set(p.trackId, z);
          zoneSubjects.add(z);
        }
      }
      for (const p of u.active) {
        const sourceId = `${config.id}/${p.trackId}`;
        let subject = viaZone.get(p.trackId) ?? null;
        let via: CameraTrackInfo['via'] = subject ? 'zone' : null;
        if (!subject && matcher) {
          matcher.addPose(sourceId, frame.tNs, p.keypoints, aspect);
          const m = matcher.subjectOf(sourceId);
          // A subject a zone already places in this camera is not also given to another track.
          if (m && !zoneSubjects.has(m)) {
            subject = m;
            via = 'matching';
          }
        }
        current.push({ sourceId, subject, via });
        metrics.poseFrames.inc({ camera: config.id, assigned: subject ? 'yes' : 'no' });
        chunks$.next({
          modality: 'pose',
          sourceId,
          ...(subject ? { subjectId: subject } : {}),
          tNs: Float64Array.of(frame.tNs),
          values: p.keypoints,
        });
      }
      cam.current = current;
      metrics.tracks.set({ camera: config.id }, u.active.length);
      if (matcher) {
        const upd = matcher.maybeEvaluate(deps.clock.nowNs());
        if (upd) emitChanges(upd.changes);
      }
    }
  }

  function toState(cam: CameraEntry): DeviceState {
    const s = cam.reader.stats();
    return {
      v: PAYLOAD_VERSION,
      gateway: deps.gatewayId,
      device: cam.config.id,
      kind: 'camera',
      subject: null,
      connected: s.connected,
      battery: null,
      rssi: null,
      rateHz: s.rateHz === null ? null : Math.round(s.rateHz * 10) / 10,
      // Frames lost, not frames skipped on purpose (the fps cap).
      dropped: s.dropped.superseded + s.dropped.partial + s.gapFrames,
      reconnects: s.reconnects,
      lastSeen: s.lastFrameNs === null ? null : nsToIso(s.lastFrameNs),
    };
  }

  function updateHealth(): void {
    const statuses = [...cameras.values()].map((c) => c.reader.status());
    const up = statuses.filter((s) => s.connected).length;
    const worst = statuses.find((s) => !s.connected && s.error)?.error;
    deps.health.set('camera', {
      status:
        statuses.length === 0 || up === statuses.length ? 'up' : up === 0 && worst ? 'down' : 'degraded',
      ...(worst && up < statuses.length ? { error: { ...worst, at: nsToIso(deps.clock.nowNs()) } } : {}),
      details: {
        cameras: Object.fromEntries(
          [...cameras.values()].map((c) => [
            c.config.id,
            {
              url: redactUrl(c.config.url),
              model: c.config.model,
              ...c.reader.stats(),
              error: c.reader.status().error?.code ?? null,
            },
          ]),
        ),
        matching: matcher ? Object.fromEntries(matcher.assignments()) : 'disabled',
      },
    });
  }

  async function start(): Promise<void> {
    if (running) return;
    running = true;
    deps.health.set('camera', { status: 'starting' });
    const estimators = new Map<PoseModelName, Promise<PoseEstimator>>();
    for (const cam of cameras.values()) {
      const model = cam.config.model;
      if (!estimators.has(model)) estimators.set(model, deps.createEstimator(model));
    }
    try {
      for (const cam of cameras.values()) cam.estimator = await estimators.get(cam.config.model)!;
    } catch (err) {
      running = false;
      deps.health.set('camera', {
        status: 'down',
        error: { code: errorCode(err), message: errorMessage(err), at: nsToIso(deps.clock.nowNs()) },
      });
      throw err;
    }
    if (matcher && deps.imu$)
      subs.push(
        deps.imu$.subscribe((c) => matcher.addImu(c.sourceId, c.subjectId, c.placement, c.tNs, c.values)),
      );
    for (const cam of cameras.values()) {
      subs.push(
        cam.reader.status$.subscribe((s: ReaderStatus) => {
          devices$.next(toState(cam));
          updateHealth();
          if (s.fatal)
            logger?.error(
              { camera: cam.config.id, code: s.error?.code },
              s.error?.message ?? 'camera failed',
            );
        }),
      );
      cam.reader.start();
      cam.loop = runCamera(cam).catch((err: unknown) => {
        logger?.error(
          { camera: cam.config.id, code: errorCode(err) },
          `camera loop failed: ${errorMessage(err)}`,
        );
      });
      logger?.info(
        { camera: cam.config.id, url: redactUrl(cam.config.url), model: cam.config.model },
        'camera started',
      );
    }
    stateTicks = repeat(timers, STATE_INTERVAL_MS, () => {
      for (const cam of cameras.values()) devices$.next(toState(cam));
      updateHealth();
    });
    updateHealth();
  }

  async function stop(): Promise<void> {
    if (!running) return;
    running = false;
    stateTicks?.cancel();
    await Promise.all([...cameras.values()].map((c) => c.reader.stop()));
    await Promise.all([...cameras.values()].map((c) => c.loop));
    for (const s of subs.splice(0)) s.unsubscribe();
    const closed = new Set<PoseEstimator>();
    for (const cam of cameras.values())
      if (cam.estimator && !closed.has(cam.estimator)) {
        closed.add(cam.estimator);
        await cam.estimator.close?.();
      }
    deps.health.set('camera', { status: 'stopped' });
    chunks$.complete();
    devices$.complete();
    matches$.complete();
  }

  return {
    chunks$: chunks$.asObservable(),
    devices$: devices$.asObservable(),
    matches$: matches$.asObservable(),
    start,
    stop,
    devices: () => [...cameras.values()].map(toState),
    tracks: () => [...cameras.values()].flatMap((c) => c.current),
    readers: new Map([...cameras].map(([id, c]) => [id, c.reader])),
    matcher,
  };
}

/** The zone a person stands in: by their hips, else shoulders, else the box centre. */
export function zoneOf(zones: readonly ZoneConfig[], kp: Float32Array, box: Box): string | null {
  if (zones.length === 0) return null;
  const point = midpoint(kp, 11, 12) ?? midpoint(kp, 5, 6) ?? [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2];
  const [x, y] = point;
  for (const z of zones) if (x >= z.x0 && x <= z.x1 && y >= z.y0 && y <= z.y1) return z.subject;
  return null;
}

function midpoint(kp: Float32Array, a: number, b: number): [number, number] | null {
  if ((kp[a * 3 + 2] ?? 0) < MIN_KEYPOINT_SCORE || (kp[b * 3 + 2] ?? 0) < MIN_KEYPOINT_SCORE) return null;
  return [((kp[a * 3] ?? 0) + (kp[b * 3] ?? 0)) / 2, ((kp[a * 3 + 1] ?? 0) + (kp[b * 3 + 1] ?? 0)) / 2];
}
