import process from 'node:process';
import { silentLogger } from '@wattbus/runtime';
import { StorageHook, type StorageHookConfig } from '@wattbus/storage-hook';

/**
 * One storage hook in its own process (as a scaled-out deployment runs them), for the scale-out
 * benchmark: started from the config in argv, it sends 'started', then its `written` counter
 * whenever it changes, and stops on 'stop'.
 */
const config = JSON.parse(process.argv[2] ?? '{}') as StorageHookConfig;
const hook = new StorageHook({ config, logger: silentLogger() });
await hook.start();
process.send?.('started');
let reported = -1;
const timer = setInterval(() => {
  const written = hook.counters().written;
  if (written === reported) return;
  reported = written;
  process.send?.({ written });
}, 5);
process.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  void hook.stop().then(() => {
    process.send?.('stopped');
    process.disconnect();
  });
});
