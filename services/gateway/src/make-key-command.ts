import { API_SCOPES, type ApiScope } from '@wattbus/contracts';
import { UsageError } from '@wattbus/runtime';
import { newApiKeyEntry } from './api-keys.js';

/** Parses `read,control` into scopes; a clear error for anything else. */
export function parseScopes(text: string): ApiScope[] {
  const scopes = text
    .split(',')
    .map((scope) => scope.trim())
    .filter((scope) => scope.length > 0);
  if (scopes.length === 0) throw new UsageError('--scopes needs at least one of read, control');
  for (const scope of scopes) {
    if (!(API_SCOPES as readonly string[]).includes(scope)) {
      throw new UsageError(`unknown scope '${scope}'; scopes are ${API_SCOPES.join(', ')}`);
    }
  }
  return [...new Set(scopes)] as ApiScope[];
}

/** Makes a key and prints it once with the config entry holding only its hash. */
export function runMakeKey(options: { scopes: string; name: string }, out: NodeJS.WritableStream): void {
  const scopes = parseScopes(options.scopes);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(options.name) || options.name.length > 64) {
    throw new UsageError(`--name '${options.name}' must match [A-Za-z0-9][A-Za-z0-9_.-]* (at most 64)`);
  }
  const { key, entry } = newApiKeyEntry(options.name, scopes);
  out.write(
    [
      '# API key (shown only now; give it to the client, it is not stored anywhere):',
      `# ${key}`,
      '# Add this entry to api_keys in the gateway config:',
      `- name: ${entry.name}`,
      `  sha256: ${entry.sha256}`,
      `  scopes: [${entry.scopes.join(', ')}]`,
      '# or, for docker-compose (.env), to the JSON array in WATTBUS_GATEWAY_API_KEYS:',
      `#   ${JSON.stringify(entry)}`,
      '',
    ].join('\n'),
  );
}
