import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import mqtt from 'mqtt';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { EXIT_CONFIG } from '../../gateway/config/cli.ts';
import { loadConfig } from '../../gateway/config/index.ts';
import type { GatewayConfig } from '../../gateway/config/schema.ts';
import { freePort } from '../helpers/mosquitto.ts';

/*
 * Deployment files, checked without Docker, Kubernetes or a running systemd (none exists here):
 *  - deploy/docker/Dockerfile{,.jetson}: every COPY source exists and passes .dockerignore; the
 *    entrypoint is the package's bin; ports, volumes and environment overrides agree with what
 *    the gateway's own config loader makes of them;
 *  - deploy/compose: service names, ports and mount paths agree with the Dockerfile and with
 *    the gateway.yaml it mounts; authentication is on for MQTT (its mosquitto.conf run by the
 *    real mosquitto), InfluxDB and Grafana, with every secret required from .env;
 *  - deploy/k8s: every manifest parses; probes reach /health (readiness) on the port the
 *    ConfigMap's configuration serves; volumes, selectors and the config path line up;
 *  - deploy/systemd: `systemd-analyze verify` (when the binary exists) and the unit agrees
 *    with install.sh and with the gateway's exit codes;
 *  - the image's program: the gateway compiled by tsc (gateway/ only: what the image's
 *    `npm run build` sees, since .dockerignore leaves test/ and bench/ out) into a temp
 *    directory laid out like the image's /app runs --help, --validate-config (exit 0 on the
 *    shipped configs, 2 on a bad one), --print-config with the image's environment, and —
 *    when models/default exists — starts, answers /health and drains on SIGTERM.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// ---- Dockerfile -------------------------------------------------------------------------

interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly stage: string;
}

/** Instructions with continuation lines joined and comment lines dropped (Docker's rules). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = '';
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    if (current === '' && line.trim() === '') continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    const m = /^\s*(\S+)\s*(.*)$/s.exec(current);
    current = '';
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === 'FROM') stage = /\sAS\s+(\S+)/i.exec(args)?.[1] ?? `#${out.length}`;
    out.push({ op, args, stage });
  }
  return out;
}

/** Splits on whitespace, honouring "…" and '…' quoting. */
function words(s: string): string[] {
  return [...s.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** Exec form (JSON array) or shell form → argv. */
function execForm(args: string): string[] {
  return args.startsWith('[') ? (JSON.parse(args) as string[]) : words(args);
}

function envOf(instructions: Instruction[], stage: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of instructions.filter((x) => x.op === 'ENV' && x.stage === stage)) {
    for (const w of words(i.args)) {
      const eq = w.indexOf('=');
      assert.ok(eq > 0, `ENV uses key=value pairs: ${i.args}`);
      env[w.slice(0, eq)] = w.slice(eq + 1);
    }
  }
  return env;
}

interface Copy {
  readonly from: string | undefined;
  readonly sources: string[];
  readonly dest: string;
  readonly stage: string;
}

function copies(instructions: Instruction[]): Copy[] {
  return instructions
    .filter((i) => i.op === 'COPY')
    .map((i) => {
      const w = words(i.args);
      const flags = w.filter((x) => x.startsWith('--'));
      const rest = w.filter((x) => !x.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      return { from, sources: rest.slice(0, -1), dest: rest.at(-1)!, stage: i.stage };
    });
}

/** Absolute container path of `dest` given the stage's WORKDIR at that point (simplified: last WORKDIR). */
function workdirOf(instructions: Instruction[], stage: string): string {
  return instructions.filter((i) => i.op === 'WORKDIR' && i.stage === stage).at(-1)?.args ?? '/';
}

// ---- .dockerignore (Docker's semantics: last matching pattern wins; a pattern that matches a
// parent directory matches everything below it) ---------------------------------------------

function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/+$/, '');
      const re = new RegExp(
        '^' +
          pattern
            .split(/(\*\*\/?|\*|\?)/)
            .map((part) =>
              part === '**/' || part === '**'
                ? '(?:.*/)?' + (part === '**' ? '.*' : '')
                : part === '*'
                  ? '[^/]*'
                  : part === '?'
                    ? '[^/]'
                    : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
            )
            .join('') +
          '$',
      );
      return { negate, re };
    });
  return (path: string) => {
    const parts = path.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) {
      if (prefixes.some((p) => rule.re.test(p))) excluded = !rule.negate;
    }
    return excluded;
  };
}

