import { relative } from 'node:path';
import { accountCommands, brokerAddress } from './mqtt-accounts.js';
import { lanInterfaces } from './discovery/addresses.js';
import type { PlatformAddresses } from './platform.js';

/** What `npm start` prints once everything runs: where each part is, whose devices, how to reach it. */
export function banner(addresses: PlatformAddresses, options: { logDir?: string } = {}): string {
  const { fleet } = addresses;
  const mqtt = new URL(addresses.mqttUrl);
  const host = mqtt.hostname === '0.0.0.0' ? '127.0.0.1' : mqtt.hostname;
  const port = Number(mqtt.port);
  const caFile = addresses.caFile === undefined ? undefined : shown(addresses.caFile);
  const key = addresses.apiKeyCreated
    ? `${addresses.apiKey} (new; saved in ${shown(addresses.apiKeyFile)})`
    : `in ${shown(addresses.apiKeyFile)}`;
  return [
    '',
    'WattBus is running.',
    ...devicesLines(fleet),
    `  REST API     ${addresses.restUrl}/api/v1/devices   (Authorization: Bearer $(cat ${shown(addresses.apiKeyFile)}))`,
    `  Dashboard    ${addresses.restUrl}/   (sign in with the API key below)`,
    `  Swagger UI   ${addresses.docsUrl}`,
    `  MQTT         ${addresses.mqttUrl}   (anonymous read-only: mosquitto_sub ${brokerAddress(host, port, caFile)} -t 'wattbus/#' -v)`,
    ...(caFile
      ? [
          `  TLS CA       ${caFile}${addresses.caCreated ? ' (new)' : ''}   (clients trust it: mosquitto_sub --cafile, curl --cacert, mqtt.ca_file)`,
        ]
      : []),
    ...(addresses.wsUrl ? [`  MQTT/WS      ${addresses.wsUrl}`] : []),
    ...addresses.accounts.flatMap((account, index) => [
      `  ${index === 0 ? 'MQTT users' : ''.padEnd(10)}   ${account.username}: ${account.summary} (password in ${shown(account.file)})`,
      ...accountCommands(account, host, port, caFile).map((line) => `                 ${line}`),
    ]),
    `  InfluxDB     ${addresses.influxUrl}   database ${addresses.database}`,
    ...(addresses.metricsUrl
      ? [`  Prometheus   ${addresses.metricsUrl}   (every device, and every part's own metrics)`]
      : []),
    `  API key      ${key}`,
    ...(options.logDir
      ? [`  Logs         ${shown(options.logDir)}/current.log (JSON lines; --log-format json for stdout)`]
      : []),
    'Ctrl-C stops everything. Notable events follow:',
    '',
  ].join('\n');
}

function devicesLines(fleet: PlatformAddresses['fleet']): string[] {
  if (fleet.kind === 'own') {
    return [
      `  Devices      ${fleet.devices} from ${shown(fleet.file)} (watched: devices you add there start without a restart)`,
    ];
  }
  if (fleet.reason === 'asked') {
    return [`  Devices      the simulated demo fleet (${fleet.devices} devices; --demo)`];
  }
  const lan = lanInterfaces()[0];
  const discover = lan
    ? `npm run discover -- --interface ${lan.name} --shelly ${lan.network}`
    : 'npm run discover -- --broadcast <your LAN broadcast address> --shelly <first>-<last address>';
  return [
    `  Devices      the simulated demo fleet: there is no ${shown(fleet.devicesFile)} yet. For your own devices:`,
    `                 ${discover}`,
    `               finds TP-Link Kasa plugs and Shellys (add --modbus <host> for a Modbus TCP meter) and`,
    `               writes them to ${shown(fleet.devicesFile)}; or write it by hand (docs/devices.md).`,
    `               Then start again: npm start`,
    ...(fleet.movedOldDemo
      ? [`               (the demo list an earlier version wrote there is now ${shown(fleet.movedOldDemo)})`]
      : []),
  ];
}

/** A path as the user would type it from here. */
function shown(path: string): string {
  const fromHere = relative(process.cwd(), path);
  return fromHere.startsWith('..') || fromHere === '' ? path : fromHere;
}
