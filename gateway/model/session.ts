import * as ort from 'onnxruntime-node';
import type { Logger } from '../observability/logger.ts';
import { GatewayError, errorMessage } from '../observability/errors.ts';
import type { ExecutionProviderName } from '../domain/execution-provider.ts';
import type { EncoderManifest } from './manifest.ts';
import { jsonPath } from './manifest.ts';
import { providersForThisMachine } from './providers.ts';

/*
 * The only place that creates onnxruntime sessions. Asking onnxruntime for a provider whose
 * libraries are absent throws instead of falling back, so providers are tried one at a time,
 * in the configured order, and every refusal is kept to be reported.
 */

export interface ProviderFailure {
  readonly provider: string;
  readonly message: string;
}

/** What opening a session logs (a pino Logger, or the inference worker's forwarder to one). */
export type SessionLogger = Pick<Logger, 'info' | 'warn'>;

export interface SessionOptions {
  readonly providers: readonly ExecutionProviderName[];
  readonly intraOpThreads?: number | undefined;
  readonly logger: SessionLogger;
}

export interface OpenedSession {
  readonly session: ort.InferenceSession;
  readonly provider: ExecutionProviderName;
  /** Providers tried before the one that loaded, and why each failed. */
  readonly failures: readonly ProviderFailure[];
  readonly loadMs: number;
}

let ortLogLevelSet = false;
let skippedReported = false;

/**
 * onnxruntime reads its log level once, at the first session. Its own output goes straight to
 * stderr (coloured, unstructured); provider refusals are reported through pino instead, so
 * only fatal native messages are let through unless configured otherwise.
 */
export function configureOrtLogging(
  level: 'verbose' | 'info' | 'warning' | 'error' | 'fatal' = 'fatal',
): void {
  if (ortLogLevelSet) return;
  ort.env.logLevel = level;
  ortLogLevelSet = true;
}

function firstLine(message: string): string {
  // onnxruntime appends native log dumps to some messages; the first line carries the reason.
  // ANSI colour codes come along with them.
  const ansiColour = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
  return (message.split('\n')[0] ?? message).replace(ansiColour, '').trim();
}

/** What one session is for, so refusals name it and carry the right code. */
export interface SessionTarget {
  /** Log field and message subject, e.g. `encoder imu` or `pose model lightning`. */
  readonly label: string;
  /** Fields added to log lines and error details. */
  readonly details: Record<string, unknown>;
  /** In error messages: what the bytes are, e.g. `models/default/imu.onnx (encoder imu)`. */
  readonly describe: string;
  /** Code when even the CPU provider refuses the bytes (the file is bad, not the machine). */
  readonly invalidCode: string;
  /** Checks the loaded graph (inputs, outputs); throws a GatewayError to refuse it. */
  readonly verify?: (session: ort.InferenceSession) => void;
}

/**
 * Creates a session on the first configured provider that loads, trying them in order and
 * keeping every refusal; a GatewayError from `verify` is final (another provider would load
 * the same wrong graph).
 */
export async function openOrtSession(
  bytes: Uint8Array,
  target: SessionTarget,
  options: SessionOptions,
): Promise<OpenedSession> {
  configureOrtLogging();
  const failures: ProviderFailure[] = [];
  // GPU providers whose libraries are absent are not tried: onnxruntime would print a native
  // warning and throw for each, on every CPU machine with the default list.
  const { usable, skipped } = providersForThisMachine(options.providers);
  // Still reported as refusals (in /health and the model info), with the reason.
  for (const { provider, missing } of skipped)
    failures.push({ provider, message: `${provider} not installed: no ${missing.join(', ')}` });
  if (skipped.length > 0 && !skippedReported) {
    skippedReported = true;
    options.logger.info(
      { skipped },
      `execution providers not installed, skipped: ${skipped.map((s) => `${s.provider} (no ${s.missing.join(', ')})`).join('; ')}`,
    );
  }
  for (const provider of usable) {
    const started = performance.now();
    try {
      const session = await ort.InferenceSession.create(bytes, {
        executionProviders: [provider],
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
        interOpNumThreads: 1,
        ...(options.intraOpThreads !== undefined ? { intraOpNumThreads: options.intraOpThreads } : {}),
      });
      const loadMs = performance.now() - started;
      try {
        target.verify?.(session);
      } catch (err) {
        await session.release();
        throw err;
      }
      return { session, provider, failures, loadMs };
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      const message = firstLine(errorMessage(err));
      failures.push({ provider, message });
      const next = usable[usable.indexOf(provider) + 1];
      options.logger.warn(
        { ...target.details, provider, reason: message, next: next ?? null },
        next
          ? `${target.label}: provider ${provider} failed, trying ${next}`
          : `${target.label}: provider ${provider} failed`,
      );
    }
  }
  const reasons = failures.map((f) => `${f.provider}: ${f.message}`);
  // The CPU provider is always built in, so its refusal means the bytes, not the machine.
  if (usable.includes('cpu')) {
    throw new GatewayError(
      target.invalidCode,
      `onnxruntime refused ${target.describe}:\n  - ${reasons.join('\n  - ')}`,
      { details: { ...target.details, failures } },
    );
  }
  throw new GatewayError(
    'MODEL_PROVIDER_UNAVAILABLE',
    `No configured execution provider could load ${target.describe}; add 'cpu' to model.providers as a fallback:\n  - ${reasons.join('\n  - ')}`,
    { details: { ...target.details, failures } },
  );
}