function filesUnder(path: string): string[] {
  const abs = join(root, path);
  if (!statSync(abs).isDirectory()) return [path];
  return readdirSync(abs, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(root, join(d.parentPath, d.name)).split('\\').join('/'));
}

const isUnder = (path: string, dir: string) => path === dir || path.startsWith(dir.replace(/\/$/, '') + '/');

const packageJson = JSON.parse(read('package.json')) as {
  bin: Record<string, string>;
  scripts: Record<string, string>;
};
const BIN = packageJson.bin['mujo-gateway']!;

// The configuration the container sees: its file (if any) under the image's environment.
async function effectiveConfig(
  file: string | undefined,
  env: Record<string, string>,
): Promise<GatewayConfig> {
  return (await loadConfig({ file, env })).config;
}

function spoolDirs(config: GatewayConfig): string[] {
  const dirs = [config.mqtt.queue.spoolDir, config.recorder.dir];
  const influx = (config as unknown as { influx?: { enabled?: boolean; spoolDir?: string } }).influx;
  if (influx?.enabled && influx.spoolDir) dirs.push(influx.spoolDir);
  return dirs;
}

const ignored = dockerignore(read('.dockerignore'));

for (const dockerfile of ['deploy/docker/Dockerfile', 'deploy/docker/Dockerfile.jetson']) {
  describe(dockerfile, () => {
    const ins = parseDockerfile(read(dockerfile));
    const stages = [...new Set(ins.map((i) => i.stage))];
    const final = stages.at(-1)!;
    const finalIns = ins.filter((i) => i.stage === final);
    const env = envOf(ins, final);
    const workdir = workdirOf(ins, final);

    it('copies only files that exist in the repository and pass .dockerignore', () => {
      const local = copies(ins).filter((c) => c.from === undefined);
      assert.ok(local.length >= 5);
      for (const c of local) {
        for (const source of c.sources) {
          const path = source.replace(/\/$/, '');
          assert.ok(existsSync(join(root, path)), `${dockerfile}: COPY ${source}: not in the repository`);
          const files = filesUnder(path);
          assert.ok(files.length > 0, `${dockerfile}: COPY ${source} is empty`);
          const dropped = files.filter(ignored);
          assert.deepEqual(
            dropped,
            [],
            `${dockerfile}: COPY ${source}: .dockerignore leaves these out of the context`,
          );
        }
      }
    });

    it('copies from stages it defines, and the build stage runs `npm run build`', () => {
      for (const c of copies(ins).filter((x) => x.from !== undefined)) {
        assert.ok(stages.includes(c.from!), `COPY --from=${c.from}: no such stage (${stages.join(', ')})`);
      }
      const buildRuns = ins.filter((i) => i.stage === 'build' && i.op === 'RUN').map((i) => i.args);
      assert.ok(
        buildRuns.some((r) => /\bnpm run build\b/.test(r)),
        'the build stage runs npm run build',
      );
      // `npm run build` copies the live page into dist; the runtime takes dist/gateway whole.
      assert.match(packageJson.scripts['build']!, /cp -r gateway\/http\/public dist\/gateway\/http\/public/);
      const fromBuild = copies(ins)
        .filter((c) => c.from === 'build' && c.stage === final)
        .flatMap((c) => c.sources);
      assert.ok(fromBuild.includes('/app/dist/gateway'), 'runtime copies /app/dist/gateway');
      // dist/gateway imports the JSON Schemas under config/schemas; tsc emits them to dist/config.
      assert.ok(fromBuild.includes('/app/dist/config'), 'runtime copies /app/dist/config');
    });

    it('installs production dependencies with the onnxruntime download skipped', () => {
      const installs = ins.filter((i) => i.op === 'RUN' && /npm ci --omit=dev/.test(i.args));
      assert.equal(installs.length, 1, 'one npm ci --omit=dev');
      assert.equal(envOf(ins, installs[0]!.stage)['ONNXRUNTIME_NODE_INSTALL'], 'skip');
      // .npmrc says the same, and is copied next to package.json.
      assert.match(read('.npmrc'), /^onnxruntime-node-install=skip$/m);
      assert.ok(copies(ins).some((c) => c.stage === installs[0]!.stage && c.sources.includes('.npmrc')));
    });

    it('runs the package bin from /app as a non-root user, through an init', () => {
      assert.equal(workdir, '/app');
      const entry = execForm(finalIns.find((i) => i.op === 'ENTRYPOINT')!.args);
      assert.deepEqual(entry.slice(-2), ['node', BIN.replace(/^\.\//, '')]);
      assert.match(entry[0]!, /tini$/);
      const user = finalIns.filter((i) => i.op === 'USER').at(-1)?.args;
      assert.ok(user && user !== 'root' && user !== '0', `USER ${user}`);
      // version.ts reads the nearest package.json above dist/gateway.
      assert.ok(
        copies(ins).some((c) => c.stage === final && c.sources.includes('package.json') && c.dest === './'),
      );
    });

    it('exposes the ports, and mounts the paths, the default configuration uses in the container', async () => {
      const config = await effectiveConfig(undefined, env);
      // Published ports are useless on loopback: the image's environment opens both listeners.
      assert.equal(config.http.host, '0.0.0.0');
      assert.equal(config.mqtt.embeddedHost, '0.0.0.0');
      const exposed = finalIns
        .filter((i) => i.op === 'EXPOSE')
        .flatMap((i) => words(i.args))
        .map(Number);
      assert.deepEqual(exposed.sort(), [config.http.port, config.mqtt.embeddedPort].sort());
      const volumes = finalIns.filter((i) => i.op === 'VOLUME').flatMap((i) => execForm(i.args));
      for (const dir of spoolDirs(config)) {
        const abs = posix.resolve(workdir, dir);
        assert.ok(
          volumes.some((v) => isUnder(abs, v)),
          `${abs} (from the default config) is on no VOLUME`,
        );
      }
      assert.ok(volumes.includes('/config'));
      // The demo works without a config: its model and recording are in the image.
      const copied = copies(ins)
        .filter((c) => c.stage === final && c.from === undefined)
        .map((c) => posix.resolve(workdir, c.dest));
      for (const path of [config.model.path, config.replay.path]) {
        const abs = posix.resolve(workdir, path);
        assert.ok(
          copied.some((d) => isUnder(abs, d)),
          `${abs} is not copied into the image`,
        );
      }
    });

    it('health-checks /health on the HTTP port', async () => {
      const check = finalIns.find((i) => i.op === 'HEALTHCHECK')!.args;
      assert.match(check, /127\.0\.0\.1:\$\{process\.env\.MUJO__HTTP__PORT \|\| 8080\}\/health/);
      assert.equal((await effectiveConfig(undefined, env)).http.port, 8080);
    });
  });
}

describe('.dockerignore', () => {
  it('keeps bulky and private trees out of the build context', () => {
    for (const path of [
      'node_modules/yaml/package.json',
      'dist/gateway/main.js',
      'var/spool/x',
      '.git/HEAD',
      'runs/a',
      'encoders/x.py',
      'test/contract/deploy.test.ts',
      'recordings/other/recording.json',
    ]) {
      assert.ok(ignored(path), `${path} should not be sent to the builder`);
    }
    for (const path of [
      'package.json',
      'gateway/main.ts',
      'recordings/demo/labels.csv',
      'models/movenet/manifest.json',
    ]) {
      assert.ok(!ignored(path), `${path} must be in the context`);
    }
  });
});

// ---- compose ------------------------------------------------------------------------------

describe('deploy/compose is consistent with the Dockerfile', () => {
  const composeDir = join(root, 'deploy/compose');
  const compose = parseYaml(read('deploy/compose/docker-compose.yml')) as Json;
  const gateway = compose['services']['gateway'] as Json;
  const ins = parseDockerfile(read('deploy/docker/Dockerfile'));
  const final = [...new Set(ins.map((i) => i.stage))].at(-1)!;
  const workdir = workdirOf(ins, final);
  const mounts = (gateway['volumes'] as string[]).map((v) => {
    const [source, target] = v.split(':') as [string, string];
    return { source, target };
  });

  it('builds deploy/docker/Dockerfile with the repository as context', () => {
    assert.equal(join(composeDir, gateway['build']['context']), root);
    assert.ok(existsSync(join(root, gateway['build']['dockerfile'])));
    assert.equal(gateway['build']['dockerfile'], 'deploy/docker/Dockerfile');
  });

  it('passes a mounted config file; its ports, brokers and spools line up', async () => {
    const command = gateway['command'] as string[];
    const configPath = command[command.indexOf('--config') + 1]!;
    const mount = mounts.find((m) => m.target === configPath);
    assert.ok(mount, `--config ${configPath} is not a mount target`);
    const hostFile = join(composeDir, mount.source);
    assert.ok(existsSync(hostFile), mount.source);

    const env = {
      ...envOf(ins, final),
      ...((gateway['environment'] as Record<string, string> | undefined) ?? {}),
    };
    const config = await effectiveConfig(hostFile, env);
    const published = (gateway['ports'] as string[]).map((p) => Number(p.split(':').at(-1)));
    assert.ok(
      published.includes(config.http.port),
      `http.port ${config.http.port} is published (${published})`,
    );
    const exposed = ins
      .filter((i) => i.stage === final && i.op === 'EXPOSE')
      .flatMap((i) => words(i.args))
      .map(Number);
    for (const port of published) assert.ok(exposed.includes(port), `${port} is EXPOSEd`);
    assert.equal(config.http.host, '0.0.0.0');

    const services = Object.keys(compose['services'] as Json);
    assert.ok(config.mqtt.url, 'compose runs mosquitto: mqtt.url points at it');
    assert.ok(
      services.includes(new URL(config.mqtt.url).hostname),
      `mqtt.url ${config.mqtt.url} names a service`,
    );
    const influx = (config as unknown as { influx?: { enabled: boolean; url: string } }).influx;
    if (influx?.enabled)
      assert.ok(services.includes(new URL(influx.url).hostname), `influx.url ${influx.url}`);
    for (const service of gateway['depends_on'] as string[]) assert.ok(services.includes(service));

    // Spools survive `docker compose up` recreating the container only on a volume.
    for (const dir of spoolDirs(config)
      .slice(0, 1)
      .concat(influx?.enabled ? spoolDirs(config).slice(-1) : [])) {
      const abs = posix.resolve(workdir, dir);
      assert.ok(
        mounts.some((m) => isUnder(abs, m.target)),
        `${abs} is on no volume`,
      );
    }
    for (const m of mounts.filter((x) => !x.source.startsWith('.'))) {
      assert.ok(m.source in (compose['volumes'] as Json), `named volume ${m.source} is declared`);
    }
  });
});

// ---- k8s ----------------------------------------------------------------------------------

describe('deploy/k8s', () => {
  const dir = join(root, 'deploy/k8s');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  const docs: Json[] = [];
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      assert.deepEqual(doc.errors, [], `${f} parses`);
      docs.push({ ...(doc.toJS() as Json), __file: f });
    }
  }
  const byKind = (kind: string) => docs.filter((d) => d['kind'] === kind);
  const deployment = byKind('Deployment')[0]!;
  const pod = deployment['spec']['template']['spec'] as Json;
  const container = pod['containers'][0] as Json;

  it('every manifest parses and is listed in the kustomization', () => {
    const kustomization = byKind('Kustomization')[0]!;
    const resources = [...(kustomization['resources'] as string[])].sort();
    assert.deepEqual(resources, files.filter((f) => f !== 'kustomization.yaml').sort());
    for (const d of docs) {
      assert.ok(d['apiVersion'] && d['kind'], `${d['__file']}: apiVersion and kind`);
      if (d['kind'] !== 'Kustomization') assert.ok(d['metadata']?.['name'], `${d['__file']}: metadata.name`);
    }
    for (const kind of ['Deployment', 'ConfigMap', 'Service', 'PersistentVolumeClaim']) {
      assert.equal(byKind(kind).length, 1, kind);
    }
  });

  it('probes: readiness on /health, all on the port the ConfigMap configuration serves', async () => {
    const args = container['args'] as string[];
    const configPath = args[args.indexOf('--config') + 1]!;
    const mount = (container['volumeMounts'] as Json[]).find((m) => isUnder(configPath, m['mountPath']))!;
    assert.ok(mount, `--config ${configPath} is under a volume mount`);
    const volume = (pod['volumes'] as Json[]).find((v) => v['name'] === mount['name'])!;
    const configMap = byKind('ConfigMap').find((c) => c['metadata']['name'] === volume['configMap']['name'])!;
    const key = posix.relative(mount['mountPath'], configPath);
    assert.ok(typeof configMap['data'][key] === 'string', `ConfigMap has ${key}`);

    const tmp = mkdtempSync(join(tmpdir(), 'mujo-k8s-'));
    try {
      const file = join(tmp, key);
      writeFileSync(file, configMap['data'][key]);
      const ins = parseDockerfile(read('deploy/docker/Dockerfile'));
      const final = [...new Set(ins.map((i) => i.stage))].at(-1)!;
      const env: Record<string, string> = { ...envOf(ins, final) };
      for (const e of (container['env'] as Json[] | undefined) ?? []) {
        if (typeof e['value'] === 'string') env[e['name']] = e['value'];
      }
      const config = await effectiveConfig(file, env);

      const ports = container['ports'] as Json[];
      const portOf = (p: string | number) =>
        typeof p === 'number' ? p : ports.find((x) => x['name'] === p)?.['containerPort'];
      assert.equal(portOf('http'), config.http.port);
      assert.equal(config.http.host, '0.0.0.0');
      if (!config.mqtt.url) assert.equal(portOf('mqtt'), config.mqtt.embeddedPort);

      assert.equal(container['readinessProbe']['httpGet']['path'], '/health');
      const server = read('gateway/http/server.ts');
      for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
        const get = container[probe]['httpGet'] as Json;
        assert.equal(portOf(get['port']), config.http.port, `${probe} port`);
        assert.ok(server.includes(`app.get('${get['path']}'`), `${probe} path ${get['path']} is a GET route`);
      }

      const varMount = (container['volumeMounts'] as Json[]).find((m) => m['mountPath'] === '/app/var')!;
      const claim = (pod['volumes'] as Json[]).find((v) => v['name'] === varMount['name'])![
        'persistentVolumeClaim'
      ];
      assert.equal(claim['claimName'], byKind('PersistentVolumeClaim')[0]!['metadata']['name']);
      for (const d of spoolDirs(config)) assert.ok(isUnder(posix.resolve('/app', d), '/app/var'), d);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('selectors match, the Service targets named container ports, shutdown has time to drain', () => {
    const labels = deployment['spec']['template']['metadata']['labels'] as Json;
    for (const [k, v] of Object.entries(deployment['spec']['selector']['matchLabels'] as Json))
      assert.equal(labels[k], v);
    const service = byKind('Service')[0]!;
    for (const [k, v] of Object.entries(service['spec']['selector'] as Json)) assert.equal(labels[k], v);
    const names = (container['ports'] as Json[]).map((p) => p['name']);
    for (const p of service['spec']['ports'] as Json[])
      assert.ok(names.includes(p['targetPort']), p['targetPort']);
    assert.equal(deployment['spec']['strategy']['type'], 'Recreate');
    assert.ok(pod['terminationGracePeriodSeconds'] >= 60);
    assert.equal(pod['securityContext']['runAsNonRoot'], true);
  });
});

// ---- systemd ------------------------------------------------------------------------------

describe('deploy/systemd', () => {
  const unitText = read('deploy/systemd/mujo-gateway.service');
  const unit = new Map<string, string[]>();
  for (const line of unitText.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) unit.set(m[1]!, [...(unit.get(m[1]!) ?? []), m[2]!]);
  }
  const one = (key: string) => unit.get(key)?.at(-1);

  it('systemd-analyze verify accepts the unit', (t) => {
    const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (analyze.error) {
      t.skip('systemd-analyze is not installed here');
      return;
    }
    const tmp = mkdtempSync(join(tmpdir(), 'mujo-unit-'));
    try {
      // verify checks that ExecStart's binary exists: use this machine's node if it lives elsewhere.
      const text = existsSync('/usr/bin/node')
        ? unitText
        : unitText.replaceAll('/usr/bin/node', process.execPath);
      writeFileSync(join(tmp, 'mujo-gateway.service'), text);
      const r = spawnSync('systemd-analyze', ['verify', join(tmp, 'mujo-gateway.service')], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      // Unknown keys and unparsable values are only warnings (exit 0): none allowed.
      assert.equal(r.stderr.trim(), '');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('agrees with install.sh, the package bin and the gateway exit codes', () => {
    const install = read('deploy/systemd/install.sh');
    const prefix = /^PREFIX=\$\{PREFIX:-(\S+)\}$/m.exec(install)![1]!;
    assert.equal(one('WorkingDirectory'), prefix);
    assert.equal(one('ExecStart'), `/usr/bin/node ${prefix}/${BIN.replace(/^\.\//, '')}`);
    const stateDir = /^STATE_DIR=(\S+)$/m.exec(install)![1]!;
    assert.equal(`/var/lib/${one('StateDirectory')}`, stateDir);
    assert.match(install, /ln -sfn "\$STATE_DIR" "\$staging\/var"/);
    assert.equal(one('User'), /^SERVICE_USER=(\S+)$/m.exec(install)![1]);
    const confDir = /^CONF_DIR=\$\{CONF_DIR:-(\S+)\}$/m.exec(install)![1]!;
    assert.ok(unit.get('Environment')!.includes(`MUJO_CONFIG=${confDir}/gateway.yaml`));
    assert.ok(unit.get('ReadWritePaths')!.includes(confDir));
    assert.equal(one('RestartPreventExitStatus'), String(EXIT_CONFIG));
    assert.equal(one('Restart'), 'on-failure');
    // Readiness and the watchdog: gateway/main.ts notifies through systemd-notify, a child process.
    assert.equal(one('Type'), 'notify');
    assert.equal(one('NotifyAccess'), 'all');
    assert.ok(Number.parseInt(one('WatchdogSec')!, 10) >= 10);
    assert.ok(one('RestrictAddressFamilies')!.split(' ').includes('AF_UNIX'), 'the notify socket is AF_UNIX');
    assert.equal(one('ProtectSystem'), 'strict');
    assert.ok(Number.parseInt(one('TimeoutStopSec')!, 10) >= 30);
    for (const cap of ['CAP_NET_RAW', 'CAP_NET_ADMIN']) {
      assert.ok(one('AmbientCapabilities')!.split(' ').includes(cap));
      assert.ok(one('CapabilityBoundingSet')!.split(' ').includes(cap));
    }
    assert.ok(one('RestrictAddressFamilies')!.includes('AF_BLUETOOTH'));
    // V8's JIT needs W+X pages: this would kill node at start.
    assert.ok(!unit.has('MemoryDenyWriteExecute'));
    const syntax = spawnSync('bash', ['-n', join(root, 'deploy/systemd/install.sh')], { encoding: 'utf8' });
    assert.equal(syntax.status, 0, syntax.stderr);
  });
});

// ---- the built program, laid out like the image's /app ---------------------------------------

describe('the gateway built by tsc runs from dist/ (image layout)', () => {
  let app = '';
  let tmp = '';
  const imageEnv = envOf(parseDockerfile(read('deploy/docker/Dockerfile')), 'runtime');

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'mujo-build-'));
    app = join(tmp, 'app');
    // The repository's compiler options, gateway/ only (what the image build compiles).
    writeFileSync(
      join(tmp, 'tsconfig.json'),
      JSON.stringify({
        extends: join(root, 'tsconfig.json'),
        compilerOptions: {
          outDir: join(app, 'dist'),
          rootDir: root,
          typeRoots: [join(root, 'node_modules', '@types')],
          sourceMap: false,
        },
        include: [join(root, 'gateway', '**', '*.ts')],
      }),
    );
    const tsc = spawnSync(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(tmp, 'tsconfig.json')],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(tsc.status, 0, `tsc failed:\n${tsc.stdout}${tsc.stderr}`);
    cpSync(join(root, 'gateway/http/public'), join(app, 'dist/gateway/http/public'), { recursive: true });
    cpSync(join(root, 'package.json'), join(app, 'package.json'));
    for (const name of ['node_modules', 'models', 'recordings', 'config'])
      symlinkSync(join(root, name), join(app, name));
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [join(app, BIN), ...args], {
      cwd: app,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '', ...env },
      timeout: 30_000,
    });

  it('--help exits 0', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /--config <file>/);
  });

  it('--validate-config: 0 on the shipped configurations, 2 on a bad one', () => {
    for (const file of ['config/gateway.example.yaml', 'deploy/compose/gateway.yaml']) {
      const r = run(['--config', join(root, file), '--validate-config'], imageEnv);
      assert.equal(r.status, 0, `${file}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /^OK/);
    }
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, 'http:\n  port: eighty\n');
    const r = run(['--config', bad, '--validate-config']);
    assert.equal(r.status, EXIT_CONFIG, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /http\.port/);
  });

  it('the image environment opens the listeners (--print-config)', () => {
    const r = run(['--print-config'], imageEnv);
    assert.equal(r.status, 0, r.stderr);
    const printed = parseYaml(r.stdout) as Json;
    assert.equal(printed['http']['host'], '0.0.0.0');
    assert.equal(printed['mqtt']['embeddedHost'], '0.0.0.0');
  });

  it('starts the demo, answers /health and the live page, drains on SIGTERM', async () => {
    // The shipped model when it is built; otherwise the small test model (same manifest format),
    // which is enough to prove the build starts, serves and stops.
    const model = existsSync(join(root, 'models/default/manifest.json'))
      ? 'models/default'
      : join(root, 'test/fixtures/tiny-model');
    const child = spawn(process.execPath, [join(app, BIN), '--port', '0'], {
      cwd: app,
      env: {
        PATH: process.env['PATH'] ?? '',
        MUJO__MODEL__PATH: model,
        MUJO__MODEL__PROVIDERS: '["cpu"]',
        MUJO__MQTT__EMBEDDED_PORT: '0',
        MUJO__HTTP__HOST: '127.0.0.1',
        MUJO__MQTT__EMBEDDED_HOST: '127.0.0.1',
        MUJO__MQTT__QUEUE__SPOOL_DIR: join(tmp, 'spool'),
        MUJO__LOG__LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 40_000;
      let url: string | undefined;
      while (!url && Date.now() < deadline) {
        url = /Health:\s+(http:\/\/\S+)\/health/.exec(stderr)?.[1];
        if (!url) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(url, `no HTTP address printed:\n${stderr}`);
      let status = 0;
      while (status !== 200 && Date.now() < deadline) {
        status = (await fetch(`${url}/health`)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(status, 200);
      const page = await fetch(`${url}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i);
      const info = (await (await fetch(`${url}/api/info`)).json()) as Json;
      // version.ts found /app/package.json from dist/gateway.
      assert.equal(info['version'], (JSON.parse(read('package.json')) as { version: string }).version);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
  });
});

// ---- compose: authentication on by default ------------------------------------------------

describe('deploy/compose has authentication on everywhere, secrets from .env', () => {
  const composeText = read('deploy/compose/docker-compose.yml');
  const compose = parseYaml(composeText) as Json;
  const services = compose['services'] as Record<string, Json>;
  const envOfService = (name: string) => (services[name]!['environment'] ?? {}) as Record<string, string>;
  const exampleVars = new Map(
    read('deploy/compose/.env.example')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
  );

  it('every secret is required from .env (compose refuses to start without it) and listed, empty, in .env.example', () => {
    const referenced = new Set([...composeText.matchAll(/\$\{([A-Z_]+)(:[?-][^}]*)?\}/g)].map((m) => m[1]!));
    for (const name of referenced) {
      assert.ok(exampleVars.has(name), `${name} is in .env.example`);
      if (/PASSWORD|TOKEN/.test(name)) assert.equal(exampleVars.get(name), '', `${name} ships empty`);
    }
    for (const m of composeText.matchAll(/\$\{([A-Z_]+)(:[?-][^}]*)?\}/g))
      assert.match(m[2] ?? '', /^:\?/, `\${${m[1]}} must be required (:?), not defaulted`);
    for (const [service, env] of Object.entries(services).map(([n]) => [n, envOfService(n)] as const))
      for (const [key, value] of Object.entries(env))
        if (/PASSWORD|TOKEN/.test(key))
          assert.match(String(value), /\$\{[A-Z_]+:\?/, `${service} ${key} comes from .env`);
    const gitignore = read('.gitignore').split('\n');
    assert.ok(gitignore.includes('deploy/compose/.env'), '.env is never committed');
  });

  it('Grafana has no anonymous viewer; InfluxDB requires a user; the datasource and gateway use the users', () => {
    const grafana = envOfService('grafana');
    assert.equal(grafana['GF_AUTH_ANONYMOUS_ENABLED'], 'false');
    assert.equal(grafana['GF_AUTH_ANONYMOUS_ORG_ROLE'], undefined);
    assert.ok(grafana['GF_SECURITY_ADMIN_PASSWORD']);
    const influx = envOfService('influxdb');
    assert.equal(influx['INFLUXDB_HTTP_AUTH_ENABLED'], 'true');
    assert.match(grafana['MUJO_INFLUX_USER']!, /INFLUX_READ_USER/);
    const datasource = read('dashboards/grafana/provisioning/datasources/influxdb.yaml');
    assert.match(datasource, /user: \$\{MUJO_INFLUX_USER/);
    assert.match(datasource, /password: \$\{MUJO_INFLUX_PASSWORD/);
    const gateway = envOfService('gateway');
    assert.match(gateway['MUJO__INFLUX__TOKEN']!, /INFLUX_WRITE_USER.*:.*INFLUX_WRITE_PASSWORD/);
    assert.match(gateway['MUJO__MQTT__PASSWORD']!, /MQTT_PASSWORD/);
    assert.match(gateway['MUJO__HTTP__TOKEN']!, /GATEWAY_TOKEN/);
  });

  it("the compose mosquitto.conf, run by the real mosquitto, refuses anonymous clients, accepts .env's user and lets it have 1000 messages in flight", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mujo-compose-mqtt-'));
    const port = await freePort();
    try {
      // The container's own start: mosquitto_passwd -c -b <file> "$MQTT_USER" "$MQTT_PASSWORD".
      const passwd = join(dir, 'passwd');
      const made = spawnSync('mosquitto_passwd', ['-c', '-b', passwd, 'mujo', 's3cret-from-env']);
      assert.equal(made.status, 0, String(made.stderr));
      const conf = read('deploy/compose/mosquitto.conf')
        .replace(/^listener 1883 0\.0\.0\.0$/m, `listener ${port} 127.0.0.1`)
        .replace(/^password_file \/mosquitto\/data\/passwd$/m, `password_file ${passwd}`)
        .replace(/^persistence_location .*$/m, `persistence_location ${dir}/`);
      assert.match(conf, /^allow_anonymous false$/m);
      writeFileSync(join(dir, 'mosquitto.conf'), `${conf}\nuser ${userInfo().username}\n`);
      const broker = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
      try {
        const connect = (opts: mqtt.IClientOptions) =>
          new Promise<string>((resolve) => {
            const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
              ...opts,
              reconnectPeriod: 0,
              connectTimeout: 5000,
            });
            client.once('connect', () => {
              client.end(true);
              resolve('accepted');
            });
            client.once('error', (err) => {
              client.end(true);
              resolve(err.message);
            });
          });
        let anonymous = await connect({});
        for (let i = 0; i < 100 && /ECONNREFUSED/.test(anonymous); i++) {
          await new Promise((r) => setTimeout(r, 50));
          anonymous = await connect({});
        }
        assert.match(anonymous, /Not authorized|Bad username or password/i);
        assert.match(
          await connect({ username: 'mujo', password: 'wrong' }),
          /Not authorized|Bad username or password/i,
        );
        assert.equal(await connect({ username: 'mujo', password: 's3cret-from-env' }), 'accepted');
        // The in-flight window it announces to MQTT 5 clients (the gateway's QoS 1 publishes
        // awaiting PUBACK): 1000, not mosquitto's default 20.
        const receiveMaximum = await new Promise<number | undefined>((resolve, reject) => {
          const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
            username: 'mujo',
            password: 's3cret-from-env',
            protocolVersion: 5,
            reconnectPeriod: 0,
            connectTimeout: 5000,
          });
          client.once('connect', (connack) => {
            client.end(true);
            resolve(connack.properties?.receiveMaximum);
          });
          client.once('error', (err) => {
            client.end(true);
            reject(err);
          });
        });
        assert.equal(receiveMaximum, 1000);
      } finally {
        broker.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
