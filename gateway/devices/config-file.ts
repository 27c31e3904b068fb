import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isMap, isSeq, parseDocument, type Document, type YAMLSeq } from 'yaml';
import type { Placement } from '../domain/samples.ts';
import { GatewayError, errorMessage } from '../observability/errors.ts';
import { deviceIdFor, type BleDeviceConfig } from '../sources/ble/options.ts';

/*
 * Writes runtime device changes back into the YAML config file as edits of its document
 * (yaml's Document API), so the operator's comments, key order and other entries survive.
 * Only `ble.devices` is touched; the rest of the file is left byte-for-byte as parsed.
 */

const DEVICES_PATH = ['ble', 'devices'] as const;

export interface DeviceAssignmentEdit {
  /** null removes the key (unassigned). */
  readonly subject?: string | null;
  readonly placement?: Placement;
}

/** Serialises edits of one config file; every edit re-reads the file, so hand edits in between are kept. */
export class ConfigFileDevices {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly file: string) {}

  /** Appends `entry` to `ble.devices` (creating `ble:` and `devices:` when absent). */
  add(entry: BleDeviceConfig): Promise<void> {
    return this.edit((doc) => {
      const seq = devicesSeq(doc, true) as YAMLSeq;
      seq.add(doc.createNode(stripUndefined(entry)));
    });
  }

  /** Removes the entry whose id (given or derived) is `id`; false when the file has none. */
  remove(id: string): Promise<boolean> {
    return this.edit((doc) => {
      const index = findDevice(doc, id);
      if (index < 0) return false;
      (devicesSeq(doc, false) as YAMLSeq).delete(index);
      return true;
    });
  }

  /** Sets subject/placement on the entry for `id`; false when the file has none. */
  assign(id: string, edit: DeviceAssignmentEdit): Promise<boolean> {
    return this.edit((doc) => {
      const index = findDevice(doc, id);
      if (index < 0) return false;
      const item = (devicesSeq(doc, false) as YAMLSeq).get(index, true);
      if (!isMap(item)) return false;
      // An entry without an explicit id gets one, so the file keeps naming the same device
      // the gateway's topics do.
      if (!item.has('id')) item.set('id', id);
      if (edit.subject === null) item.delete('subject');
      else if (edit.subject !== undefined) item.set('subject', edit.subject);
      if (edit.placement !== undefined) item.set('placement', edit.placement);
      return true;
    });
  }

  /** Device entries as the file has them now (for tests and diagnostics). */
  async devices(): Promise<BleDeviceConfig[]> {
    const doc = await this.read();
    const seq = devicesSeq(doc, false);
    return seq ? (seq.toJSON() as BleDeviceConfig[]) : [];
  }

  private edit<T>(change: (doc: Document) => T): Promise<T> {
    const run = async (): Promise<T> => {
      const doc = await this.read();
      const result = change(doc);
      await this.write(doc.toString());
      return result;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async read(): Promise<Document> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      throw new GatewayError(
        'CONFIG_WRITE_FAILED',
        `cannot read configuration file ${this.file} to save the device change: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    const doc = parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length > 0) {
      throw new GatewayError(
        'CONFIG_WRITE_FAILED',
        `configuration file ${this.file} no longer parses (${doc.errors[0]?.message.split('\n')[0]}); the device change is not saved`,
      );
    }
    if (doc.contents === null) doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
    if (!isMap(doc.contents)) {
      throw new GatewayError(
        'CONFIG_WRITE_FAILED',
        `configuration file ${this.file} is not a YAML mapping; the device change is not saved`,
      );
    }
    return doc;
  }

  /** Temp file + rename, so a crash mid-write never leaves half a config behind. */
  private async write(text: string): Promise<void> {
    const tmp = join(dirname(this.file), `.${basename(this.file)}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await writeFile(tmp, text, 'utf8');
      try {
        await rename(tmp, this.file);
      } catch (err) {
        // A file bind-mounted into a container cannot be replaced, only rewritten in place.
        if (
          (err as NodeJS.ErrnoException).code !== 'EBUSY' &&
          (err as NodeJS.ErrnoException).code !== 'EXDEV'
        )
          throw err;
        await writeFile(this.file, text, 'utf8');
        await rm(tmp, { force: true });
      }
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new GatewayError(
        'CONFIG_WRITE_FAILED',
        `cannot write configuration file ${this.file}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }
}

function devicesSeq(doc: Document, create: boolean): YAMLSeq | undefined {
  const node = doc.getIn(DEVICES_PATH, true);
  if (isSeq(node)) {
    // `devices: []` is written in flow style; new entries read better as a block list.
    if (create) node.flow = false;
    return node;
  }
  if (!create) return undefined;
  if (node !== undefined && node !== null) {
    throw new GatewayError('CONFIG_WRITE_FAILED', 'ble.devices in the configuration file is not a list');
  }
  const seq = doc.createNode([]) as YAMLSeq;
  if (!isMap(doc.getIn(['ble'], true))) doc.setIn(['ble'], doc.createNode({}));
  doc.setIn(DEVICES_PATH, seq);
  return seq;
}

function findDevice(doc: Document, id: string): number {
  const seq = devicesSeq(doc, false);
  if (!seq) return -1;
  const entries = seq.toJSON() as unknown[];
  return entries.findIndex((entry, i) => {
    if (entry === null || typeof entry !== 'object') return false;
    return deviceIdFor(entry as BleDeviceConfig, i) === id;
  });
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
