// Long file: one service's commands (enroll live or from a recording, list, activate, roll back, remove) share one busy lock and one model swap; each is short.
import type { Observable } from 'rxjs';
import type { Modality } from '../domain/samples.ts';
import type { WindowEmbedding } from '../domain/windows.ts';
import { UNKNOWN_ACTIVITY } from '../domain/events.ts';
import type { ModelManager, OrtLoadedModel } from '../model/index.ts';
import type { EnrolledClass, ModelManifest } from '../model/manifest.ts';
import { GatewayError } from '../observability/errors.ts';
import type { Logger } from '../observability/logger.ts';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadRecording, type Recording } from '../sources/replay/recording.ts';
import { collectLive, recordingExamples, type Interval } from './examples.ts';
import { ModelStore, type ModelVersion } from './model-store.ts';
import {
  MODALITIES,
  applyEnrollment,
  classPrototypes,
  cosines,
  leaveOneOutScores,
  quantile,
  type ClassPrototypes,
  type Example,
  type PrototypeSet,
} from './prototypes.ts';

export interface EnrollmentOptions {
  /** Writable directory of model versions. */
  readonly storeDir: string;
  /** The bundled model directory (model.path): never written, always listed. */
  readonly bundledDir: string;
  /** Fewest windows a class may be enrolled from. */
  readonly minWindows: number;
  /** Longest live enrollment, s. */
  readonly maxSeconds: number;
  /** Live enrollment without `seconds`. */
  readonly defaultSeconds: number;
  /** Wall-clock slack past the interval before a live enrollment stops waiting for windows, s. */
  readonly graceS: number;
}

export interface EnrollmentDeps {
  readonly models: ModelManager;
  /** Every window embedding the running pipeline produces (all subjects). */
  readonly embeddings$: Observable<WindowEmbedding>;
  /** Subjects the gateway knows now. */
  readonly subjects: () => readonly string[];
  /** End (data time, ns) of the subject's newest window so far, if any. */
  readonly lastWindowEndNs: (subject: string) => number | undefined;
  readonly logger: Logger;
}

/** What `enroll` reports per class. */
export interface EnrolledSummary {
  readonly id: string;
  readonly name: string;
  readonly replaced: boolean;
  readonly k: number;
  readonly windows: Partial<Record<Modality, number>>;
  readonly modalities: readonly Modality[];
  /** Cosine of the examples to their new prototypes (a low mean: the examples disagree). */
  readonly score: { readonly min: number; readonly mean: number };
}

export interface EnrollResult {
  readonly model: { readonly name: string; readonly version: string; readonly dir: string };
  readonly previous: { readonly name: string; readonly version: string };
  readonly classes: readonly EnrolledSummary[];
  /** Collecting examples (live: the interval itself), building the version, loading it; ms. */
  readonly timings: { readonly collectMs: number; readonly buildMs: number; readonly loadMs: number };
  /** Open-set thresholds of the new version and where they come from. */
  readonly openSet: {
    readonly thresholds: Readonly<Partial<Record<string, number>>> | null;
    readonly from: 'parent' | 'enrollment' | 'none';
  };
  readonly warnings: readonly string[];
}

export interface ClassInfo {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  /** Enrolled at the gateway: examples and windows per modality; null for the model's own classes. */
  readonly enrolled: {
    readonly k: number;
    readonly windows: Partial<Record<Modality, number>> | null;
    readonly modalities: readonly Modality[];
    readonly source: EnrolledClass['source'];
  } | null;
}

const CLASS_ID = /^[a-z0-9][a-z0-9_]*$/;
/** Share of known-class windows the learnt open-set threshold may reject (as the trainer's default). */
const TARGET_KNOWN_REJECTION = 0.05;

function bad(message: string, details?: Record<string, unknown>): GatewayError {
  return new GatewayError('ENROLL_BAD_REQUEST', message, details ? { details } : {});
}

function str(args: Record<string, unknown>, key: string): string | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw bad(`"${key}" must be a non-empty string`);
  return v.trim();
}

