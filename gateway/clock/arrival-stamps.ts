import type { TimeNs } from '../domain/time.ts';
import { evictLeastRecentlyUsed } from './least-recently-used.ts';

/** How far ahead of arrival a device's samples may be placed before it starts afresh, ns. */
const MAX_LEAD_NS = 10e9;
/** While ahead, each chunk's spacing is shortened by this share, so the lead melts away. */
const CATCH_UP = 0.05;
const DEFAULT_MAX_SOURCES = 4096;

/**
 * Sample times for messages that carry none (a phone that does not send its clock): the
 * decoder ends each chunk at its arrival. Chunks that arrive close together — a burst after a
 * Wi-Fi stall, two in the same millisecond — would then overlap or coincide, and a sample
 * stamped like its neighbour is lost wherever time is the key (InfluxDB). A device without a
 * clock still sends its samples in order, so each chunk is placed after the previous one's
 * last sample at the chunk's own spacing; the lead this builds over arrival time is worked
 * off by spacing the next chunks slightly closer (5 %) until arrival catches up, and a device
 * more than 10 s ahead (it sent far faster than real time) starts again from arrival.
 */
export class ArrivalStamps {
  private readonly lastNs = new Map<string, { lastNs: TimeNs; usedAt: number }>();
  private uses = 0;

  constructor(private readonly maxSources: number = DEFAULT_MAX_SOURCES) {}

  /** `tNs` (arrival-stamped, ascending) moved to follow the source's previous chunk; `tNs` itself if it already does. */
  place(sourceId: string, tNs: Float64Array): Float64Array {
    const n = tNs.length;
    if (n === 0) return tNs;
    const first = tNs[0] as number;
    const arrivalEnd = tNs[n - 1] as number;
    const previous = this.lastNs.get(sourceId)?.lastNs;
    const step = n > 1 ? (arrivalEnd - first) / (n - 1) : 0;
    let out = tNs;
    const closer = step * (1 - CATCH_UP);
    // Placed also when the chunk starts after the previous one but closer than the device's
    // spacing allows: an early chunk (transport jitter) would otherwise put its first sample
    // in the previous sample's millisecond, and InfluxDB keeps one point per millisecond.
    if (previous !== undefined && step > 0 && first - previous < closer) {
      const placed = new Float64Array(n);
      for (let i = 0; i < n; i++) placed[i] = previous + closer * (i + 1);
      if ((placed[n - 1] as number) - arrivalEnd <= MAX_LEAD_NS) out = placed;
    }
    this.remember(sourceId, out[n - 1] as number);
    return out;
  }

  /** Forget a source (it left). */
  forget(sourceId: string): void {
    this.lastNs.delete(sourceId);
  }

  private remember(sourceId: string, lastNs: TimeNs): void {
    const known = this.lastNs.get(sourceId);
    if (known) {
      // Updated in place, used-at counted: no Map re-insertion per chunk.
      known.lastNs = lastNs;
      known.usedAt = ++this.uses;
      return;
    }
    // The table is bounded (ids come from the network): the least recently seen goes.
    evictLeastRecentlyUsed(this.lastNs, this.maxSources);
    this.lastNs.set(sourceId, { lastNs, usedAt: ++this.uses });
  }
}
