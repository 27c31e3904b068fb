import { readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRecord, type CorruptReason } from '../../spool/segment-log.ts';

/*
 * One-off reader for spool files written before the MQTT spool moved onto SegmentLog:
 * `seg-<first seq, 16 digits>.spool`, header "MJSP" · u8 version 1 · 3 zero bytes, then the
 * same framing SegmentLog uses (u32 LE length · u32 LE CRC-32 · body) around the same body
 * spool-record.ts encodes. So carrying them over is: check the header, unframe, and append the
 * bodies to the new log unchanged. The spool opens this once at start; after a successful
 * carry-over the old files are deleted and never looked at again.
 */

const LEGACY_MAGIC = Buffer.from('MJSP\u0001\u0000\u0000\u0000', 'latin1');
const LEGACY_RE = /^seg-\d{16}\.spool$/;

export interface LegacySpool {
  /** Paths of every legacy file found, oldest first (delete them once carried over). */
  readonly files: string[];
  /** Record bodies, in the order they were written. */
  readonly bodies: Buffer[];
}

export type LegacyCorruptReport = (file: string, offset: number, reason: CorruptReason) => void;

export function legacySpoolFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => LEGACY_RE.test(n))
      .sort()
      .map((n) => join(dir, n));
  } catch {
    return []; // no directory: nothing left by an older version
  }
}

/** Reads every legacy file in `dir`; a damaged record ends its file, as it always did. */
export function readLegacySpool(dir: string, onCorrupt: LegacyCorruptReport): LegacySpool {
  const files = legacySpoolFiles(dir);
  const bodies: Buffer[] = [];
  for (const file of files) {
    const buf = readFileSync(file);
    if (buf.length < LEGACY_MAGIC.length || !buf.subarray(0, LEGACY_MAGIC.length).equals(LEGACY_MAGIC)) {
      // Empty: a crash between create and header write, not damage.
      if (buf.length > 0) onCorrupt(file, 0, 'bad_header');
      continue;
    }
    for (let offset = LEGACY_MAGIC.length; offset < buf.length;) {
      const r = decodeRecord(buf, offset);
      if (!r.ok) {
        onCorrupt(file, offset, r.reason);
        break;
      }
      bodies.push(r.payload);
      offset = r.next;
    }
  }
  return { files, bodies };
}

export function deleteLegacySpool(files: readonly string[]): void {
  for (const f of files) {
    try {
      unlinkSync(f);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
