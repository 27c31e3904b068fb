import { GatewayError } from '../../observability/errors.ts';
import { nsToBigInt, type TimeNs } from '../../domain/time.ts';

/**
 * Text of the recording format (docs/recording-format.md) as the recorder writes it.
 * Headers come from the replay reader so writer and reader cannot disagree.
 */
export { IMU_HEADER, LABELS_HEADER, POSE_HEADER } from '../../domain/recording-format.ts';

/**
 * `value` rounded to `digits` significant digits, as the double a reader parses that decimal
 * into, when it reads back as the same float32; else undefined.
 */
function roundTrip(value: number, exponent: number, digits: number): number | undefined {
  const k = digits - 1 - exponent;
  if (k > 22 || k < -22) return undefined;
  const decimal =
    k >= 0 ? Math.round(value * POW10[k]!) / POW10[k]! : Math.round(value / POW10[-k]!) * POW10[-k]!;
  return Math.fround(decimal) === value ? decimal : undefined;
}

/** Powers of ten a double holds exactly. */
const POW10: readonly number[] = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

/**
 * The shortest decimal that reads back as the same float32.
 *
 * Samples travel as float32, so this is lossless for what the gateway saw (a reader that
 * parses into float32 gets the identical value, a float64 reader the decimal), yet short:
 * a value that came from "-9.390" is written "-9.39". Fixed decimals would either lose
 * resolution of fine sensors or pad coarse ones.
 */
export function formatFloat32(value: number): string {
  if (value === 0) return '0'; // also -0: "-0" would be a needless sign
  // Several times cheaper than toPrecision: round to `digits` significant digits as an
  // integer m and a power of ten. m / 10^k with both exact is the correctly rounded double
  // of the decimal, i.e. exactly what a reader's parser yields, and String() of it prints
  // that decimal. Only the round-trip check decides, so an off-by-one exponent is harmless.
  const exponent = Math.floor(Math.log10(Math.abs(value)));
  // Most sensor values need 4-9 digits: probe 6, then walk down or up.
  let found = roundTrip(value, exponent, 6);
  if (found !== undefined) {
    for (let digits = 5; digits >= 1; digits--) {
      const shorter = roundTrip(value, exponent, digits);
      if (shorter === undefined) break;
      found = shorter;
    }
    return String(found);
  }
  for (let digits = 7; digits <= 9; digits++) {
    found = roundTrip(value, exponent, digits);
    if (found !== undefined) return String(found);
  }
  // Beyond 1e±22 (no sensor value here): the slow, general way.
  for (let digits = 1; digits < 9; digits++) {
    const text = value.toPrecision(digits);
    if (Math.fround(Number(text)) === value) return String(Number(text));
  }
  // Nine significant digits always identify a float32.
  return String(Number(value.toPrecision(9)));
}

/**
 * Recording origin: `startTime` in recording.json carries milliseconds, so the origin is a
 * whole millisecond and `t_ns` is exact relative to the ISO string a reader parses.
 */
export interface RecordingOrigin {
  readonly startTimeMs: number;
  readonly startTime: string;
  readonly originNs: bigint;
}

export function recordingOrigin(nowNs: TimeNs): RecordingOrigin {
  const startTimeMs = Math.floor(nowNs / 1e6);
  return {
    startTimeMs,
    startTime: new Date(startTimeMs).toISOString(),
    originNs: BigInt(startTimeMs) * 1_000_000n,
  };
}

/**
 * Gateway-clock ns (a float64) → integer ns since the recording origin. Done in bigint: near
 * 1.8e18 a double holds only multiples of 256, and subtracting a rounded origin as doubles
 * would shift every time by up to 128 ns. The result fits a double exactly for 104 days.
 */
export function relativeNs(t: TimeNs, origin: RecordingOrigin): number {
  if (!Number.isFinite(t)) return Number.NaN;
  return Number(nsToBigInt(t) - origin.originNs);
}

/** Characters a CSV cell of the format may not hold (no quoting in the format). */
export const FORBIDDEN_CELL = /[,\r\n"]/;

/**
 * A file name for a stream id: ids come from devices (BLE addresses with colons, MQTT topics
 * with slashes), file names must be portable (FAT on SD cards) and unique even where the
 * file system ignores case.
 */
export function fileStem(id: string, taken: Set<string>): string {
  let stem = id.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  if (stem === '') stem = 'stream';
  let candidate = stem;
  for (let n = 2; taken.has(candidate.toLowerCase()); n++) candidate = `${stem}-${n}`;
  taken.add(candidate.toLowerCase());
  return candidate;
}

/** `2026-01-01T09-30-00Z-<name>`: ISO time without colons, which FAT and Windows refuse. */
export function recordingDirName(startTimeMs: number, name: string): string {
  const iso = new Date(startTimeMs)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/:/g, '-');
  return `${iso}-${name}`;
}

/** One CSV row, or undefined when a value is not finite (the readers refuse NaN and ±Infinity). */
export function formatRow(
  lead: string,
  values: Float32Array,
  from: number,
  count: number,
): string | undefined {
  let line = lead;
  for (let k = from; k < from + count; k++) {
    const v = values[k] as number;
    if (!Number.isFinite(v)) return undefined;
    line += `,${formatFloat32(v)}`;
  }
  return `${line}\n`;
}

/** Throws `code` naming `field` unless `value` can stand in a CSV cell as it is. */
export function checkCell(field: string, value: string, code = 'RECORDER_BAD_LABEL'): void {
  if (
    typeof value !== 'string' ||
    value.trim() === '' ||
    value !== value.trim() ||
    FORBIDDEN_CELL.test(value)
  ) {
    throw new GatewayError(
      code,
      `${field} ${JSON.stringify(value)} must be non-empty, without surrounding spaces, commas, quotes or line breaks (it is a CSV cell)`,
    );
  }
}
