import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GatewayError } from '../../observability/errors.ts';
import { recordingDirName } from './format.ts';

export const MANIFEST = 'recording.json';

/**
 * The directory of a new recording: `requested` as given (refused when it already holds a
 * recording), else a new `<time>-<name>` directory under `parent` (`-2`, `-3`… when taken).
 */
export async function createRecordingDirectory(
  requested: string | undefined,
  parent: string,
  startTimeMs: number,
  name: string,
): Promise<string> {
  if (requested !== undefined) {
    const dir = resolve(requested);
    await mkdir(dir, { recursive: true });
    if (await exists(join(dir, MANIFEST))) {
      throw new GatewayError(
        'RECORDER_BAD_REQUEST',
        `${dir} already holds a recording (${MANIFEST}); choose another directory`,
      );
    }
    return dir;
  }
  const root = resolve(parent);
  await mkdir(root, { recursive: true });
  const base = recordingDirName(startTimeMs, name);
  for (let n = 1; ; n++) {
    const dir = join(root, n === 1 ? base : `${base}-${n}`);
    try {
      await mkdir(dir);
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
