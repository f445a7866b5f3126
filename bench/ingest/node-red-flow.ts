import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where the flow connects and what it writes: one run's broker topics and InfluxDB database. */
export interface FlowTarget {
  mqttUrl: string;
  influxUrl: string;
  /** Base topic of the run's readings, and the database they are stored in. */
  base: string;
  /** Readings per InfluxDB write (the join node's count). */
  batch: number;
}

/**
 * The Node-RED flow the ingest bench compares with the storage hook, tuned as one would for
 * throughput: MQTT in (QoS 1, payload parsed as JSON) → join `batch` messages into an array (or
 * whatever came within 1 s) → one function call per batch mapping readings to points →
 * `influxdb batch` (node-red-contrib-influxdb, InfluxDB 1.x, ms precision). No debug nodes, no
 * editor, logging at error. The same points as the storage hook's `readingToLine`.
 *
 * A second MQTT in on `<base>/probe` echoes to `<base>/probe/echo`: the bench waits for the echo
 * before publishing. Both subscriptions go out on one connection in flow order, readings first, so
 * the echo proves the readings subscription is in place.
 */
export function nodeRedUserDir(target: FlowTarget): { userDir: string; settings: string } {
  const userDir = mkdtempSync(join(tmpdir(), 'wattbus-bench-node-red-'));
  const mqtt = new URL(target.mqttUrl);
  const influx = new URL(target.influxUrl);
  const toPoints = `msg.payload = msg.payload.map((r) => ({
  measurement: 'electricity',
  tags: { device: r.device, location: r.location, type: r.type },
  fields: { current_a: r.current_a, energy_wh: r.energy_wh, power_w: r.power_w, voltage_v: r.voltage_v },
  timestamp: Date.parse(r.ts),
}));
return msg;`;
  // Ids differ from every type name and property value: Node-RED reads a property equal to a
  // config node's id as a reference to it.
  const flows = [
    { id: 'n-tab', type: 'tab', label: 'ingest' },
    {
      id: 'n-broker',
      type: 'mqtt-broker',
      broker: mqtt.hostname,
      port: mqtt.port,
      clientid: `bench-node-red-${target.base}`,
      autoConnect: true,
      usetls: false,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: true,
    },
    {
      id: 'n-influxdb',
      type: 'influxdb',
      hostname: influx.hostname,
      port: influx.port,
      protocol: 'http',
      database: target.base,
      influxdbVersion: '1.x',
      usetls: false,
    },
    {
      id: 'n-readings',
      type: 'mqtt in',
      z: 'n-tab',
      topic: `${target.base}/devices/+/readings`,
      qos: '1',
      datatype: 'json',
      broker: 'n-broker',
      nl: false,
      rap: true,
      rh: 0,
      inputs: 0,
      wires: [['n-join']],
    },
    {
      id: 'n-join',
      type: 'join',
      z: 'n-tab',
      mode: 'custom',
      build: 'array',
      property: 'payload',
      propertyType: 'msg',
      key: 'topic',
      joiner: '\\n',
      joinerType: 'str',
      accumulate: false,
      timeout: '1',
      count: String(target.batch),
      reduceRight: false,
      wires: [['n-points']],
    },
    {
      id: 'n-points',
      type: 'function',
      z: 'n-tab',
      func: toPoints,
      outputs: 1,
      libs: [],
      wires: [['n-write']],
    },
    {
      id: 'n-write',
      type: 'influxdb batch',
      z: 'n-tab',
      influxdb: 'n-influxdb',
      precision: 'ms',
      retentionPolicy: '',
      wires: [],
    },
    {
      id: 'n-probe',
      type: 'mqtt in',
      z: 'n-tab',
      topic: `${target.base}/probe`,
      qos: '1',
      datatype: 'utf8',
      broker: 'n-broker',
      inputs: 0,
      wires: [['n-echo']],
    },
    {
      id: 'n-echo',
      type: 'mqtt out',
      z: 'n-tab',
      topic: `${target.base}/probe/echo`,
      qos: '1',
      broker: 'n-broker',
      wires: [],
    },
  ];
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flows));
  // The InfluxDB config node reads its (empty) credentials; credentialSecret: false keeps them plain.
  writeFileSync(
    join(userDir, 'flows_cred.json'),
    JSON.stringify({ 'n-influxdb': { username: '', password: '' } }),
  );
  const settings = join(userDir, 'settings.js');
  writeFileSync(
    settings,
    `module.exports = ${JSON.stringify({
      flowFile: 'flows.json',
      credentialSecret: false,
      httpAdminRoot: false,
      httpNodeRoot: false,
      disableEditor: true,
      diagnostics: { enabled: false, ui: false },
      runtimeState: { enabled: false, ui: false },
      telemetry: { enabled: false, updateNotification: false },
      externalModules: {
        autoInstall: false,
        palette: { allowInstall: false },
        modules: { allowInstall: false },
      },
      logging: { console: { level: 'error', metrics: false, audit: false } },
    })};\n`,
  );
  return { userDir, settings };
}
