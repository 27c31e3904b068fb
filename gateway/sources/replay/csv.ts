import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { IMU_CHANNELS, POSE_VALUES_PER_FRAME } from '../../domain/samples.ts';
import { GatewayError } from '../../observability/errors.ts';

/**
 * Parsers for the recording's CSV files (docs/recording-format.md). Each parser takes one
 * line at a time, so the loader can stream a file of any size through it without holding
 * the text; only the parsed typed arrays stay in memory.
 */

import { IMU_HEADER, LABELS_HEADER, POSE_HEADER } from '../../domain/recording-format.ts';

/** One stream's samples, recording time base (ns since the recording's startTime). */
export interface StreamData {
  readonly tNs: Float64Array;
  readonly values: Float32Array;
}

export interface RecordingLabel {
  readonly subject: string;
  readonly startNs: number;
  readonly endNs: number;
  readonly activity: string;
}

export interface LineParser<T> {
  line(text: string, lineNo: number): void;
  finish(): T;
}

function csvError(file: string, lineNo: number, message: string): GatewayError {
  return new GatewayError('REPLAY_INVALID', `recording ${file}:${lineNo}: ${message}`, {
    details: { file, line: lineNo },
  });
}

function checkHeader(file: string, cells: string[], expected: readonly string[]): void {
  const same = cells.length === expected.length && cells.every((c, i) => c.trim() === expected[i]);
  if (!same) {
    throw csvError(file, 1, `header must be "${expected.join(',')}" (got "${cells.join(',')}")`);
  }
}

/** Number() reads '' and ' ' as 0; a missing value must not silently become a zero reading. */
function parseNumber(file: string, lineNo: number, column: string, cell: string | undefined): number {
  const trimmed = cell?.trim() ?? '';
  const value = trimmed === '' ? Number.NaN : Number(trimmed);
  if (!Number.isFinite(value)) {
    throw csvError(file, lineNo, `column ${column}: expected a finite number (got "${cell ?? ''}")`);
  }
  return value;
}

function parseTimeNs(file: string, lineNo: number, column: string, cell: string | undefined): number {
  const value = parseNumber(file, lineNo, column, cell);
  if (!Number.isInteger(value) || value < 0) {
    throw csvError(
      file,
      lineNo,
      `column ${column}: expected a non-negative integer of nanoseconds (got "${cell}")`,
    );
  }
  return value;
}

function splitRow(file: string, lineNo: number, text: string, columns: number): string[] {
  const cells = text.split(',');
  if (cells.length !== columns) {
    throw csvError(file, lineNo, `expected ${columns} columns, got ${cells.length}`);
  }
  return cells;
}

/** Growable column store: plain arrays while reading, typed arrays once. */
class StreamBuilder {
  private readonly times: number[] = [];
  private readonly values: number[] = [];

  get lastTime(): number | undefined {
    return this.times[this.times.length - 1];
  }

  push(
    t: number,
    row: readonly string[],
    from: number,
    count: number,
    file: string,
    lineNo: number,
    header: readonly string[],
  ): void {
    this.times.push(t);
    for (let i = from; i < from + count; i++)
      this.values.push(parseNumber(file, lineNo, header[i] ?? `#${i}`, row[i]));
  }

  build(): StreamData {
    return { tNs: Float64Array.from(this.times), values: Float32Array.from(this.values) };
  }
}

export function imuParser(file: string): LineParser<StreamData> {
  const builder = new StreamBuilder();
  let sawHeader = false;
  return {
    line(text, lineNo) {
      const cells = splitRow(file, lineNo, text, IMU_HEADER.length);
      if (!sawHeader) {
        checkHeader(file, cells, IMU_HEADER);
        sawHeader = true;
        return;
      }
      const t = parseTimeNs(file, lineNo, 't_ns', cells[0]);
      const last = builder.lastTime;
      if (last !== undefined && t <= last) {
        throw csvError(file, lineNo, `t_ns must increase (got ${t} after ${last})`);
      }
      builder.push(t, cells, 1, IMU_CHANNELS, file, lineNo, IMU_HEADER);
    },
    finish() {
      if (!sawHeader) throw csvError(file, 1, 'empty file: no header');
      return builder.build();
    },
  };
}

/** Pose rows interleave tracks; the result is one stream per track id. */
export function poseParser(file: string): LineParser<Map<number, StreamData>> {
  const tracks = new Map<number, StreamBuilder>();
  let sawHeader = false;
  let lastT = -1;
  return {
    line(text, lineNo) {
      const cells = splitRow(file, lineNo, text, POSE_HEADER.length);
      if (!sawHeader) {
        checkHeader(file, cells, POSE_HEADER);
        sawHeader = true;
        return;
      }
      const t = parseTimeNs(file, lineNo, 't_ns', cells[0]);
      if (t < lastT) throw csvError(file, lineNo, `t_ns must not decrease (got ${t} after ${lastT})`);
      lastT = t;
      const track = parseNumber(file, lineNo, 'track', cells[1]);
      if (!Number.isInteger(track) || track < 0) {
        throw csvError(file, lineNo, `column track: expected a non-negative integer (got "${cells[1]}")`);
      }
      let builder = tracks.get(track);
      if (!builder) {
        builder = new StreamBuilder();
        tracks.set(track, builder);
      }
      if (builder.lastTime === t) throw csvError(file, lineNo, `track ${track} has two rows at t_ns ${t}`);
      builder.push(t, cells, 2, POSE_VALUES_PER_FRAME, file, lineNo, POSE_HEADER);
    },
    finish() {
      if (!sawHeader) throw csvError(file, 1, 'empty file: no header');
      return new Map([...tracks].map(([track, b]) => [track, b.build()]));
    },
  };
}

export function labelsParser(file: string, subjects: ReadonlySet<string>): LineParser<RecordingLabel[]> {
  const labels: RecordingLabel[] = [];
  let sawHeader = false;
  return {
    line(text, lineNo) {
      const cells = splitRow(file, lineNo, text, LABELS_HEADER.length);
      if (!sawHeader) {
        checkHeader(file, cells, LABELS_HEADER);
        sawHeader = true;
        return;
      }
      const subject = (cells[0] ?? '').trim();
      if (!subjects.has(subject)) {
        throw csvError(
          file,
          lineNo,
          `column subject: "${subject}" is not one of recording.json subjects[].id`,
        );
      }
      const startNs = parseTimeNs(file, lineNo, 'start_ns', cells[1]);
      const endNs = parseTimeNs(file, lineNo, 'end_ns', cells[2]);
      if (endNs <= startNs) throw csvError(file, lineNo, `end_ns ${endNs} must be after start_ns ${startNs}`);
      const activity = (cells[3] ?? '').trim();
      if (activity === '') throw csvError(file, lineNo, 'column activity: empty');
      labels.push({ subject, startNs, endNs, activity });
    },
    finish() {
      if (!sawHeader) throw csvError(file, 1, 'empty file: no header');
      return labels.sort((a, b) => a.startNs - b.startNs);
    },
  };
}

/** Feeds a text through a parser (tests and small inputs). */
export function parseText<T>(parser: LineParser<T>, text: string): T {
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() !== '') parser.line(line, i + 1);
  });
  return parser.finish();
}

/** Streams a file line by line through a parser. */
export async function parseFile<T>(parser: LineParser<T>, path: string): Promise<T> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (line.trim() !== '') parser.line(line, lineNo);
  }
  return parser.finish();
}
