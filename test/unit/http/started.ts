import { afterEach } from 'node:test';
import type { HttpServer } from '../../../gateway/http/server.ts';
import type { Harness } from '../../fakes/noble/harness.ts';

/**
 * The HTTP servers and BLE harnesses a test file starts, stopped after each test (a BLE
 * source's stop waits for radio time, so the harness's virtual clock is moved on meanwhile).
 */
export function stoppedAfterEach(): { readonly servers: HttpServer[]; readonly harnesses: Harness[] } {
  const started = { servers: [] as HttpServer[], harnesses: [] as Harness[] };
  afterEach(async () => {
    await Promise.all(started.servers.map((s) => s.stop()));
    for (const h of started.harnesses) {
      const done = h.source.stop();
      await h.timers.advance(15_000);
      await done;
    }
    started.servers.length = 0;
    started.harnesses.length = 0;
  });
  return started;
}
