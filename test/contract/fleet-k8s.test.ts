/*
 * deploy/fleet on Kubernetes, checked without a cluster (none exists here):
 *  - every resource and generated file in the kustomization exists and parses; selectors,
 *    Service ports and the ConfigMaps and Secrets the pods mount line up;
 *  - the central broker's mounts are where central.conf looks for its password file and ACL;
 *  - the room pod's gateway configuration validates with the DaemonSet's environment (gateway
 *    id = node name) and points at the room broker and the InfluxDB Service;
 *  - the room pod's bridge renderer, run by a real shell, fills in the shipped bridge file
 *    (with a password sed would trip on), and a real mosquitto with that file bridges to a
 *    real central mosquitto; a node with no password in the Secret fails with a coded error;
 *  - the fleet view's arguments reach the central broker Service and serve the probed port.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../gateway/config/index.ts';
import { observe, startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const DIR = 'deploy/fleet';
const kustomization = parseYaml(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as Json;
const docs: Json[] = (kustomization['resources'] as string[]).flatMap((file) =>
  parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => {
    assert.deepEqual(doc.errors, [], `${file} parses`);
    return doc.toJS() as Json;
  }),
);
const generated = kustomization['configMapGenerator'] as Json[];
const named = (kind: string, name: string): Json => {
  const doc = docs.find((d) => d['kind'] === kind && d['metadata']['name'] === name);
  assert.ok(doc, `${kind} ${name}`);
  return doc;
};
const podOf = (workload: Json): Json => workload['spec']['template']['spec'] as Json;
const containerOf = (workload: Json, name: string): Json => {
  const pod = podOf(workload);
  const c = [...(pod['initContainers'] ?? []), ...pod['containers']].find((x: Json) => x['name'] === name);
  assert.ok(c, `container ${name}`);
  return c as Json;
};
/** The file a container sees at `path`, resolved through its volume mounts to a ConfigMap key. */
function mountedFile(workload: Json, container: Json, path: string): { configMap: string; key: string } {
  const mount = (container['volumeMounts'] as Json[]).find(
    (m) => path === m['mountPath'] || path.startsWith(`${m['mountPath']}/`),
  );
  assert.ok(mount, `${path} is mounted in ${container['name']}`);
  const volume = (podOf(workload)['volumes'] as Json[]).find((v) => v['name'] === mount['name'])!;
  const source = volume['configMap'] ?? volume['secret'];
  assert.ok(source, `${path} comes from a ConfigMap or Secret`);
  const key = mount['subPath'] ?? posix.relative(mount['mountPath'], path);
  return { configMap: source['name'] ?? source['secretName'], key };
}
const configMapText = (name: string, key: string): string => {
  const gen = generated.find((g) => g['name'] === name);
  if (gen) return readFileSync(join(DIR, key), 'utf8');
  return named('ConfigMap', name)['data'][key] as string;
};

const central = named('Deployment', 'mujo-central-broker');
const room = named('DaemonSet', 'mujo-room');
const view = named('Deployment', 'mujo-fleet-view');

