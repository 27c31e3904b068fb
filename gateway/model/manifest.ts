import { Ajv2020 } from 'ajv/dist/2020.js';
import type { RepActivityOverride } from '../pipeline/reps/settings.ts';
import type { ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import manifestSchema from '../../config/schemas/model-manifest.schema.json' with { type: 'json' };
import { describeAjvErrors } from '../validation/messages.ts';
import { GatewayError } from '../observability/errors.ts';
import type { Modality } from '../domain/samples.ts';

/** The manifest as config/schemas/model-manifest.schema.json defines it (the fields the gateway reads). */
export interface EncoderManifest {
  readonly name: string;
  readonly modality: Modality;
  readonly file: string;
  readonly sha256: string;
  readonly opset?: number;
  readonly input: {
    readonly name: string;
    readonly shape: readonly (number | string)[];
    readonly dtype: 'float32';
  };
  readonly output: {
    readonly name: string;
    readonly shape: readonly (number | string)[];
    readonly normalised: true;
  };
  readonly sampleRateHz: number;
  readonly windowSamples: number;
  readonly hopSamples: number;
  readonly channels: readonly string[];
  readonly units: readonly string[];
  readonly placements?: readonly string[];
  readonly normalisation?: Record<string, unknown>;
  readonly params?: number;
}

/** A float32 [classes, embeddingDim] file referenced by the manifest. */
export interface PrototypeFile {
  readonly file: string;
  readonly sha256: string;
  readonly dtype: 'float32';
  readonly shape: readonly number[];
}

/** The modality sets open-set thresholds are given for: sorted modalities joined with '+'. */
export type ModalitySetKey = 'imu' | 'pose' | 'imu+pose';

export interface OpenSetManifest {
  readonly score: 'max-cosine';
  readonly thresholds: Partial<Record<ModalitySetKey, number>>;
  readonly calibration?: Record<string, unknown>;
}

/** Provenance of a class enrolled at the gateway (no retraining). */
export interface EnrolledClass {
  readonly id: string;
  /** Windows the prototypes were computed from. */
  readonly k: number;
  readonly modalities: readonly Modality[];
  /** Where the examples came from (free-form; the gateway writes these keys). */
  readonly source?: {
    readonly recording?: string;
    readonly intervals?: readonly Record<string, unknown>[];
    readonly subjects?: readonly string[];
    readonly live?: Record<string, unknown>;
  };
}

export interface EnrollmentManifest {
  readonly parent: { readonly name: string; readonly version: string };
  readonly createdAt: string;
  readonly classes: readonly EnrolledClass[];
}

export interface ModelManifest {
  readonly schemaVersion: 1;
  readonly name: string;
  readonly version: string;
  readonly createdAt: string;
  readonly description?: string;
  readonly embeddingDim: number;
  readonly temperature: number;
  readonly classes: readonly {
    readonly id: string;
    readonly name: string;
    readonly description: string;
    readonly sourceLabel?: string | number;
    /** How this class's repetitions are counted (gateway/pipeline/reps/settings.ts); config wins. */
    readonly reps?: RepActivityOverride;
  }[];
  readonly prototypes: {
    readonly file: string;
    readonly sha256: string;
    readonly dtype: 'float32';
    readonly shape: readonly number[];
    readonly source: string;
    /** Per-modality prototypes; a modality without a file uses the shared one. */
    readonly modalities?: Partial<Record<Modality, PrototypeFile>>;
  };
  readonly encoders: readonly EncoderManifest[];
  readonly fusion: { readonly method: 'mean-logits' };
  readonly openSet?: OpenSetManifest;
  readonly enrollment?: EnrollmentManifest;
  readonly pose?: {
    readonly layout: 'coco17';
    readonly keypoints: readonly string[];
    readonly coordinates: string;
    readonly normalisation?: string;
  };
  readonly training: Record<string, unknown>;
  readonly testVectors?: { readonly file: string; readonly sha256: string; readonly tolerance: number };
}

// ajv-formats is CommonJS with a default export; under NodeNext its type is the module namespace.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

let compiled: ValidateFunction | undefined;
function validator(): ValidateFunction {
  if (!compiled) {
    const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: false });
    addFormats(ajv);
    compiled = ajv.compile(manifestSchema);
  }
  return compiled;
}

