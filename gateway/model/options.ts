import { Type, type Static } from '@sinclair/typebox';
import { EXECUTION_PROVIDERS } from '../domain/execution-provider.ts';
import { Section, StringEnum } from '../domain/option-schema.ts';

export const INFERENCE_THREADS = ['worker', 'main'] as const;
export type InferenceThreadKind = (typeof INFERENCE_THREADS)[number];

/* The `model` config section: which model to load and how to run it (composed by gateway/config). */

export const ModelOptionsSchema = Section(
  {
    path: Type.String({
      minLength: 1,
      default: 'models/default',
      description: 'Model directory (manifest.json + ONNX files), relative to the working directory.',
    }),
    providers: Type.Array(StringEnum(EXECUTION_PROVIDERS), {
      minItems: 1,
      uniqueItems: true,
      default: ['tensorrt', 'cuda', 'cpu'],
      description:
        'onnxruntime execution providers, tried in order per encoder; the first that loads is used and reported in /health and on MQTT.',
    }),
    intraOpThreads: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 1,
      description:
        "Threads per ONNX session. 1 by default: the small encoders run micro-batches, and onnxruntime's spinning thread pool cost 2.7x per window and ~35 % of a core at idle on 2 cores (bench/pipeline). Raise it for one big stream on a many-core box.",
    }),
    inferenceThread: StringEnum(INFERENCE_THREADS, {
      default: 'worker',
      description:
        "Where the encoders run. worker: one inference worker thread holds every session, so onnxruntime's synchronous runs do not block the event loop (MQTT, HTTP, sinks); a worker that dies fails its runs with MODEL_WORKER_EXITED and the next run starts a new one. main: on the event loop, as before (for comparison).",
    }),
    openSet: Type.Boolean({
      default: true,
      description:
        "Announce 'unknown' when no class is close enough, with the thresholds in the model's manifest (openSet). false always names the closest class, as models without thresholds do.",
    }),
  },
  { description: 'The activity model (encoders + class prototypes) and how to run it.' },
);

export type ModelConfig = Static<typeof ModelOptionsSchema>;
