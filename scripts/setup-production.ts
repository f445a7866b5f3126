/**
 * `npm run setup:production [-- --help]`: .env, mosquitto users and ACL, API keys and TLS
 * material for docker-compose.yml (services/platform/src/production/).
 */
import { fileURLToPath } from 'node:url';
import { runSetupProduction } from '../services/platform/src/production/command.js';

process.exitCode = await runSetupProduction(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  root: fileURLToPath(new URL('..', import.meta.url)),
});