function classId(value: string | undefined, field = 'class'): string {
  if (value === undefined) throw bad(`the request needs "${field}": "<class id>"`);
  if (!CLASS_ID.test(value))
    throw bad(`"${field}" must be lower-case snake_case (${CLASS_ID.source}), got ${JSON.stringify(value)}`);
  if (value === UNKNOWN_ACTIVITY)
    throw bad(`"${UNKNOWN_ACTIVITY}" is what the gateway announces when no class fits; pick another id`);
  return value;
}

function titleCase(id: string): string {
  const words = id.split('_').filter(Boolean).join(' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Enrolled classes may carry window counts beside the schema's fields (recorded as `windows`). */
type StoredClass = EnrolledClass & { readonly windows?: Partial<Record<Modality, number>> };

/**
 * Teaches the running model new classes without retraining: collects a class's window
 * embeddings (live or from a recording), computes its prototypes (prototypes.ts), writes a new
 * model version (model-store.ts) and swaps it in through the model manager. Versions can be
 * listed, activated and rolled back; a class can be removed. One change at a time
 * (ENROLL_BUSY); a refused or failed change leaves the running model serving.
 */
export class EnrollmentService {
  readonly store: ModelStore;
  private busy: string | null = null;
  private cachedRecording: { key: string; recording: Recording } | undefined;

  constructor(
    private readonly options: EnrollmentOptions,
    private readonly deps: EnrollmentDeps,
  ) {
    this.store = new ModelStore(options.storeDir, options.bundledDir);
  }

  /**
   * Parsing a long recording takes seconds; enrolling class after class from one recording
   * reuses it while its recording.json and labels.csv are unchanged.
   */
  private async recording(dir: string): Promise<Recording> {
    const stamp = async (file: string): Promise<string> => {
      try {
        const s = await stat(join(dir, file));
        return `${s.mtimeMs}:${s.size}`;
      } catch {
        return 'none';
      }
    };
    const key = `${resolve(dir)}|${await stamp('recording.json')}|${await stamp('labels.csv')}`;
    if (this.cachedRecording?.key !== key) {
      this.cachedRecording = { key, recording: await loadRecording(dir) };
    }
    return this.cachedRecording.recording;
  }

  /** The directory to start with: the store's active version if it has one, else the bundled model. */
  async startDir(): Promise<string> {
    const { active } = await this.store.readActive();
    return this.store.dirOf(active);
  }

  private async exclusive<T>(what: string, run: () => Promise<T>): Promise<T> {
    if (this.busy !== null) {
      throw new GatewayError('ENROLL_BUSY', `${this.busy} is running; try again when it has finished`, {
        details: { running: this.busy },
      });
    }
    this.busy = what;
    try {
      return await run();
    } finally {
      this.busy = null;
    }
  }

  /** Classes of the model serving now, with example counts for the enrolled ones. */
  classes(): ClassInfo[] {
    const model = this.deps.models.requireCurrent();
    const enrolled = new Map(
      ((model.manifest.enrollment?.classes ?? []) as readonly StoredClass[]).map((c) => [c.id, c]),
    );
    return model.classes.map((c) => {
      const e = enrolled.get(c.id);
      return {
        id: c.id,
        name: c.name,
        description: c.description,
        enrolled: e
          ? { k: e.k, windows: e.windows ?? null, modalities: e.modalities, source: e.source }
          : null,
      };
    });
  }

  async versions(): Promise<{
    active: ModelVersion | null;
    versions: (ModelVersion & { active: boolean })[];
  }> {
    const model = this.deps.models.current;
    const versions = (await this.store.list()).map((v) => ({ ...v, active: v.dir === model?.dir }));
    return { active: versions.find((v) => v.active) ?? null, versions };
  }

  /**
   * `{subject, class, seconds?, name?, description?}`: the subject's next `seconds` are the class.
   * `{recording, class?, subject?, intervals?: [{subject, startS, endS}], name?, description?}`:
   * labelled intervals of a recording (labels.csv, or the given intervals for `class`).
   */
  enroll(args: Record<string, unknown>): Promise<EnrollResult> {
    // Validate before taking the lock, so a malformed request never reports busy.
    const recording = str(args, 'recording');
    if (recording === undefined) {
      const subject = str(args, 'subject');
      if (subject === undefined) throw bad('the request needs "subject" (live) or "recording"');
      const id = classId(str(args, 'class'));
      const seconds = this.seconds(args['seconds']);
      if (!this.deps.subjects().includes(subject)) {
        throw new GatewayError(
          'ENROLL_UNKNOWN_SUBJECT',
          `no subject '${subject}' on this gateway (subjects: ${this.deps.subjects().join(', ') || 'none'})`,
          { details: { subject } },
        );
      }
      return this.exclusive(`enrollment of '${id}'`, () => this.enrollLive(subject, id, seconds, args));
    }
    const id = args['class'] === undefined ? undefined : classId(str(args, 'class'));
    return this.exclusive(`enrollment from ${recording}`, () => this.enrollRecording(recording, id, args));
  }

  private seconds(value: unknown): number {
    if (value === undefined) return this.options.defaultSeconds;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > this.options.maxSeconds)
      throw bad(
        `"seconds" must be a number in (0, ${this.options.maxSeconds}], got ${JSON.stringify(value)}`,
      );
    return value;
  }

  private async enrollLive(
    subject: string,
    id: string,
    seconds: number,
    args: Record<string, unknown>,
  ): Promise<EnrollResult> {
    const model = this.deps.models.requireCurrent();
    const started = performance.now();
    const longestWindowS = Math.max(...model.encoders.map((e) => e.windowSamples / e.sampleRateHz));
    const fromNs = this.deps.lastWindowEndNs(subject) ?? null;
    const examples = await collectLive(this.deps.embeddings$, {
      subject,
      seconds,
      fromNs,
      timeoutMs: (seconds + longestWindowS + this.options.graceS) * 1000,
    });
    const collectMs = performance.now() - started;
    if (examples.length === 0) {
      throw new GatewayError(
        'ENROLL_EMPTY_INTERVAL',
        `subject '${subject}' produced no complete window in the ${seconds} s after the request (are its sensors streaming?); nothing changed`,
        { details: { subject, seconds } },
      );
    }
    return this.commit(
      model,
      new Map([[id, examples]]),
      new Map([[id, { subjects: [subject], live: { seconds, requestedAt: new Date().toISOString() } }]]),
      args,
      collectMs,
    );
  }

  private async enrollRecording(
    dir: string,
    only: string | undefined,
    args: Record<string, unknown>,
  ): Promise<EnrollResult> {
    const model = this.deps.models.requireCurrent();
    const started = performance.now();
    const recording = await this.recording(dir);
    const subject = str(args, 'subject');
    let intervals: Interval[];
    if (args['intervals'] !== undefined) {
      if (only === undefined) throw bad('"intervals" need the "class" they are examples of');
      if (!Array.isArray(args['intervals']) || args['intervals'].length === 0)
        throw bad('"intervals" must be a non-empty array of {subject, startS, endS}');
      intervals = args['intervals'].map((raw, i) => {
        const r = (raw ?? {}) as Record<string, unknown>;
        const s = typeof r['subject'] === 'string' ? r['subject'] : subject;
        const startS = r['startS'];
        const endS = r['endS'];
        if (s === undefined || typeof startS !== 'number' || typeof endS !== 'number')
          throw bad(`intervals[${i}] must be {subject, startS, endS} (seconds from the recording's start)`);
        if (!(endS > startS))
          throw new GatewayError(
            'ENROLL_EMPTY_INTERVAL',
            `intervals[${i}] is empty: endS must exceed startS`,
          );
        return { subject: s, startNs: startS * 1e9, endNs: endS * 1e9, activity: only };
      });
    } else {
      intervals = recording.labels.filter(
        (l) =>
          (only === undefined || l.activity === only) && (subject === undefined || l.subject === subject),
      );
      if (intervals.length === 0) {
        throw new GatewayError(
          only === undefined ? 'ENROLL_EMPTY_INTERVAL' : 'ENROLL_UNKNOWN_CLASS',
          `${dir}/labels.csv has no interval${only === undefined ? '' : ` of '${only}'`}${subject === undefined ? '' : ` for subject '${subject}'`}`,
          { details: { recording: dir, class: only ?? null, subject: subject ?? null } },
        );
      }
    }
    const byClass = new Map<string, Example[]>();
    const sources = new Map<string, EnrolledClass['source']>();
    const perInterval: { classId: string; examples: Example[] }[] = [];
    for (const cls of [...new Set(intervals.map((i) => i.activity))]) {
      const id = classId(cls, 'labels.csv activity');
      const mine = intervals.filter((i) => i.activity === cls);
      const examples = await recordingExamples(recording, mine, model.encoders);
      for (const e of examples) perInterval.push({ classId: id, examples: e });
      byClass.set(id, examples.flat());
      sources.set(id, {
        recording: recording.dir,
        intervals: mine.map((i) => ({ subject: i.subject, startS: i.startNs / 1e9, endS: i.endNs / 1e9 })),
        subjects: [...new Set(mine.map((i) => i.subject))],
      });
    }
    return this.commit(model, byClass, sources, args, performance.now() - started, intervals, {
      perInterval,
      recording: recording.dir,
    });
  }

  private async commit(
    model: OrtLoadedModel,
    byClass: ReadonlyMap<string, Example[]>,
    sources: ReadonlyMap<string, EnrolledClass['source']>,
    args: Record<string, unknown>,
    collectMs: number,
    intervals?: readonly Interval[],
    calibration?: { perInterval: readonly { classId: string; examples: Example[] }[]; recording: string },
  ): Promise<EnrollResult> {
    const buildStarted = performance.now();
    const { minWindows } = this.options;
    const enrolled = new Map<string, ClassPrototypes>();
    const summaries: EnrolledSummary[] = [];
    const warnings: string[] = [];
    const name = str(args, 'name');
    const description = str(args, 'description');
    const manifestClasses = new Map(model.manifest.classes.map((c) => [c.id, c]));
    for (const [id, examples] of byClass) {
      if (examples.length < minWindows) {
        throw new GatewayError(
          'ENROLL_TOO_FEW_WINDOWS',
          `class '${id}' has ${examples.length} window${examples.length === 1 ? '' : 's'}, at least ${minWindows} are needed (enrollment.minWindows); record longer`,
          { details: { class: id, windows: examples.length, minWindows } },
        );
      }
      const p = classPrototypes(examples, model.embeddingDim);
      enrolled.set(id, p);
      const cos = cosines(examples, p);
      const mean = cos.reduce((a, b) => a + b, 0) / cos.length;
      const modalities = MODALITIES.filter((m) => p.counts[m] !== undefined);
      const threshold = model.openSetThresholds?.[modalities.join('+')];
      if (threshold !== undefined && mean < threshold) {
        warnings.push(
          `class '${id}': its examples' mean cosine to the new prototype (${mean.toFixed(3)}) is below the open-set threshold (${threshold}); expect 'unknown' for it`,
        );
      }
      const k = intervals ? intervals.filter((i) => i.activity === id).length : 1;
      summaries.push({
        id,
        name: (byClass.size === 1 ? name : undefined) ?? manifestClasses.get(id)?.name ?? titleCase(id),
        replaced: manifestClasses.has(id),
        k,
        windows: p.counts,
        modalities,
        score: { min: Math.min(...cos), mean },
      });
    }
    const base: PrototypeSet = {
      classIds: model.classes.map((c) => c.id),
      dim: model.embeddingDim,
      shared: model.prototypes,
      byModality: model.modalityPrototypes ?? {},
    };
    const prototypes = applyEnrollment(base, enrolled);
    const openSet = this.openSetFor(model, prototypes, args, calibration);
    const classes = prototypes.classIds.map((id) => {
      const summary = summaries.find((s) => s.id === id);
      const existing = manifestClasses.get(id);
      if (!summary) return existing!;
      const source = sources.get(id) ?? {};
      return {
        ...existing,
        id,
        name: summary.name,
        description:
          (byClass.size === 1 ? description : undefined) ??
          `Enrolled at the gateway from ${summary.k} example${summary.k === 1 ? '' : 's'} (${Object.entries(
            summary.windows,
          )
            .map(([m, n]) => `${n} ${m} windows`)
            .join(', ')}) of ${(source.subjects ?? []).join(', ') || 'a recording'}.`,
      };
    });
    const createdAt = new Date().toISOString();
    const newClasses: StoredClass[] = summaries.map((s) => ({
      id: s.id,
      k: s.k,
      modalities: s.modalities,
      windows: s.windows,
      source: sources.get(s.id) ?? {},
    }));
    const result = await this.writeAndActivate(
      model,
      prototypes,
      classes,
      newClasses,
      new Set(),
      createdAt,
      openSet.learnt,
    );
    const buildMs = result.buildStartedLoad - buildStarted;
    const loadMs = performance.now() - result.buildStartedLoad;
    this.deps.logger.info(
      { classes: summaries.map((s) => s.id), version: result.version, collectMs, buildMs, loadMs },
      `enrolled ${summaries.map((s) => s.id).join(', ')}: model ${model.name} ${result.version} serving`,
    );
    return {
      model: { name: model.name, version: result.version, dir: result.dir },
      previous: { name: model.name, version: model.version },
      classes: summaries,
      timings: { collectMs, buildMs, loadMs },
      openSet: openSet.report,
      warnings,
    };
  }

  /**
   * The new version's open-set thresholds. A parent with thresholds keeps them (the trainer
   * calibrated them on people the encoders never saw), unless the request says
   * `"calibrate": true`. Otherwise, from a recording whose classes have two or more intervals,
   * they are learnt as encoders/enroll_recording.py does: leave one interval out, score it
   * against the class re-enrolled from the others, threshold = the 5 % quantile of those scores
   * per modality set. A live enrollment (one interval) cannot learn them.
   */
  private openSetFor(
    model: OrtLoadedModel,
    prototypes: PrototypeSet,
    args: Record<string, unknown>,
    calibration:
      { perInterval: readonly { classId: string; examples: Example[] }[]; recording: string } | undefined,
  ): { learnt: ModelManifest['openSet'] | undefined; report: EnrollResult['openSet'] } {
    const parent = model.manifest.openSet;
    const kept = {
      learnt: undefined,
      report: { thresholds: parent?.thresholds ?? null, from: parent ? 'parent' : 'none' },
    } as const;
    if (parent && args['calibrate'] !== true) return kept;
    if (!calibration) return kept;
    const scores = leaveOneOutScores(prototypes, calibration.perInterval);
    const thresholds = Object.fromEntries(
      Object.entries(scores).map(([set, values]) => [set, quantile(values, TARGET_KNOWN_REJECTION)]),
    );
    if (Object.keys(thresholds).length === 0) return kept;
    const learnt: NonNullable<ModelManifest['openSet']> = {
      score: 'max-cosine',
      thresholds,
      calibration: {
        data: `leave-one-interval-out on the enrollment examples of ${calibration.recording} (classes with two or more intervals), at the gateway`,
        targetKnownRejection: TARGET_KNOWN_REJECTION,
        measured: Object.fromEntries(
          Object.entries(scores).map(([set, values]) => [set, { windows: values.length }]),
        ),
      },
    };
    return { learnt, report: { thresholds, from: 'enrollment' } };
  }

  /** Writes a version derived from `model`, loads it and records it as active. */
  private async writeAndActivate(
    model: OrtLoadedModel,
    prototypes: PrototypeSet,
    classes: ModelManifest['classes'],
    newClasses: readonly StoredClass[],
    removed: ReadonlySet<string>,
    createdAt: string,
    openSet?: ModelManifest['openSet'],
  ): Promise<{ dir: string; version: string; buildStartedLoad: number }> {
    const replaced = new Set([...newClasses.map((c) => c.id), ...removed]);
    const kept = (model.manifest.enrollment?.classes ?? []).filter((c) => !replaced.has(c.id));
    const changes = [
      ...newClasses.map((c) => `enrolled ${c.id}`),
      ...[...removed].map((id) => `removed ${id}`),
    ].join(', ');
    const written = await this.store.write({
      parent: model.manifest,
      parentDir: model.dir,
      prototypes,
      classes,
      enrollment: {
        parent: { name: model.name, version: model.version },
        createdAt,
        classes: [...kept, ...newClasses],
      },
      ...(openSet ? { openSet } : {}),
      description: `${model.manifest.description?.replace(/ Derived at the gateway: .*$/, '') ?? model.name} Derived at the gateway: ${changes} (from ${model.name} ${model.version}).`,
      createdAt,
    });
    const buildStartedLoad = performance.now();
    await this.activateDir(written.dir);
    return { ...written, buildStartedLoad };
  }

  /** Loads `dir`; on success records it active (the one before goes on the history). */
  private async activateDir(dir: string, history?: readonly (string | null)[]): Promise<OrtLoadedModel> {
    const previous = this.deps.models.dir;
    // Versions of one lineage differ in prototypes only: the encoders' sessions carry over.
    const result = await this.deps.models.reload(dir, { shareSessions: true });
    if (!result.ok) throw result.error;
    const state = await this.store.readActive();
    const entry = this.store.entryOf(dir);
    const previousEntry = this.store.entryOf(previous);
    await this.store.writeActive({
      active: entry ?? null,
      history: history ?? [...state.history, previousEntry ?? null].slice(-50),
    });
    return result.model;
  }

  /** Serves `version` (a version string, `<name>-<version>`, or `bundled`). */
  activate(version: string): Promise<{ model: { name: string; version: string; dir: string } }> {
    return this.exclusive(`activation of ${version}`, async () => {
      const versions = await this.store.list();
      const match = versions.find(
        (v) =>
          v.version === version ||
          `${v.name}-${v.version}` === version ||
          (version === 'bundled' && v.bundled),
      );
      if (!match) {
        throw new GatewayError(
          'ENROLL_UNKNOWN_VERSION',
          `no model version '${version}' (versions: ${versions.map((v) => v.version).join(', ')})`,
          { details: { version } },
        );
      }
      const model = await this.activateDir(match.dir);
      return { model: { name: model.name, version: model.version, dir: model.dir } };
    });
  }

  /** Serves the version that was active before the current one. */
  rollback(): Promise<{ model: { name: string; version: string; dir: string } }> {
    return this.exclusive('roll back', async () => {
      const state = await this.store.readActive();
      if (state.history.length === 0) {
        throw new GatewayError('ENROLL_NO_PREVIOUS', 'no earlier model version to roll back to');
      }
      const target = state.history[state.history.length - 1] ?? null;
      const model = await this.activateDir(this.store.dirOf(target), state.history.slice(0, -1));
      return { model: { name: model.name, version: model.version, dir: model.dir } };
    });
  }

  /** A new version without class `id`. */
  removeClass(
    id: string,
  ): Promise<{ model: { name: string; version: string; dir: string }; removed: string }> {
    return this.exclusive(`removal of '${id}'`, async () => {
      const model = this.deps.models.requireCurrent();
      if (!model.classes.some((c) => c.id === id)) {
        throw new GatewayError(
          'ENROLL_UNKNOWN_CLASS',
          `the model serving (${model.name} ${model.version}) has no class '${id}'`,
          { details: { class: id } },
        );
      }
      if (model.classes.length <= 2) {
        throw new GatewayError('ENROLL_TOO_FEW_CLASSES', 'a model keeps at least two classes');
      }
      const removed = new Set([id]);
      const prototypes = applyEnrollment(
        {
          classIds: model.classes.map((c) => c.id),
          dim: model.embeddingDim,
          shared: model.prototypes,
          byModality: model.modalityPrototypes ?? {},
        },
        new Map(),
        removed,
      );
      const classes = model.manifest.classes.filter((c) => c.id !== id);
      const written = await this.writeAndActivate(
        model,
        prototypes,
        classes,
        [],
        removed,
        new Date().toISOString(),
      );
      return { model: { name: model.name, version: written.version, dir: written.dir }, removed: id };
    });
  }
}