/** An encoder's session: its graph must match what the manifest promises. */
export function openSession(
  bytes: Uint8Array,
  encoder: EncoderManifest,
  index: number,
  file: string,
  options: SessionOptions,
): Promise<OpenedSession> {
  return openOrtSession(
    bytes,
    {
      label: `encoder ${encoder.name}`,
      details: { encoder: encoder.name, file },
      describe: `${file} (encoder ${encoder.name})`,
      invalidCode: 'MODEL_ONNX_INVALID',
      verify: (session) => checkGraphIo(session, encoder, index, file),
    },
    options,
  );
}

/** The graph must take and give what the manifest promises, or windows would be misread. */
function checkGraphIo(
  session: ort.InferenceSession,
  encoder: EncoderManifest,
  index: number,
  file: string,
): void {
  const input = session.inputMetadata.find((m) => m.name === encoder.input.name);
  const inputRef = jsonPath(['encoders', index, 'input']);
  if (!input) {
    throw new GatewayError(
      'MODEL_INPUT_MISMATCH',
      `${file}: the manifest's input '${encoder.input.name}' (${inputRef}.name) is not a graph input; graph inputs: ${session.inputNames.join(', ')}`,
      { details: { file, expected: encoder.input.name, actual: session.inputNames } },
    );
  }
  if (session.inputNames.length !== 1) {
    throw new GatewayError(
      'MODEL_INPUT_MISMATCH',
      `${file}: expected one graph input, got ${session.inputNames.length} (${session.inputNames.join(', ')})`,
      { details: { file, actual: session.inputNames } },
    );
  }
  if (input.isTensor) {
    const problems: string[] = [];
    if (input.type !== 'float32') problems.push(`type ${input.type}, expected float32`);
    const graph = input.shape;
    const manifest = encoder.input.shape;
    if (graph.length !== manifest.length) {
      problems.push(`rank ${graph.length}, expected ${manifest.length}`);
    } else {
      // Axis 0 is the dynamic batch; a symbolic (string) axis elsewhere accepts any size.
      graph.forEach((dim, axis) => {
        if (axis > 0 && typeof dim === 'number' && dim !== manifest[axis]) {
          problems.push(`axis ${axis} is ${dim}, expected ${String(manifest[axis])}`);
        }
      });
      if (typeof graph[0] === 'number' && graph[0] !== 1)
        problems.push(`batch axis is fixed at ${graph[0]}, expected dynamic`);
    }
    if (problems.length > 0) {
      throw new GatewayError(
        'MODEL_INPUT_MISMATCH',
        `${file}: input '${input.name}' is ${JSON.stringify(graph)} ${input.type} in the graph, the manifest says ${JSON.stringify(manifest)} float32 (${inputRef}.shape): ${problems.join('; ')}`,
        { details: { file, graph, manifest } },
      );
    }
  }
  if (!session.outputNames.includes(encoder.output.name)) {
    throw new GatewayError(
      'MODEL_OUTPUT_MISMATCH',
      `${file}: the manifest's output '${encoder.output.name}' (${jsonPath(['encoders', index, 'output', 'name'])}) is not a graph output; graph outputs: ${session.outputNames.join(', ')}`,
      { details: { file, expected: encoder.output.name, actual: session.outputNames } },
    );
  }
}