/** `$.encoders[0].sha256`: the JSON path of a manifest value. */
export function jsonPath(path: readonly (string | number)[]): string {
  return `$${path.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('')}`;
}

/** The per-window input layout the gateway builds: IMU [6, T], pose [T, 17, 3] (without batch). */
export function expectedInputDims(encoder: EncoderManifest): number[] {
  return encoder.modality === 'imu'
    ? [encoder.channels.length, encoder.windowSamples]
    : [encoder.windowSamples, 17, 3];
}

/** Rules the JSON Schema cannot express; each names the JSON path. */
function crossFieldProblems(m: ModelManifest): string[] {
  const problems: string[] = [];
  const shapes: [(string | number)[], readonly number[]][] = [[['prototypes', 'shape'], m.prototypes.shape]];
  for (const [modality, file] of Object.entries(m.prototypes.modalities ?? {}))
    shapes.push([['prototypes', 'modalities', modality, 'shape'], file.shape]);
  for (const [path, shape] of shapes) {
    const [rows, cols] = shape;
    if (rows !== m.classes.length || cols !== m.embeddingDim) {
      problems.push(
        `${jsonPath(path)}: got ${JSON.stringify(shape)}, expected [${m.classes.length}, ${m.embeddingDim}] (classes, embeddingDim)`,
      );
    }
  }
  const classIds = new Set<string>();
  m.classes.forEach((c, i) => {
    if (classIds.has(c.id))
      problems.push(`${jsonPath(['classes', i, 'id'])}: got "${c.id}", expected a unique class id`);
    classIds.add(c.id);
  });
  const names = new Set<string>();
  m.encoders.forEach((e, i) => {
    if (names.has(e.name))
      problems.push(`${jsonPath(['encoders', i, 'name'])}: got "${e.name}", expected a unique encoder name`);
    names.add(e.name);
    const dims = e.input.shape.slice(1);
    const expected = expectedInputDims(e);
    if (dims.length !== expected.length || dims.some((d, k) => d !== expected[k])) {
      problems.push(
        `${jsonPath(['encoders', i, 'input', 'shape'])}: got ${JSON.stringify(e.input.shape)}, expected ${JSON.stringify(['batch', ...expected])} ` +
          `(${e.modality === 'imu' ? 'channels, windowSamples' : 'windowSamples, 17 keypoints, x/y/score'})`,
      );
    }
    const outDim = e.output.shape[1];
    if (outDim !== m.embeddingDim) {
      problems.push(
        `${jsonPath(['encoders', i, 'output', 'shape'])}: got ${JSON.stringify(e.output.shape)}, expected ["batch", ${m.embeddingDim}] (embeddingDim)`,
      );
    }
    if (e.hopSamples > e.windowSamples) {
      problems.push(
        `${jsonPath(['encoders', i, 'hopSamples'])}: got ${e.hopSamples}, expected at most windowSamples (${e.windowSamples})`,
      );
    }
  });
  return problems;
}

/**
 * Validates parsed manifest JSON against the schema and the cross-field rules.
 * Throws MODEL_MANIFEST_INVALID listing every problem by JSON path.
 */
export function validateManifest(data: unknown, file: string): ModelManifest {
  const validate = validator();
  let problems: string[];
  if (validate(data)) {
    problems = crossFieldProblems(data as ModelManifest);
  } else {
    problems = describeAjvErrors(validate.errors ?? []).map((p) => `${jsonPath(p.path)}: ${p.message}`);
  }
  if (problems.length === 0) return data as ModelManifest;
  throw new GatewayError(
    'MODEL_MANIFEST_INVALID',
    `${file} is not a valid model manifest (config/schemas/model-manifest.schema.json):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    { details: { file, problems } },
  );
}
