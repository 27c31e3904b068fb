/**
 * N simulated 50 Hz IMU devices (phones/watches) in their own process with their own mqtt.js
 * client, so that the load generator's CPU is not charged to the gateway. Each device:
 * - plays real IMU rows from the demo recording (recordings/demo/imu/*.csv, UTD-MHAD),
 *   starting at its own row offset and looping;
 * - stamps samples on its OWN clock: a random offset (device uptime) and a random drift of
 *   up to ±50 ppm, exactly 50 Hz by that clock — the gateway has to map it;
 * - sends `samplesPerMessage` samples per message in MJI1 binary (int16), QoS 0, as soon as
 *   the last of them has been "captured", with its phase spread evenly over one period.
 * The same client subscribes to the gateway's activity topic and stamps each event's arrival.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { encodeImuBinary } from '../../gateway/sources/mqtt/imu-decode.ts';
import type { Placement } from '../../gateway/domain/samples.ts';
import { deviceId, distribution, hiResNowNs, type Command, type PublisherInit } from './shared.ts';
import { prng } from '../../test/helpers/prng.ts';

const RATE_HZ = 50;
const PERIOD_NS = 1e9 / RATE_HZ;
const CHANNELS = 6;
const TICK_MS = 2;

export interface PublisherReady {
  readonly type: 'ready';
  readonly pid: number;
  readonly rows: number;
  readonly files: readonly string[];
}
export interface PublisherSteady {
  readonly type: 'steady';
  readonly sent: number;
  readonly seconds: number;
  readonly cpuS: number;
  /** How late messages left relative to their due time, ms: a lagging generator shows here. */
  readonly sendLagMs: ReturnType<typeof distribution>;
}
export interface PublisherHalted {
  readonly type: 'halted';
  readonly sentTotal: number;
  readonly bytesTotal: number;
}
export interface PublisherArrivals {
  readonly type: 'arrivals';
  /** [seq, arrival ns, latencyMs as published] of every activity event received. */
  readonly arrivals: readonly (readonly [number, number, number])[];
}

interface Track {
  readonly values: Float32Array;
  readonly rows: number;
  readonly placement: Placement;
}

interface Device {
  readonly id: string;
  readonly topic: string;
  readonly track: Track;
  row: number;
  seq: number;
  /** Device-clock time of the next sample, ns. */
  nextSampleDeviceNs: number;
  /** Wall time at which the next message is complete and due, ns. */
  dueWallNs: number;
  readonly wallPerMessageNs: number;
}

function loadTracks(recordingDir: string): { tracks: Track[]; files: string[] } {
  const meta = JSON.parse(readFileSync(join(recordingDir, 'recording.json'), 'utf8')) as {
    devices: { kind: string; file: string; placement?: Placement }[];
  };
  const tracks: Track[] = [];
  const files: string[] = [];
  for (const d of meta.devices.filter((x) => x.kind === 'imu')) {
    const lines = readFileSync(join(recordingDir, d.file), 'utf8').trim().split('\n').slice(1);
    const values = new Float32Array(lines.length * CHANNELS);
    lines.forEach((line, r) => {
      const cols = line.split(',');
      for (let c = 0; c < CHANNELS; c++) values[r * CHANNELS + c] = Number(cols[c + 1]);
    });
    tracks.push({ values, rows: lines.length, placement: d.placement ?? 'unknown' });
    files.push(d.file);
  }
  if (tracks.length === 0) throw new Error(`${recordingDir}/recording.json lists no IMU device`);
  return { tracks, files };
}

