import type { Discovery } from './adapter.ts';
import type { Advertisement, DeviceDriver } from './driver.ts';

/*
 * What the radio has heard lately: one row per advertising address, with the device family
 * a driver recognises in its advertisement. It is the list an operator picks a new wearable
 * from (the live page's scan list, `GET /api/ble/nearby`, the MQTT `nearby_devices` request),
 * as zigbee2mqtt's permit-join lists joining devices. Bounded by age and by count; rows
 * pushed out by the count bound are counted, not lost silently.
 */

/** One advertising device as the scan list shows it. */
export interface NearbyDevice {
  /** Address as advertised (AA:BB:CC:DD:EE:FF). */
  readonly address: string;
  /** Advertised local name, if any. */
  readonly name: string | null;
  /** Family a driver recognises from the advertisement, or null (not a supported wearable). */
  readonly family: string | null;
  /** That driver's display name ("Polar PMD (Verity Sense, H10, OH1)"), or null. */
  readonly familyName: string | null;
  readonly rssi: number;
  readonly connectable: boolean;
  /** Milliseconds since it was last heard. */
  readonly lastSeenMsAgo: number;
  /** Id of the configured device this address already is (or whose name pattern it matches), or null. */
  readonly device: string | null;
}

export interface NearbyListOptions {
  /** Rows not heard for this long drop out of the list, ms. Default 30 000. */
  readonly maxAgeMs?: number;
  /** Most rows kept; the least recently heard is pushed out first. Default 256. */
  readonly maxDevices?: number;
}

/** A configured device as the list needs it: to mark rows already added. */
export interface KnownDevice {
  readonly id: string;
  readonly address?: string | undefined;
  readonly namePattern?: string | undefined;
}

interface Row {
  address: string;
  advertisement: Advertisement;
  rssi: number;
  connectable: boolean;
  atMs: number;
  driver: DeviceDriver | undefined;
}

function addressKey(address: string): string {
  return address.toLowerCase().replace(/[^0-9a-f]/g, '');
}

function matchesPattern(pattern: string, name: string | undefined): boolean {
  if (name === undefined) return false;
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return false; // a bad pattern is refused when the device is added; here it matches nothing
  }
}

export class NearbyList {
  private readonly rows = new Map<string, Row>();
  private readonly maxAgeMs: number;
  private readonly maxDevices: number;
  /** Rows pushed out by `maxDevices` since start. */
  evicted = 0;

  constructor(
    private readonly detect: (advert: Advertisement) => DeviceDriver | undefined,
    options: NearbyListOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 30_000;
    this.maxDevices = options.maxDevices ?? 256;
  }

  observe(d: Discovery): void {
    const key = addressKey(d.address || d.id);
    const row = this.rows.get(key);
    if (row) {
      // Keep a name heard earlier: scan responses and plain adverts alternate.
      const advertisement =
        d.advertisement.localName === undefined && row.advertisement.localName !== undefined
          ? { ...d.advertisement, localName: row.advertisement.localName }
          : d.advertisement;
      row.advertisement = advertisement;
      row.rssi = d.rssi;
      row.connectable = d.connectable;
      row.atMs = d.atMs;
      row.driver = this.detect(advertisement) ?? row.driver;
      // Re-insert: the map's order is then least recently heard first.
      this.rows.delete(key);
      this.rows.set(key, row);
      return;
    }
    this.rows.set(key, {
      // Upper case, as printed on devices and in vendor apps (noble on Linux says lower case).
      address: (d.address || d.id).toUpperCase(),
      advertisement: d.advertisement,
      rssi: d.rssi,
      connectable: d.connectable,
      atMs: d.atMs,
      driver: this.detect(d.advertisement),
    });
    while (this.rows.size > this.maxDevices) {
      const oldest = this.rows.keys().next().value as string;
      this.rows.delete(oldest);
      this.evicted++;
    }
  }

  /** Rows heard within `maxAgeMs` of `nowMs`, supported families first, then by signal strength. */
  list(nowMs: number, known: readonly KnownDevice[]): NearbyDevice[] {
    for (const [key, row] of this.rows) if (nowMs - row.atMs > this.maxAgeMs) this.rows.delete(key);
    const out = [...this.rows.values()].map((row): NearbyDevice => {
      const name = row.advertisement.localName ?? null;
      const owner = known.find((k) =>
        k.address !== undefined
          ? addressKey(k.address) === addressKey(row.address)
          : k.namePattern !== undefined && matchesPattern(k.namePattern, name ?? undefined),
      );
      return {
        address: row.address,
        name,
        family: row.driver?.family ?? null,
        familyName: row.driver?.displayName ?? null,
        rssi: row.rssi,
        connectable: row.connectable,
        lastSeenMsAgo: Math.max(0, nowMs - row.atMs),
        device: owner?.id ?? null,
      };
    });
    return out.sort((a, b) => Number(b.family !== null) - Number(a.family !== null) || b.rssi - a.rssi);
  }
}
