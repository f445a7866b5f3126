import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { hashPassword, type BrokerUser } from '@wattbus/broker';
import { DEFAULT_BASE_TOPIC } from '@wattbus/contracts';
import { ensureSecretFile } from './secret-file.js';

/** A named broker account for clients outside the process, its password kept in the data dir. */
export interface MqttAccount {
  username: string;
  password: string;
  file: string;
  created: boolean;
  /** What it may do, for the banner. */
  summary: string;
  publish: string[];
  subscribe: string[];
}

const base = DEFAULT_BASE_TOPIC;

/** Every request topic: device commands, queries, the alert list. */
const REQUEST_TOPICS = [`${base}/devices/+/req/+`, `${base}/query/req/+`, `${base}/alerts/req/+`];

/**
 * The accounts of the embedded broker: `operator` for collectors and scripts (readings, the
 * meta and availability of its own devices, requests; reads everything), `hook` for read-only
 * consumers and `client` for third-party requesters (requests; reads only the replies under its
 * own MQTT client id, as mosquitto/acl.example's `%c`). Passwords are made on the first start,
 * then kept.
 */
const ACCOUNTS = [
  {
    username: 'operator',
    summary: 'publishes readings and commands, reads everything',
    publish: [
      `${base}/devices/+/readings`,
      `${base}/devices/+/meta`,
      `${base}/devices/+/availability`,
      ...REQUEST_TOPICS,
    ],
    subscribe: ['#'],
  },
  { username: 'hook', summary: 'reads everything, publishes nothing', publish: [], subscribe: ['#'] },
  {
    username: 'client',
    summary: `sends requests, reads its replies under ${base}/replies/<its client id>/`,
    publish: REQUEST_TOPICS,
    subscribe: [`${base}/replies/{clientid}/#`],
  },
] as const;

export function ensureMqttAccounts(dataDir: string): MqttAccount[] {
  return ACCOUNTS.map((account) => {
    const secret = ensureSecretFile(join(dataDir, `mqtt-${account.username}.password`), () =>
      // base64url: nothing a shell or a URL would read specially, so the banner's lines paste as they are.
      randomBytes(18).toString('base64url'),
    );
    return {
      ...account,
      publish: [...account.publish],
      subscribe: [...account.subscribe],
      password: secret.value,
      file: secret.file,
      created: secret.created,
    };
  });
}

export async function brokerUsersOf(accounts: readonly MqttAccount[]): Promise<BrokerUser[]> {
  return Promise.all(
    accounts.map(async (account) => ({
      username: account.username,
      password_hash: await hashPassword(account.password),
      publish: account.publish,
      subscribe: account.subscribe,
    })),
  );
}

/** Ready-to-paste mosquitto_pub / mosquitto_sub lines for each account. */
export function accountCommands(account: MqttAccount, host: string, port: number, caFile?: string): string[] {
  const login = `${brokerAddress(host, port, caFile)} -u ${account.username} -P '${account.password}'`;
  if (account.username === 'client') {
    // Two connections: the reader owns the reply tree (its client id), the request names it.
    const request = `'{"id":"1","reply_to":"${base}/replies/my-app/1","params":{}}'`;
    return [
      `mosquitto_sub ${login} -i my-app -t '${base}/replies/my-app/#' -v &`,
      `mosquitto_pub ${login} -q 1 -t ${base}/query/req/devices -m ${request}`,
    ];
  }
  const subscribe = `mosquitto_sub ${login} -t '${base}/#' -v`;
  if (account.publish.length === 0) return [subscribe];
  const reading =
    '"{\\"ts\\":\\"$(date -u +%Y-%m-%dT%H:%M:%S.000Z)\\",\\"device\\":\\"my-meter\\",\\"power_w\\":42.5}"';
  return [`mosquitto_pub ${login} -q 1 -t ${base}/devices/my-meter/readings -m ${reading}`, subscribe];
}

/** mosquitto_pub/sub's broker options: host and port, and the CA to trust over TLS. */
export function brokerAddress(host: string, port: number, caFile?: string): string {
  return `-h ${host} -p ${port}${caFile ? ` --cafile ${caFile}` : ''}`;
}
