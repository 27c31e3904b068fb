import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../../gateway/config/index.ts';
import { ConfigFileDevices } from '../../../gateway/devices/config-file.ts';
import { GatewayError } from '../../../gateway/observability/errors.ts';

const ORIGINAL = `# Gym floor 2 gateway
gateway:
  id: floor2   # used in every topic

ble:
  enabled: true
  # The dongle on the back of the rack
  adapter: hci1
  devices:
    # Alice's chest strap
    - address: A0:9E:1A:00:00:01
      family: polar-pmd
      placement: chest
      subject: alice
    - id: bob-wrist   # spare sensor
      namePattern: '^WT901'
      family: witmotion

subjects:
  - id: alice
  - id: bob
`;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mujo-config-file-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fileWith(text: string, name: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

describe('ConfigFileDevices: runtime device changes written into the YAML file', () => {
  it('add, assign and remove edit only ble.devices; every comment and the rest of the file survive', async () => {
    const file = await fileWith(ORIGINAL, 'gym.yaml');
    const store = new ConfigFileDevices(file);
    await store.add({
      id: 'carol-thigh',
      address: 'C0:FF:EE:00:00:04',
      family: 'thingy52',
      placement: 'thigh',
      rateHz: 100,
    });
    // The first entry has no id: it is found by the id the gateway derives from its address.
    assert.equal(await store.assign('ble-a09e1a000001', { subject: 'bob', placement: 'wrist' }), true);
    assert.equal(await store.assign('bob-wrist', { subject: null }), true);
    assert.equal(await store.remove('carol-thigh'), true);
    assert.equal(await store.remove('nobody'), false);
    assert.equal(await store.assign('nobody', { subject: 'x' }), false);

    const text = await readFile(file, 'utf8');
    for (const comment of [
      '# Gym floor 2 gateway',
      '# used in every topic',
      '# The dongle on the back of the rack',
      "# Alice's chest strap",
      '# spare sensor',
    ])
      assert.ok(text.includes(comment), `comment lost: ${comment}\n${text}`);
    assert.ok(!text.includes('carol'), text);

    const { config } = await loadConfig({ file, env: {} });
    assert.equal(config.gateway.id, 'floor2');
    assert.equal(config.ble.adapter, 'hci1');
    assert.deepEqual(
      config.ble.devices.map((d) => [d.id, d.subject, d.placement]),
      [
        ['ble-a09e1a000001', 'bob', 'wrist'],
        ['bob-wrist', undefined, 'unknown'],
      ],
    );
    // No temp file left behind.
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.endsWith('.tmp')),
      [],
    );
  });

  it('creates ble.devices (and ble) when the file has none, as a block list that validates', async () => {
    const file = await fileWith('# empty but for this comment\nhttp:\n  port: 9000\n', 'bare.yaml');
    const store = new ConfigFileDevices(file);
    await store.add({ address: 'AA:BB:CC:DD:EE:01', family: 'movesense', placement: 'wrist', rateHz: 52 });
    await store.add({ address: 'AA:BB:CC:DD:EE:02', family: 'metawear', placement: 'ankle', rateHz: 100 });
    const text = await readFile(file, 'utf8');
    assert.ok(text.startsWith('# empty but for this comment\n'), text);
    assert.match(text, /devices:\n\s+- address: AA:BB:CC:DD:EE:01/);
    const { config } = await loadConfig({ file, env: {} });
    assert.equal(config.http.port, 9000);
    assert.deepEqual(
      config.ble.devices.map((d) => d.family),
      ['movesense', 'metawear'],
    );
  });

  it('turns `devices: []` into a block list and keeps the comment after it', async () => {
    const file = await fileWith('ble:\n  enabled: true\n  devices: []   # none yet\n', 'flow.yaml');
    await new ConfigFileDevices(file).add({
      address: 'AA:BB:CC:DD:EE:03',
      family: 'witmotion',
      placement: 'wrist',
      rateHz: 50,
    });
    const { config } = await loadConfig({ file, env: {} });
    assert.equal(config.ble.devices.length, 1);
    assert.ok((await readFile(file, 'utf8')).includes('# none yet'));
  });

  it('concurrent changes are serialised: none is lost', async () => {
    const file = await fileWith('ble:\n  devices: []\n', 'many.yaml');
    const store = new ConfigFileDevices(file);
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        store.add({
          address: `AA:BB:CC:DD:EE:${i.toString(16).padStart(2, '0')}`,
          family: 'witmotion',
          placement: 'wrist',
          rateHz: 50,
        }),
      ),
    );
    assert.equal((await store.devices()).length, 12);
  });

  it('refuses with CONFIG_WRITE_FAILED, naming the file, when the file is gone, broken or not a mapping', async () => {
    const missing = new ConfigFileDevices(join(dir, 'missing.yaml'));
    await assert.rejects(missing.remove('x'), (e: unknown) => {
      assert.ok(e instanceof GatewayError);
      assert.equal(e.code, 'CONFIG_WRITE_FAILED');
      assert.ok(e.message.includes('missing.yaml'));
      return true;
    });
    const broken = await fileWith('ble: [unclosed\n', 'broken.yaml');
    await assert.rejects(new ConfigFileDevices(broken).remove('x'), { code: 'CONFIG_WRITE_FAILED' });
    assert.equal(await readFile(broken, 'utf8'), 'ble: [unclosed\n', 'a broken file is left as it was');
    const list = await fileWith('- 1\n- 2\n', 'list.yaml');
    await assert.rejects(new ConfigFileDevices(list).remove('x'), /not a YAML mapping/);
    const notList = await fileWith('ble:\n  devices: 3\n', 'notlist.yaml');
    await assert.rejects(
      new ConfigFileDevices(notList).add({
        address: 'AA:BB:CC:DD:EE:04',
        family: 'witmotion',
        placement: 'wrist',
        rateHz: 50,
      }),
      /ble.devices .* is not a list/,
    );
  });
});
