import { GatewayError } from '../observability/errors.ts';
import type { EncoderManifest } from './manifest.ts';
import { openOrtSession, openSession, type OpenedSession, type SessionOptions } from './session.ts';

/*
 * What an onnxruntime session is opened for, as plain data: the inference worker opens the
 * same sessions as the main thread from it (functions such as graph checks do not cross the
 * thread boundary, so each target's checks live here, run wherever the session opens).
 */

/** An activity encoder of a model manifest. */
export interface EncoderTarget {
  readonly kind: 'encoder';
  readonly encoder: EncoderManifest;
  /** Index in the manifest's encoders, for JSON paths in errors. */
  readonly index: number;
  readonly file: string;
}

/** A camera pose model (MoveNet): one input, one output, named by models/movenet/manifest.json. */
export interface PoseTarget {
  readonly kind: 'pose';
  /** lightning, thunder or multipose. */
  readonly model: string;
  readonly file: string;
  readonly inputName: string;
  readonly outputName: string;
}

export type SessionTarget = EncoderTarget | PoseTarget;

/** The tensors a run feeds and fetches. */
export function targetIo(target: SessionTarget): { inputName: string; outputName: string } {
  return target.kind === 'encoder'
    ? { inputName: target.encoder.input.name, outputName: target.encoder.output.name }
    : { inputName: target.inputName, outputName: target.outputName };
}

/** Names the target in logs. */
export function targetLabel(target: SessionTarget): string {
  return target.kind === 'encoder' ? `encoder ${target.encoder.name}` : `pose model ${target.model}`;
}

/** Opens `target`'s session on this thread, with its graph checks; refusals are coded errors. */
export function openTarget(
  bytes: Uint8Array,
  target: SessionTarget,
  options: SessionOptions,
): Promise<OpenedSession> {
  if (target.kind === 'encoder')
    return openSession(bytes, target.encoder, target.index, target.file, options);
  return openOrtSession(
    bytes,
    {
      label: `pose model ${target.model}`,
      details: { model: target.model },
      describe: `the pose model ${target.model}`,
      invalidCode: 'POSE_MODEL_INVALID',
      verify: (session) => {
        if (session.inputNames.includes(target.inputName) && session.outputNames.includes(target.outputName))
          return;
        const io = `inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')}`;
        throw new GatewayError(
          'POSE_MODEL_INVALID',
          `${target.file}: the manifest names input '${target.inputName}' and output '${target.outputName}', the graph has ${io}`,
          { details: { file: target.file, model: target.model } },
        );
      },
    },
    options,
  );
}
