import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { API_SCOPES, type ApiScope } from '@wattbus/contracts';
import { setupProduction } from './setup.js';

/** `name:scope,scope` of --api-key, checked as make-key checks its flags. */
function apiKeyOption(value: string, previous: { name: string; scopes: ApiScope[] }[] = []) {
  const match = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,63}):([a-z,]+)$/.exec(value);
  const scopes = match?.[2]!.split(',').filter((scope) => scope !== '') ?? [];
  if (
    !match ||
    scopes.length === 0 ||
    scopes.some((scope) => !(API_SCOPES as readonly string[]).includes(scope))
  ) {
    throw new InvalidArgumentError(
      `expected <name>:<scopes>, scopes from ${API_SCOPES.join(', ')} (e.g. admin:read,control)`,
    );
  }
  return [...previous, { name: match[1]!, scopes: [...new Set(scopes)] as ApiScope[] }];
}

/**
 * `npm run setup:production`: what docker-compose.yml needs, made in one go and printed once.
 * Resolves with the exit code; `out` gets the report, errors go to `err`.
 */
export async function runSetupProduction(
  argv: readonly string[],
  io: { out: (text: string) => void; err: (text: string) => void; root: string },
): Promise<number> {
  const program = new Command('setup:production')
    .description(
      'Writes what docker-compose.yml needs: .env with generated secrets, mosquitto/passwd and mosquitto/acl for every service user, API keys (printed once, stored as sha256 in WATTBUS_GATEWAY_API_KEYS) and TLS material in certs/. Keeps existing secrets unless --force.',
    )
    .option('--dir <path>', 'the checkout with docker-compose.yml', io.root)
    .option(
      '--api-key <name:scopes>',
      'an API key to make when .env has none (repeatable; default admin:read,control)',
      apiKeyOption,
    )
    .option(
      '--host <name>',
      'another name or address of this machine for the certificates (repeatable)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--time-zone <zone>', 'TIME_ZONE of a new .env (IANA zone of daily energy)')
    .option('--force', 'replace existing secrets: every password, token and API key changes', false)
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();
  try {
    program.parse(['node', 'setup:production', ...argv]);
  } catch (error) {
    const code = (error as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  const options = program.opts<{
    dir: string;
    apiKey?: { name: string; scopes: ApiScope[] }[];
    host?: string[];
    timeZone?: string;
    force: boolean;
  }>();
  const report = setupProduction({
    dir: resolve(options.dir),
    apiKeys: options.apiKey ?? [{ name: 'admin', scopes: ['read', 'control'] }],
    hosts: options.host ?? [],
    timeZone: options.timeZone,
    force: options.force,
  });
  const lines = report.files.map((line) => `setup: ${line}`);
  for (const key of report.apiKeys) {
    lines.push(`API key '${key.name}' (${key.scopes.join(', ')}), shown only now: ${key.key}`);
  }
  lines.push(`Clients trust the CA ${report.caFile} (mqtt.ca_file, mosquitto_sub --cafile, curl --cacert).`);
  // Compose bind-mounts these; a missing one becomes an empty directory and the agent or bridge
  // crash-loops on it, so say so now rather than after `up`.
  for (const [file, what] of [
    [
      'config/devices.yaml',
      'the agent’s device registry (docs/devices.md; wattbus-agent --discover writes one)',
    ],
    ['config/mqtt-devices.yaml', 'the bridge’s MQTT devices (services/bridge/README.md)'],
  ] as const) {
    if (!existsSync(join(resolve(options.dir), file)))
      lines.push(`warning: ${file} is missing: write ${what}`);
  }
  lines.push('Next: put the device registries in config/, then docker compose up -d');
  io.out(`${lines.join('\n')}\n`);
  return 0;
}
