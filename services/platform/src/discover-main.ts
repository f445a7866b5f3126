#!/usr/bin/env -S node --import tsx
import { parseCli } from '@wattbus/runtime';
import { AddressError } from './discovery/addresses.js';
import { DISCOVERY_OPTIONS, discoverIntoFile, discoveryRequestOf } from './discovery/discover.js';

const cli = parseCli({
  name: 'wattbus-discover (npm run discover)',
  summary:
    'Finds TP-Link Kasa plugs, Shellys and Modbus TCP meters at the addresses you name, prints them and adds the new ones to your devices file (everything in it stays).',
  options: {
    devices: { type: 'string', description: 'the devices file to add to', default: './data/devices.yaml' },
    ...DISCOVERY_OPTIONS,
  },
  epilog: `Nothing is sent anywhere you did not name: a broadcast goes to --broadcast or to the
broadcast address of --interface; HTTP probes go to the --shelly addresses; Modbus to --modbus.

Examples:
  npm run discover -- --interface eth0 --shelly 192.168.1.0/24
  npm run discover -- --kasa 192.168.1.40,192.168.1.41 --modbus 192.168.1.9@1
  npm start -- --discover --interface eth0      discover, then start on the file`,
});

try {
  const request = discoveryRequestOf(cli.values);
  const { report } = await discoverIntoFile(request, String(cli.values.devices));
  process.stdout.write(report);
} catch (error) {
  process.stderr.write(`wattbus-discover: ${(error as Error).message}\n`);
  process.exit(error instanceof AddressError ? 2 : 1);
}
