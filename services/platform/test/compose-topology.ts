import { spawnSync } from 'node:child_process';
import { mkdirSync, existsSync, symlinkSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';

/**
 * docker-compose.yml as `docker-compose config` resolves it (the .env substituted, paths made
 * absolute), turned into what a native run needs: each container's environment with the
 * compose host names rewritten to loopback ports, and its volumes laid out under a directory of
 * its own that stands for the container's file system.
 */
export interface ComposeService {
  environment?: Record<string, string | number | null>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  command?: string[];
  build?: { args?: { SERVICE?: string } };
}

export function resolvedCompose(dir: string): Record<string, ComposeService> {
  const result = spawnSync('docker-compose', ['config'], { cwd: dir, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`docker-compose config failed: ${result.stderr}`);
  return (parse(result.stdout) as { services: Record<string, ComposeService> }).services;
}

/**
 * Lays out a container's mounts under `fsRoot`: a bind mount becomes a symlink to its source, a
 * named volume an empty directory. Returns a function that maps a container path to the host.
 */
export function containerFileSystem(service: ComposeService, fsRoot: string): (path: string) => string {
  rmSync(fsRoot, { recursive: true, force: true });
  for (const volume of service.volumes ?? []) {
    const [source, target] = volume.split(':') as [string, string];
    const local = join(fsRoot, target);
    mkdirSync(dirname(local), { recursive: true });
    if (source.startsWith('/')) symlinkSync(source, local);
    else mkdirSync(local, { recursive: true });
  }
  return (path) => join(fsRoot, path);
}

/** Where the compose names are reachable natively. */
export interface NativeAddresses {
  /** `mosquitto:8883` → `127.0.0.1:<port>`, … */
  hosts: Record<string, string>;
  /** Extra settings per service (free ports instead of the fixed ones). */
  overrides?: Record<string, string>;
}

/** A container's environment, as the native process gets it. */
export function nativeEnvironment(
  service: ComposeService,
  hostPath: (path: string) => string,
  addresses: NativeAddresses,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, raw] of Object.entries(service.environment ?? {})) {
    let value = raw === null ? '' : String(raw);
    for (const [from, to] of Object.entries(addresses.hosts)) value = value.replace(`//${from}`, `//${to}`);
    if (value === '0.0.0.0') value = '127.0.0.1';
    if (value.startsWith('/')) value = hostPath(value);
    env[key] = value;
  }
  return { ...env, ...addresses.overrides };
}

/**
 * The shipped mosquitto.conf for a native mosquitto: its paths under the container's file
 * system, its listeners on loopback at the given ports, and as root (a test runs as root; the
 * files setup:production made belong to the container's user).
 */
export function nativeMosquittoConf(
  text: string,
  hostPath: (path: string) => string,
  ports: Record<number, number>,
): string {
  const lines = text.split('\n').map((line) => {
    const listener = /^listener (\d+)$/.exec(line);
    if (listener) return `listener ${ports[Number(listener[1])]} 127.0.0.1`;
    return line.replace(
      /(\s)(\/mosquitto\/\S*)/g,
      (_, space: string, path: string) => `${space}${hostPath(path)}`,
    );
  });
  return ['user root', ...lines].join('\n');
}

/** True when every path a container mounts exists (a missing one is a setup:production bug). */
export function missingMounts(service: ComposeService): string[] {
  return (service.volumes ?? [])
    .map((volume) => volume.split(':')[0]!)
    .filter((source) => source.startsWith('/') && !existsSync(source));
}
