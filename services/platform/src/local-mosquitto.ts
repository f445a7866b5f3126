import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { MissingBinaryError, startMosquitto, type MosquittoServer } from '@wattbus/testing';

/** A user of the local mosquitto: the rules of the embedded broker's users (`{username}`, `{clientid}`). */
export interface MosquittoUser {
  username: string;
  password: string;
  publish: readonly string[];
  subscribe: readonly string[];
}

export interface LocalMosquittoOptions {
  dataDir: string;
  host: string;
  port: number;
  wsPort: number | null;
  users: readonly MosquittoUser[];
  /** What clients without a user name may read. */
  anonymousSubscribe: readonly string[];
}

/**
 * `npm start -- --broker mosquitto`: the Debian mosquitto 2 in place of the embedded aedes, for
 * MQTT 5 (Response Topic, Correlation Data, PUBACK reason codes) and shared subscriptions. Same
 * users and rules; its store, password and ACL files live in `<data dir>/mosquitto`. Its watchdog
 * stops it when this process dies.
 */
export async function startLocalMosquitto(options: LocalMosquittoOptions): Promise<MosquittoServer> {
  const dir = resolve(options.dataDir, 'mosquitto');
  mkdirSync(dir, { recursive: true });
  return startMosquitto(mosquittoSettings(dir, options)).catch((error: unknown) => {
    // The harness's message speaks to test runs; this one is a user's npm start.
    if (error instanceof MissingBinaryError) {
      throw new Error(
        "--broker mosquitto needs Debian's mosquitto 2: install it with apt-get install -y mosquitto " +
          '(the package also starts a system broker on 1883: systemctl disable --now mosquitto, or pick ' +
          'another --mqtt-port), or leave out --broker mosquitto for the embedded broker',
      );
    }
    throw error;
  });
}

function mosquittoSettings(
  dir: string,
  options: LocalMosquittoOptions,
): Parameters<typeof startMosquitto>[0] {
  return {
    dir,
    port: options.port,
    host: options.host,
    ...(options.wsPort === null ? {} : { wsPort: options.wsPort }),
    users: Object.fromEntries(options.users.map((user) => [user.username, user.password])),
    acl: aclOf(options.users, options.anonymousSubscribe),
    anonymous: options.anonymousSubscribe.length > 0,
    persistence: true,
    // The project's tuning file is not beside a bundled platform: what matters for requests here.
    useProjectTuning: false,
    extraConfig: 'set_tcp_nodelay true',
  };
}

/**
 * The users' rules as a mosquitto acl_file. A rule with a placeholder becomes a `pattern` (mosquitto
 * substitutes `%u`/`%c` only there), which applies to every user: as in mosquitto/acl.example,
 * each client may then read the replies under its own client id.
 */
export function aclOf(users: readonly MosquittoUser[], anonymousSubscribe: readonly string[]): string {
  const patterns = new Set<string>();
  const line = (access: 'read' | 'write', rule: string) => {
    if (!/\{(username|clientid)\}/.test(rule)) return [`topic ${access} ${rule}`];
    patterns.add(`pattern ${access} ${rule.replaceAll('{username}', '%u').replaceAll('{clientid}', '%c')}`);
    return [];
  };
  const sections = users.map((user) =>
    [
      `user ${user.username}`,
      ...user.publish.flatMap((rule) => line('write', rule)),
      ...user.subscribe.flatMap((rule) => line('read', rule)),
    ].join('\n'),
  );
  // Lines before the first `user` are the anonymous clients'.
  return [...anonymousSubscribe.map((rule) => `topic read ${rule}`), ...patterns, '', ...sections].join('\n');
}
