import process from 'node:process';
import { plugFleet } from '../rss/fleet.js';

/**
 * The simulated plugs of bench/collector in their own process, so that neither their CPU nor
 * their event loop mixes with the agent's or the bench's. Sends { registry } when listening,
 * stops on 'stop'.
 */
const count = Number(process.argv[2] ?? 1000);
const intervalMs = Number(process.argv[3] ?? 1000);
const fleet = await plugFleet(count, { poll_interval_ms: intervalMs });
process.send!({ registry: fleet.registry, dir: fleet.dir });
const stop = async () => {
  await Promise.all(fleet.plugs.map((plug) => plug.stop()));
  process.exit(0);
};
process.on('message', stop);
// The bench died without saying stop: do not outlive it.
process.on('disconnect', stop);
