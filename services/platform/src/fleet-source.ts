import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The first line of the devices file that `npm start` wrote on every start before it ran real devices. */
const OLD_DEMO_HEADER = '# Written by the embedded platform on every start: the simulated fleet.';

/**
 * Whose devices `npm start` runs: the user's devices file (read, watched, never written), or the
 * simulated demo fleet, when asked for with --demo or when there is no devices file yet. The demo's
 * registry is written under the data dir's `demo/`, never to the user's file.
 */
export type FleetSource =
  | { kind: 'own'; file: string }
  | {
      kind: 'demo';
      /** The generated registry of the simulated fleet. */
      file: string;
      /** The user's devices file, which does not exist (`no-devices-file`) or was passed over (`asked`). */
      devicesFile: string;
      reason: 'asked' | 'no-devices-file';
      /** Where an old generated demo list at the devices file's place was moved. */
      movedOldDemo?: string;
    };

export function chooseFleetSource(options: {
  dataDir: string;
  devicesFile?: string;
  demo: boolean;
}): FleetSource {
  const devicesFile = resolve(options.devicesFile ?? join(options.dataDir, 'devices.yaml'));
  const demoFile = join(resolve(options.dataDir), 'demo', 'devices.yaml');
  if (options.demo) return { kind: 'demo', file: demoFile, devicesFile, reason: 'asked' };
  const movedOldDemo = moveOldDemoList(devicesFile);
  if (!existsSync(devicesFile)) {
    return { kind: 'demo', file: demoFile, devicesFile, reason: 'no-devices-file', movedOldDemo };
  }
  return { kind: 'own', file: devicesFile };
}

/**
 * A devices file an earlier `npm start` generated for its simulators lists ports that are gone:
 * it goes aside (devices.yaml.old-demo), so the user's file can take its place.
 */
function moveOldDemoList(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const firstLine = readFileSync(file, 'utf8').split('\n', 1)[0];
  if (firstLine !== OLD_DEMO_HEADER) return undefined;
  const aside = `${file}.old-demo`;
  renameSync(file, aside);
  return aside;
}