async function main(): Promise<void> {
  const init = await new Promise<PublisherInit>((resolve) =>
    process.once('message', (m) => resolve(m as PublisherInit)),
  );
  const send = (m: object) => process.send?.(m);
  const { tracks, files } = loadTracks(init.recordingDir);
  const random = prng(init.seed);
  const S = init.samplesPerMessage;
  const devices: Device[] = Array.from({ length: init.streams }, (_, i) => {
    const track = tracks[i % tracks.length] as Track;
    const driftPpm = (random() * 2 - 1) * 50;
    return {
      id: deviceId(i),
      topic: `mujo/${init.gatewayId}/ingest/${deviceId(i)}/imu`,
      track,
      row: Math.floor(random() * track.rows),
      seq: 0,
      nextSampleDeviceNs: Math.round((1000 + random() * 1e5) * 1e9), // device uptime clock
      dueWallNs: 0,
      // S samples at 50 Hz of device time, in wall time (a fast device clock ticks sooner).
      wallPerMessageNs: (S * PERIOD_NS) / (1 + driftPpm * 1e-6),
    };
  });

  const client = await connectAsync(init.brokerUrl, {
    protocolVersion: 5,
    clientId: `bench-publisher-${init.gatewayId}`,
    reconnectPeriod: 500,
  });
  const arrivals: [number, number, number][] = [];
  client.on('message', (_topic, payload) => {
    const at = hiResNowNs();
    try {
      const e = JSON.parse(payload.toString('utf8')) as { seq: number; latencyMs: number };
      arrivals.push([e.seq, at, e.latencyMs]);
    } catch {
      // not an event: ignore
    }
  });
  await client.subscribeAsync(`mujo/${init.gatewayId}/subjects/+/activity`, { qos: 1 });
  send({
    type: 'ready',
    pid: process.pid,
    rows: tracks.reduce((s, t) => s + t.rows, 0),
    files,
  } satisfies PublisherReady);

  let running = false;
  let sentTotal = 0;
  let bytesTotal = 0;
  let marking = false;
  let sentMarked = 0;
  const lag: number[] = [];
  let cpuMark = process.cpuUsage();
  let wallMark = 0;
  const chunk = new Float32Array(S * CHANNELS);

  const publishDue = (): void => {
    if (!running) return;
    const now = hiResNowNs();
    for (const d of devices) {
      while (d.dueWallNs <= now) {
        const { values, rows } = d.track;
        for (let k = 0; k < S; k++) {
          const src = ((d.row + k) % rows) * CHANNELS;
          chunk.set(values.subarray(src, src + CHANNELS), k * CHANNELS);
        }
        d.row = (d.row + S) % rows;
        const payload = encodeImuBinary({
          values: chunk,
          t0Ns: BigInt(d.nextSampleDeviceNs),
          rateHz: RATE_HZ,
          encoding: 'int16',
          placement: d.track.placement,
          seq: d.seq++,
        });
        d.nextSampleDeviceNs += S * PERIOD_NS;
        client.publish(d.topic, payload, { qos: 0 });
        sentTotal++;
        bytesTotal += payload.length;
        if (marking) {
          sentMarked++;
          lag.push((now - d.dueWallNs) / 1e6);
        }
        d.dueWallNs += d.wallPerMessageNs;
      }
    }
    setTimeout(publishDue, TICK_MS);
  };

  process.on('message', (raw) => {
    const cmd = raw as Command;
    switch (cmd.type) {
      case 'go': {
        const start = hiResNowNs();
        devices.forEach((d, i) => {
          // The first message is due once its S samples exist; phases spread over one period.
          d.dueWallNs = start + d.wallPerMessageNs * (1 + i / devices.length);
        });
        running = true;
        publishDue();
        break;
      }
      case 'mark-start':
        marking = true;
        sentMarked = 0;
        lag.length = 0;
        cpuMark = process.cpuUsage();
        wallMark = performance.now();
        break;
      case 'mark-end': {
        marking = false;
        const cpu = process.cpuUsage(cpuMark);
        send({
          type: 'steady',
          sent: sentMarked,
          seconds: (performance.now() - wallMark) / 1000,
          cpuS: (cpu.user + cpu.system) / 1e6,
          sendLagMs: distribution(lag),
        } satisfies PublisherSteady);
        break;
      }
      case 'halt':
        running = false;
        send({ type: 'halted', sentTotal, bytesTotal } satisfies PublisherHalted);
        break;
      case 'final':
        send({ type: 'arrivals', arrivals } satisfies PublisherArrivals);
        break;
      case 'stop':
        void client.endAsync().finally(() => {
          process.disconnect?.();
          process.exit(0);
        });
        break;
      default:
        break;
    }
  });
}

if (process.send) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
