/**
 * A site's brokers as docs/fleet.md sets them up, from the shipped deploy/fleet files: a
 * central mosquitto with the per-room logins and ACL, and each room's own mosquitto bridged
 * to it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMosquitto, type Mosquitto } from './mosquitto.ts';

export const FLEET_ADMIN = { username: 'fleet-admin', password: 'admin-secret' } as const;
export const bridgePassword = (room: string): string => `${room}-bridge-secret`;

/** The central broker: persistent, one login per room plus the fleet admin, the shipped ACL. */
export async function startCentralBroker(workDir: string, rooms: readonly string[]): Promise<Mosquitto> {
  const acl = join(workDir, 'central.acl');
  writeFileSync(acl, readFileSync('deploy/fleet/central.acl'));
  return startMosquitto({
    persistence: true,
    users: {
      [FLEET_ADMIN.username]: FLEET_ADMIN.password,
      ...Object.fromEntries(rooms.map((r) => [r, bridgePassword(r)])),
    },
    extra: [`acl_file ${acl}`],
  });
}

/** A room's broker, bridged by the shipped bridge file to the central broker at `centralPort`. */
export async function startRoomBroker(room: string, centralPort: number): Promise<Mosquitto> {
  const bridge = readFileSync('deploy/fleet/mujo-bridge.conf', 'utf8')
    .replaceAll('@GATEWAY_ID@', room)
    .replaceAll('@CENTRAL_ADDRESS@', `127.0.0.1:${centralPort}`)
    .replaceAll('@BRIDGE_PASSWORD@', bridgePassword(room))
    .split('\n');
  return startMosquitto({ persistence: true, extra: bridge });
}
