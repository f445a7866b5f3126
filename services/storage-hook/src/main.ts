import { runService } from '@wattbus/runtime';
import { StorageHookConfigSchema, ENV_PREFIX } from './config.js';
import { SERVICE_NAME, StorageHook } from './storage-hook.js';

await runService({
  name: SERVICE_NAME,
  summary:
    'Writes every reading from the broker into InfluxDB (1.x, 2.x, 3.x) through a local write-ahead log: none lost across restarts or outages.',
  schema: StorageHookConfigSchema,
  envPrefix: ENV_PREFIX,
  epilog: 'See services/storage-hook/README.md for every key.',
  stopTimeoutMs: (config) => config.stop_flush_timeout_ms + 10_000,
  async start({ config, logger, connect, metrics }) {
    const hook = new StorageHook({ config, logger, connect, metrics });
    await hook.start();
    return hook;
  },
});
