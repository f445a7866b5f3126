import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEVICE_ID_MAX_LENGTH } from '@wattbus/contracts';
import { idFromName } from '@wattbus/devices';
import { isMap, isSeq, parseDocument, YAMLMap, type Document } from 'yaml';
import type { FoundDevice } from './found.js';

export interface MergeResult {
  /** Ids of the entries added, in the order found. */
  added: { id: string; device: FoundDevice }[];
  /** Found devices the file lists already (same type, address and channel or unit). */
  known: FoundDevice[];
}

const HEADER = [
  ' Your devices: npm start reads this file and never writes it. Discovery (npm run discover) adds',
  ' what it finds and keeps everything else, comments included. Edit ids, names, locations and',
  ' kinds freely; an id is the device tag in the database, so keep it once readings are stored.',
  ' Every key: docs/devices.md.',
].join('\n');

/**
 * Adds the found devices the file does not list yet, as entries with an id made from the device's
 * name, location `unassigned` and a kind to edit; every entry, comment and blank line already in
 * the file stays as it was. The file is replaced in one rename, so npm start never reads half of
 * it. Nothing is written when nothing is new.
 */
export function mergeIntoDevicesFile(file: string, found: readonly FoundDevice[]): MergeResult {
  const document = existsSync(file) ? parseDocument(readFileSync(file, 'utf8')) : newDocument();
  if (document.errors.length > 0) {
    throw new Error(
      `${file} is not valid YAML (${document.errors[0]!.message.split('\n')[0]}); fix it first`,
    );
  }
  if (!isMap(document.contents)) document.contents = new YAMLMap();
  let devices = document.get('devices', true);
  if (devices === undefined || devices === null) {
    document.set('devices', document.createNode([]));
    devices = document.get('devices', true);
  }
  if (!isSeq(devices)) throw new Error(`${file}: 'devices' is not a list; fix it first`);
  // `devices: []` grows into a block list, one entry under the other, as people write it.
  devices.flow = false;
  const existing = (devices.toJSON() as unknown[]).filter(
    (entry): entry is { id?: unknown; type?: unknown; connection?: Record<string, unknown> } =>
      typeof entry === 'object' && entry !== null,
  );
  const ids = new Set(existing.map((entry) => String(entry.id)));
  const identities = new Set(existing.map((entry) => identityOf(String(entry.type), entry.connection ?? {})));
  const result: MergeResult = { added: [], known: [] };
  for (const device of found) {
    const identity = identityOf(device.type, device.connection);
    if (identities.has(identity)) {
      result.known.push(device);
      continue;
    }
    identities.add(identity);
    const id = uniqueId(idFromName(device.name) || device.type, ids);
    ids.add(id);
    const node = document.createNode({
      id,
      name: device.name,
      type: device.type,
      location: 'unassigned',
      kind: device.kind,
      connection: device.connection,
    });
    const connection = node.get('connection', true);
    if (isMap(connection)) connection.flow = true;
    node.commentBefore = ` ${device.model} at ${device.address}, found ${new Date().toISOString().slice(0, 10)}${
      device.credentialsNeeded
        ? `; needs its password: set ${String(device.connection.password_env)} (or put password: here)`
        : ''
    }`;
    devices.items.push(node);
    result.added.push({ id, device });
  }
  if (result.added.length > 0) {
    mkdirSync(dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, String(document));
    // The file may hold passwords: the new one keeps the old one's mode.
    if (existsSync(file)) chmodSync(temporary, statSync(file).mode & 0o777);
    renameSync(temporary, file);
  }
  return result;
}

function newDocument(): Document {
  const document = parseDocument('devices: []\n');
  // One blank line between the header and the list.
  document.contents!.spaceBefore = true;
  document.commentBefore = HEADER;
  return document;
}

/** The same device found twice is the same entry: type, address and channel (or Modbus unit). */
function identityOf(type: string, connection: Record<string, unknown>): string {
  const defaults: Record<string, number> = { tplink: 9999, shelly: 80, modbus: 502 };
  const port = connection.port ?? defaults[type];
  const channel =
    connection.channel ?? connection.outlet ?? connection.unit_id ?? (type === 'modbus' ? 1 : 0);
  return [type, String(connection.host).toLowerCase(), port, channel].join('|');
}

function uniqueId(base: string, taken: ReadonlySet<string>): string {
  const stem = base.slice(0, DEVICE_ID_MAX_LENGTH - 4);
  if (!taken.has(stem)) return stem;
  for (let n = 2; ; n++) if (!taken.has(`${stem}-${n}`)) return `${stem}-${n}`;
}
