import { runService } from '@wattbus/runtime';
import { AlertHookConfigSchema, checkConfig, ENV_PREFIX } from './config.js';
import { AlertHook, SERVICE_NAME } from './hook.js';

await runService({
  name: SERVICE_NAME,
  summary:
    'Raises and resolves alerts (offline, overload, outage, energy budget, platform health) from the WattBus topics, retains active alerts on {base}/alerts/{rule}/{subject}, and notifies webhooks.',
  schema: AlertHookConfigSchema,
  envPrefix: ENV_PREFIX,
  check: checkConfig,
  commands: {
    'check-config': {
      summary: 'validate the configuration and exit',
      flag: 'check-config',
      async run({ config }) {
        const { rules, webhooks } = config();
        process.stdout.write(`configuration ok: ${rules.length} rules, ${webhooks.length} webhooks\n`);
      },
    },
  },
  options: { 'check-config': { type: 'boolean', description: 'validate the configuration and exit' } },
  epilog: `Example: ${ENV_PREFIX}RULES='[{"name":"offline","kind":"offline","for_ms":60000}]'
See services/alert-hook/README.md for the rules.`,
  async start({ config, logger, connect, metrics }) {
    const hook = new AlertHook({ config, logger, connect, metrics });
    await hook.start();
    return hook;
  },
});
