/**
 * The fleet as the central broker sees it, folded from the gateways' retained topics
 * (docs/mqtt.md): availability, status, bridge link, rollout, device states, subject states
 * and the fleet's subject owners. Pure: the view feeds it messages and reads snapshots.
 */

/** The topics the fleet view subscribes to under `<baseTopic>/`. */
export const FLEET_TOPICS = [
  '+/availability',
  '+/status',
  '+/bridge/state',
  '+/rollout',
  '+/devices/+/state',
  '+/subjects/+/state',
  'fleet/subjects/+/owner',
] as const;

export interface GatewayView {
  readonly id: string;
  /** The gateway's own availability (`online` / `offline` / unknown). */
  readonly online: boolean | null;
  /** The room's bridge link as the central broker sees it; null when not bridged. */
  readonly linked: boolean | null;
  readonly software: string | null;
  readonly model: string | null;
  /** Execution provider per encoder, e.g. `imu: cpu`. */
  readonly providers: Record<string, string>;
  readonly startedAt: string | null;
  readonly rollout: string | null;
  /** Devices connected now / known. */
  readonly streams: number;
  readonly devices: number;
  /** Samples the gateway's devices dropped (sum of their counters). */
  readonly dropped: number;
  /** Subjects with an activity running here now. */
  readonly active: number;
}

export interface SubjectView {
  readonly id: string;
  /** Where the subject is now: the owner claim, else the gateway with the latest state. */
  readonly gateway: string;
  readonly activity: string | null;
  readonly activityName: string | null;
  readonly confidence: number | null;
  readonly since: string | null;
  readonly reps: number | null;
  readonly modalities: readonly string[];
  readonly updated: string | null;
}

export interface FleetSnapshot {
  readonly gateways: readonly GatewayView[];
  readonly subjects: readonly SubjectView[];
  /** Messages on the fleet topics that could not be read (not JSON, wrong shape). */
  readonly rejected: number;
}

interface DeviceState {
  connected?: boolean;
  dropped?: number;
}
interface SubjectState {
  activity?: string | null;
  activityName?: string | null;
  confidence?: number | null;
  since?: string | null;
  reps?: number | null;
  modalities?: string[];
  updated?: string;
}
interface StatusPayload {
  software?: string;
  startedAt?: string;
  model?: { name: string; version: string } | null;
  encoders?: { name: string; modality: string; provider: string }[];
  state?: string;
}

interface GatewayRecord {
  availability?: string;
  bridge?: string;
  status?: StatusPayload;
  rollout?: { state?: string; desired?: { version?: string } | null };
  readonly devices: Map<string, DeviceState>;
  readonly subjects: Map<string, SubjectState>;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export class FleetState {
  private readonly gateways = new Map<string, GatewayRecord>();
  private readonly owners = new Map<string, string>();
  private rejected = 0;

  constructor(private readonly baseTopic: string) {}

  private gateway(id: string): GatewayRecord {
    let record = this.gateways.get(id);
    if (!record) {
      record = { devices: new Map(), subjects: new Map() };
      this.gateways.set(id, record);
    }
    return record;
  }

  /** Folds one message in; returns false when it is not a fleet topic or could not be read. */
  apply(topic: string, payload: Buffer): boolean {
    const prefix = `${this.baseTopic}/`;
    if (!topic.startsWith(prefix)) return false;
    const levels = topic.slice(prefix.length).split('/');
    const text = payload.toString('utf8');
    const [gw, kind, name, leaf] = levels;
    if (gw === undefined || kind === undefined) return false;
    // An empty retained payload deletes a retained topic: forget what it described.
    const cleared = payload.length === 0;
    if (gw === 'fleet') {
      if (kind === 'subjects' && name !== undefined && leaf === 'owner') {
        if (cleared) this.owners.delete(name);
        else {
          const body = this.json(text);
          if (!isObject(body) || typeof body['gateway'] !== 'string') return this.reject();
          this.owners.set(name, body['gateway']);
        }
        return true;
      }
      return false;
    }
    const record = this.gateway(gw);
    if (levels.length === 2 && kind === 'availability') record.availability = text;
    else if (levels.length === 3 && kind === 'bridge' && name === 'state') record.bridge = text;
    else if (levels.length === 2 && (kind === 'status' || kind === 'rollout')) {
      const body = cleared ? undefined : this.json(text);
      if (!cleared && !isObject(body)) return this.reject();
      if (kind === 'status') record.status = body as StatusPayload | undefined;
      else record.rollout = body as GatewayRecord['rollout'];
    } else if (levels.length === 4 && (kind === 'devices' || kind === 'subjects') && leaf === 'state') {
      const map: Map<string, DeviceState | SubjectState> =
        kind === 'devices' ? record.devices : record.subjects;
      if (cleared) map.delete(name!);
      else {
        const body = this.json(text);
        if (!isObject(body)) return this.reject();
        map.set(name!, body);
      }
    } else return false;
    return true;
  }

  snapshot(): FleetSnapshot {
    const gateways = [...this.gateways.entries()]
      .filter(([, r]) => r.status !== undefined || r.availability !== undefined)
      .map(([id, r]) => this.gatewayView(id, r))
      .sort((a, b) => a.id.localeCompare(b.id));
    return { gateways, subjects: this.subjectViews(), rejected: this.rejected };
  }

  private gatewayView(id: string, r: GatewayRecord): GatewayView {
    const devices = [...r.devices.values()];
    const status = r.status;
    return {
      id,
      online: r.availability === undefined ? null : r.availability === 'online',
      linked: r.bridge === undefined ? null : r.bridge === '1',
      software: status?.software ?? null,
      model: status?.model ? `${status.model.name} ${status.model.version}` : null,
      providers: Object.fromEntries((status?.encoders ?? []).map((e) => [e.modality, e.provider])),
      startedAt: status?.startedAt ?? null,
      rollout: r.rollout?.state ?? null,
      streams: devices.filter((d) => d.connected === true).length,
      devices: devices.length,
      dropped: devices.reduce((sum, d) => sum + (typeof d.dropped === 'number' ? d.dropped : 0), 0),
      active: [...r.subjects.values()].filter((s) => typeof s.activity === 'string').length,
    };
  }

  /** One row per subject: its owner's state if claimed, else the most recently updated one. */
  private subjectViews(): SubjectView[] {
    const where = new Map<string, { gateway: string; state: SubjectState }>();
    for (const [gateway, record] of this.gateways) {
      for (const [id, state] of record.subjects) {
        const owner = this.owners.get(id);
        const seen = where.get(id);
        const better =
          seen === undefined ||
          (owner !== undefined ? gateway === owner : (state.updated ?? '') > (seen.state.updated ?? ''));
        if (better) where.set(id, { gateway, state });
      }
    }
    return [...where.entries()]
      .map(([id, { gateway, state }]) => ({
        id,
        gateway: this.owners.get(id) ?? gateway,
        activity: state.activity ?? null,
        activityName: state.activityName ?? null,
        confidence: state.confidence ?? null,
        since: state.since ?? null,
        reps: state.reps ?? null,
        modalities: state.modalities ?? [],
        updated: state.updated ?? null,
      }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  private json(text: string): unknown {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }

  private reject(): boolean {
    this.rejected++;
    return false;
  }
}
