import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TopicPermissions } from '@wattbus/broker';
import { Bus, BusRefusedError } from '@wattbus/bus';
import { silentLogger } from '@wattbus/runtime';
import { startMosquitto, type MosquittoServer } from '@wattbus/testing';
import mqtt from 'mqtt';
import { ensureMqttAccounts } from '../src/mqtt-accounts.js';
import { ANONYMOUS_ACCESS } from '../src/platform.js';
import { aclUsers } from '../src/production/mosquitto-passwd.js';

/**
 * Every topic × every MQTT user: what each may publish and read, written down here from the
 * services' jobs (docs/topics.md), checked against the real brokers: mosquitto with the shipped
 * ACL (mosquitto/acl.example, as setup:production installs it), and the embedded broker's rules
 * for the accounts `npm start` makes. `{self}` is the user's own name.
 */
const TOPICS = [
  'wattbus/devices/desk-1/readings',
  'wattbus/devices/desk-1/state',
  'wattbus/devices/desk-1/availability',
  'wattbus/devices/desk-1/meta',
  'wattbus/devices/desk-1/history',
  'wattbus/devices/desk-1/req/set_power',
  'wattbus/agents/agent-1/availability',
  'wattbus/query/req/readings',
  'wattbus/alerts/req/list',
  'wattbus/alerts/desk-1/overload',
  'wattbus/health/{self}',
  'wattbus/health/agent-1',
  'wattbus/deadletter/{self}',
  'wattbus/deadletter/query',
  'wattbus/replies/someone-else/1',
  'tele/plug-1/SENSOR',
  'cmnd/plug-1/POWER',
  'zigbee2mqtt/lamp',
] as const;
type Topic = (typeof TOPICS)[number];

const DEVICE_OUT: Topic[] = [
  'wattbus/devices/desk-1/readings',
  'wattbus/devices/desk-1/state',
  'wattbus/devices/desk-1/availability',
  'wattbus/devices/desk-1/meta',
];
const FLEET: Topic[] = DEVICE_OUT;
const REQUESTS: Topic[] = [
  'wattbus/devices/desk-1/req/set_power',
  'wattbus/query/req/readings',
  'wattbus/alerts/req/list',
];
/** What every service user may do with its own health and dead letters. */
const OWN_PUBLISH: Topic[] = ['wattbus/health/{self}', 'wattbus/deadletter/{self}'];
const OWN_READ: Topic[] = ['wattbus/health/{self}'];

/** An agent's rights; the bridge is an agent for devices that speak MQTT, with their topics too. */
const AGENT = {
  publish: [
    ...OWN_PUBLISH,
    ...DEVICE_OUT,
    'wattbus/devices/desk-1/history',
    'wattbus/agents/agent-1/availability',
    'wattbus/health/agent-1',
    'wattbus/replies/someone-else/1',
  ] as Topic[],
  read: [...OWN_READ, 'wattbus/devices/desk-1/req/set_power', 'wattbus/health/agent-1'] as Topic[],
};

const MOSQUITTO: Record<string, { publish: Topic[]; read: Topic[] }> = {
  agent: AGENT,
  bridge: {
    // Devices that speak MQTT keep no history a bridge could read back.
    publish: [
      ...AGENT.publish.filter((topic) => topic !== 'wattbus/devices/desk-1/history'),
      'cmnd/plug-1/POWER',
      'zigbee2mqtt/lamp',
    ],
    read: [...AGENT.read, 'tele/plug-1/SENSOR', 'zigbee2mqtt/lamp'],
  },
  'storage-hook': {
    publish: OWN_PUBLISH,
    read: [
      ...OWN_READ,
      'wattbus/devices/desk-1/readings',
      'wattbus/devices/desk-1/meta',
      'wattbus/devices/desk-1/history',
    ],
  },
  query: {
    publish: [...OWN_PUBLISH, 'wattbus/replies/someone-else/1'],
    read: [...OWN_READ, ...FLEET, 'wattbus/query/req/readings'],
  },
  gateway: {
    publish: [
      ...OWN_PUBLISH,
      'wattbus/query/req/readings',
      'wattbus/devices/desk-1/req/set_power',
      'wattbus/alerts/req/list',
    ],
    // `topic read wattbus/alerts/+/+` (alert events, for the live stream) also matches the alert
    // hook's list requests, wattbus/alerts/req/list.
    read: [...OWN_READ, ...FLEET, 'wattbus/alerts/desk-1/overload', 'wattbus/alerts/req/list'],
  },
  'alert-hook': {
    publish: [
      ...OWN_PUBLISH,
      'wattbus/alerts/req/list',
      'wattbus/alerts/desk-1/overload',
      'wattbus/replies/someone-else/1',
    ],
    read: [
      ...OWN_READ,
      ...FLEET,
      'wattbus/health/agent-1',
      'wattbus/deadletter/{self}',
      'wattbus/deadletter/query',
      'wattbus/alerts/req/list',
      'wattbus/alerts/desk-1/overload',
    ],
  },
  'prometheus-hook': { publish: OWN_PUBLISH, read: [...OWN_READ, ...FLEET] },
  // A third-party requester reads only its own reply tree (wattbus/replies/<client id>/#, none of
  // these topics: libs/bus/test/shipped-acl-requests.test.ts checks that tree).
  client: { publish: [...OWN_PUBLISH, ...REQUESTS], read: OWN_READ },
  backup: { publish: OWN_PUBLISH, read: OWN_READ },
  operator: {
    publish: OWN_PUBLISH,
    read: TOPICS.filter((topic) => topic.startsWith('wattbus/')),
  },
};

