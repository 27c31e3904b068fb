import { join } from 'node:path';
import { MANIFEST } from './directory.ts';
import { recordingJson, writeManifest } from './manifest.ts';
import type { Session, SessionHooks } from './session.ts';

/*
 * recording.json is rewritten while recording (a stream's first row on disk, a new subject),
 * so a recording cut short by a crash or power loss is still readable. Requests that come
 * together are coalesced into one write, after the current turn of the event loop; writes are
 * chained so they never overlap, and stop awaits the chain before the final manifest.
 */
export class Checkpoints {
  constructor(
    private readonly gatewayId: string,
    /** False once the session stops or is no longer the recorder's current one. */
    private readonly active: (s: Session) => boolean,
    private readonly hooks: SessionHooks,
  ) {}

  schedule(s: Session): void {
    if (s.checkpointPending || s.stopping || !this.active(s)) return;
    s.checkpointPending = true;
    s.checkpoint = s.checkpoint.then(async () => {
      await new Promise((r) => setImmediate(r));
      s.checkpointPending = false;
      if (s.stopping) return;
      const path = join(s.dir, MANIFEST);
      try {
        await writeManifest(path, recordingJson(this.gatewayId, s, null));
      } catch (err) {
        this.hooks.writeFailed(s, path, err as NodeJS.ErrnoException);
      }
    });
  }
}