describe('deploy/fleet (Kubernetes)', () => {
  it('every resource and generated file exists; workloads, Services and mounts line up', () => {
    for (const g of generated) for (const f of g['files'] as string[]) assert.ok(existsSync(join(DIR, f)), f);
    const workloads = docs.filter((d) => d['kind'] === 'Deployment' || d['kind'] === 'DaemonSet');
    for (const w of workloads) {
      const labels = w['spec']['template']['metadata']['labels'] as Json;
      for (const [k, v] of Object.entries(w['spec']['selector']['matchLabels'] as Json))
        assert.equal(labels[k], v);
      for (const volume of podOf(w)['volumes'] as Json[]) {
        const cm = volume['configMap']?.['name'] as string | undefined;
        if (cm)
          assert.ok(
            generated.some((g) => g['name'] === cm) ||
              docs.some((d) => d['kind'] === 'ConfigMap' && d['metadata']['name'] === cm),
            `ConfigMap ${cm}`,
          );
        const claim = volume['persistentVolumeClaim']?.['claimName'] as string | undefined;
        if (claim) named('PersistentVolumeClaim', claim);
      }
    }
    const fleetDoc = readFileSync('docs/fleet.md', 'utf8');
    for (const w of workloads)
      for (const volume of podOf(w)['volumes'] as Json[])
        if (volume['secret'])
          assert.ok(
            fleetDoc.includes(volume['secret']['secretName']),
            `docs say how to make Secret ${volume['secret']['secretName']}`,
          );
    for (const service of docs.filter((d) => d['kind'] === 'Service')) {
      const target = workloads.find((w) =>
        Object.entries(service['spec']['selector'] as Json).every(
          ([k, v]) => w['spec']['template']['metadata']['labels'][k] === v,
        ),
      );
      assert.ok(target, `Service ${service['metadata']['name']} selects a workload`);
      const ports = (podOf(target)['containers'] as Json[]).flatMap((c) => (c['ports'] ?? []) as Json[]);
      for (const p of service['spec']['ports'] as Json[])
        assert.ok(
          ports.some((x) => x['name'] === p['targetPort']),
          `${service['metadata']['name']} → ${p['targetPort']}`,
        );
    }
  });

  it("the central broker's files are where central.conf looks for them", () => {
    const broker = containerOf(central, 'mosquitto');
    const mainPath = (broker['command'] as string[]).at(-1)!;
    const main = mountedFile(central, broker, mainPath);
    const mainText = configMapText(main.configMap, main.key);
    const includeDir = /^include_dir (.+)$/m.exec(mainText)?.[1];
    assert.ok(includeDir, 'the main file includes a directory');
    const mounted = (broker['volumeMounts'] as Json[]).find((m) => dirname(m['mountPath']) === includeDir);
    assert.equal(mounted?.['subPath'], 'central.conf', 'central.conf is in the included directory');
    const centralConf = readFileSync(join(DIR, 'central.conf'), 'utf8');
    for (const [directive, key] of [
      ['password_file', 'mujo-passwd'],
      ['acl_file', 'central.acl'],
    ] as const) {
      const path = new RegExp(`^${directive} (.+)$`, 'm').exec(centralConf)?.[1];
      assert.ok(path, directive);
      assert.equal(mountedFile(central, broker, path).key, key, `${directive} ${path}`);
    }
    const data = (broker['volumeMounts'] as Json[]).find((m) => m['name'] === 'data')!;
    assert.equal(/^persistence_location (.+)$/m.exec(mainText)?.[1], `${data['mountPath']}/`);
  });

  it("the room's gateway configuration validates with the DaemonSet's environment and points at its brokers", async () => {
    const gateway = containerOf(room, 'gateway');
    const args = gateway['args'] as string[];
    const file = mountedFile(room, gateway, args[args.indexOf('--config') + 1]!);
    const tmp = mkdtempSync(join(tmpdir(), 'mujo-fleet-k8s-'));
    try {
      const path = join(tmp, 'gateway.yaml');
      writeFileSync(path, configMapText(file.configMap, file.key));
      const env = gateway['env'] as Json[];
      assert.equal(
        env.find((e) => e['name'] === 'MUJO__GATEWAY__ID')?.['valueFrom']['fieldRef']['fieldPath'],
        'spec.nodeName',
      );
      const { config } = await loadConfig({
        file: path,
        env: { MUJO__GATEWAY__ID: 'room-1', MUJO__INFLUX__TOKEN: 'gateway:secret' },
      });
      assert.equal(config.gateway.id, 'room-1');
      assert.equal(config.fleet.handover.enabled, true);
      // The room broker listens where the gateway connects.
      const roomBroker = configMapText('mujo-room', 'mosquitto.conf');
      const listener = /^listener (\d+) (\S+)$/m.exec(roomBroker);
      assert.equal(config.mqtt.url, `mqtt://${listener?.[2]}:${listener?.[1]}`);
      // InfluxDB is the Service's name and port.
      const influx = named('Service', 'mujo-influxdb');
      const url = new URL((config as unknown as { influx: { url: string } }).influx.url);
      assert.equal(url.hostname, influx['metadata']['name']);
      assert.equal(Number(url.port), influx['spec']['ports'][0]['port']);
      const http = (gateway['ports'] as Json[]).find((p) => p['name'] === 'http');
      assert.equal(http?.['containerPort'], config.http.port);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('the fleet view reaches the central broker Service and serves its probed port', () => {
    const c = containerOf(view, 'fleet-view');
    const args = c['args'] as string[];
    const arg = (flag: string) => args[args.indexOf(flag) + 1]!;
    const broker = new URL(arg('--broker'));
    const service = named('Service', 'mujo-central-broker');
    assert.equal(broker.hostname, service['metadata']['name']);
    assert.equal(Number(broker.port), service['spec']['ports'][0]['port']);
    assert.equal(Number(arg('--port')), (c['ports'] as Json[])[0]!['containerPort']);
    assert.ok(
      existsSync((c['command'] as string[])[1]!.replace(/^dist\//, '').replace(/\.js$/, '.ts')),
      'the command is a built module',
    );
    const server = readFileSync('gateway/fleet/view/server.ts', 'utf8');
    for (const probe of ['readinessProbe', 'livenessProbe'])
      assert.ok(server.includes(`get('${c[probe]['httpGet']['path']}'`), probe);
  });
});

describe("the room pod's bridge, rendered by its script, on real mosquittos", () => {
  const PASSWORD = 'pa/ss&wo\\rd';
  let tmp: string;
  let centralBroker: Mosquitto;
  let roomBroker: Mosquitto | undefined;
  const render = containerOf(room, 'render-bridge');
  const scriptPath = (render['command'] as string[]).at(-1)!;
  const script = mountedFile(room, render, scriptPath);
  const envValue = (name: string) =>
    (render['env'] as Json[]).find((e) => e['name'] === name)?.['value'] as string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'mujo-fleet-render-'));
    centralBroker = await startMosquitto({ users: { 'room-1': PASSWORD, admin: 'admin' } });
  });
  after(async () => {
    await roomBroker?.dispose();
    await centralBroker?.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  function runScript(secrets: Record<string, string>) {
    const dir = join(tmp, `run-${Math.random().toString(36).slice(2)}`);
    mkdirSync(join(dir, 'secrets'), { recursive: true });
    mkdirSync(join(dir, 'out'));
    for (const [k, v] of Object.entries(secrets)) writeFileSync(join(dir, 'secrets', k), v);
    writeFileSync(join(dir, 'render.sh'), configMapText(script.configMap, script.key));
    const result = spawnSync('sh', [join(dir, 'render.sh')], {
      encoding: 'utf8',
      env: {
        PATH: process.env['PATH'],
        ROOM_ID: 'room-1',
        CENTRAL_ADDRESS: `127.0.0.1:${centralBroker.port}`,
        BRIDGE_PASSWORDS: join(dir, 'secrets'),
        TEMPLATE: join(DIR, posix.basename(envValue('TEMPLATE'))),
        OUT: join(dir, 'out'),
      },
    });
    return { ...result, out: join(dir, 'out') };
  }

  it('renders the shipped bridge file and the room bridges to the central broker', async () => {
    assert.equal(
      envValue('OUT'),
      /^include_dir (.+)$/m.exec(configMapText('mujo-room', 'mosquitto.conf'))?.[1],
    );
    const run = runScript({ 'room-1': `${PASSWORD}\n` });
    assert.equal(run.status, 0, run.stderr);
    const rendered = readFileSync(join(run.out, 'mujo-bridge.conf'), 'utf8');
    assert.doesNotMatch(rendered, /@[A-Z_]+@/, 'every placeholder is filled');
    assert.match(rendered, /^remote_password pa\/ss&wo\\rd$/m);
    const watcher = await observe(centralBroker.url, ['mujo/room-1/#'], {
      username: 'admin',
      password: 'admin',
    });
    try {
      roomBroker = await startMosquitto({ extra: rendered.split('\n') });
      await watcher.waitFor(
        (m) => m.topic === 'mujo/room-1/bridge/state' && m.payload.toString() === '1',
        1,
        20_000,
      );
      const local = await observe(roomBroker.url, []);
      await local.client.publishAsync('mujo/room-1/status', '{"v":1}', { qos: 1 });
      await watcher.waitFor((m) => m.topic === 'mujo/room-1/status', 1, 10_000);
      await local.close();
    } finally {
      await watcher.close();
    }
  });

  it('a node without a password in the Secret fails with a coded error', () => {
    const run = runScript({ 'room-2': 'x' });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /MUJO_FLEET_NO_BRIDGE_PASSWORD: .*room-1/);
  });
});