/** The accounts of `npm start`'s embedded broker, and an anonymous client. */
const EMBEDDED: Record<string, { publish: Topic[]; read: Topic[] }> = {
  operator: {
    publish: [
      'wattbus/devices/desk-1/readings',
      'wattbus/devices/desk-1/meta',
      'wattbus/devices/desk-1/availability',
      ...REQUESTS,
    ],
    read: [...TOPICS],
  },
  hook: { publish: [], read: [...TOPICS] },
  client: { publish: REQUESTS, read: [] },
  anonymous: { publish: [], read: TOPICS.filter((topic) => topic.startsWith('wattbus/')) },
};

const concrete = (topic: Topic, user: string) => topic.replace('{self}', user);

describe('ACL matrix: every topic × every MQTT user', () => {
  it('the table names every user of the shipped ACL', () => {
    const acl = readFileSync(new URL('../../../mosquitto/acl.example', import.meta.url), 'utf8');
    assert.deepEqual(aclUsers(acl).sort(), Object.keys(MOSQUITTO).sort());
  });

  describe('mosquitto with mosquitto/acl.example', { timeout: 120_000 }, () => {
    let mosquitto: MosquittoServer;
    const admin = { username: 'test-admin', password: 'admin-secret' };
    const passwords = Object.fromEntries(Object.keys(MOSQUITTO).map((user) => [user, `${user}-secret`]));

    before(async () => {
      const acl = readFileSync(new URL('../../../mosquitto/acl.example', import.meta.url), 'utf8');
      mosquitto = await startMosquitto({
        users: { ...passwords, [admin.username]: admin.password },
        // A test-only user that may publish everything, to see what each user is delivered.
        acl: `${acl}\nuser ${admin.username}\ntopic readwrite #\n`,
      });
    });

    after(async () => {
      await mosquitto?.stop();
    });

    for (const [user, rights] of Object.entries(MOSQUITTO)) {
      it(`${user}: publishes exactly its topics`, async () => {
        const bus = await Bus.connect({
          url: mosquitto.url,
          service: user,
          username: user,
          password: passwords[user],
          protocol: 5,
          logger: silentLogger(),
        });
        try {
          const allowed: string[] = [];
          for (const topic of TOPICS) {
            const published = await bus.publish(concrete(topic, user), { probe: true }).then(
              () => true,
              (error: unknown) => {
                if (error instanceof BusRefusedError) return false;
                throw error;
              },
            );
            if (published) allowed.push(concrete(topic, user));
          }
          const expected = new Set(rights.publish.map((topic) => concrete(topic, user)));
          assert.deepEqual([...new Set(allowed)].sort(), [...expected].sort());
        } finally {
          await bus.stop();
        }
      });

      it(`${user}: is delivered exactly its topics`, async () => {
        const clientId = `${user}-matrix`;
        const client = await mqtt.connectAsync(mosquitto.url, {
          clientId,
          username: user,
          password: passwords[user],
          protocolVersion: 5,
        });
        const publisher = await mqtt.connectAsync(mosquitto.url, { ...admin, protocolVersion: 5 });
        try {
          const received: string[] = [];
          const sentinel = `wattbus/replies/${clientId}/done`;
          const done = new Promise<void>((resolve) =>
            client.on('message', (topic) => (topic === sentinel ? resolve() : received.push(topic))),
          );
          // mosquitto grants a subscription and filters what it delivers by the ACL.
          await client.subscribeAsync([...TOPICS.map((topic) => concrete(topic, user)), sentinel], {
            qos: 1,
          });
          for (const topic of TOPICS) await publisher.publishAsync(concrete(topic, user), 'x', { qos: 1 });
          await publisher.publishAsync(sentinel, 'x', { qos: 1 });
          await done;
          const expected = new Set(rights.read.map((topic) => concrete(topic, user)));
          assert.deepEqual([...new Set(received)].sort(), [...expected].sort());
        } finally {
          await client.endAsync();
          await publisher.endAsync();
        }
      });
    }
  });

  describe("the embedded broker's accounts (npm start)", () => {
    let dataDir: string;
    before(() => {
      dataDir = mkdtempSync(join(tmpdir(), 'wattbus-acl-matrix-'));
    });
    after(() => rmSync(dataDir, { recursive: true, force: true }));

    it('operator, hook, client and anonymous may do exactly their topics', () => {
      const accounts = ensureMqttAccounts(dataDir);
      const rules: Record<string, TopicPermissions> = Object.fromEntries(
        accounts.map((account) => [account.username, new TopicPermissions(account, account.username)]),
      );
      rules.anonymous = new TopicPermissions(ANONYMOUS_ACCESS);
      assert.deepEqual(Object.keys(rules).sort(), Object.keys(EMBEDDED).sort());
      for (const [user, rights] of Object.entries(EMBEDDED)) {
        const permissions = rules[user]!;
        const topics = TOPICS.map((topic) => concrete(topic, user));
        assert.deepEqual(
          topics.filter((topic) => permissions.canPublish(topic)),
          rights.publish
            .map((topic) => concrete(topic, user))
            .sort((a, b) => topics.indexOf(a) - topics.indexOf(b)),
          `${user} publish`,
        );
        assert.deepEqual(
          topics.filter((topic) => permissions.canSubscribe(topic)),
          rights.read
            .map((topic) => concrete(topic, user))
            .sort((a, b) => topics.indexOf(a) - topics.indexOf(b)),
          `${user} read`,
        );
      }
    });
  });
});
