import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '@wattbus/bus';
import type { AlertNotification, DeviceMeta, ServiceHealth } from '@wattbus/contracts';
import { silentLogger } from '@wattbus/runtime';
import { freePort } from '@wattbus/testing';
import { AlertHook, parseAlertHookConfig, type AlertHookConfig } from '../src/index.js';

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/**
 * A local webhook receiver on a fixed port that can go down and come back. Every request is
 * kept; `next(match)` resolves with the first request (already received or coming) that matches.
 */
export class Receiver extends EventEmitter {
  readonly requests: ReceivedRequest[] = [];
  port = 0;
  /** Status to answer with; 200 by default. */
  status = 200;
  #server: Server | undefined;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const status = this.status;
        response.writeHead(status).end();
        if (status >= 300) return;
        const received = {
          path: request.url ?? '/',
          headers: request.headers,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
        };
        this.requests.push(received);
        this.emit('request', received);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  next(match: (request: ReceivedRequest) => boolean): Promise<ReceivedRequest> {
    const seen = this.requests.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const onRequest = (request: ReceivedRequest) => {
        if (!match(request)) return;
        this.off('request', onRequest);
        resolve(request);
      };
      this.on('request', onRequest);
    });
  }

  /** The next generic-JSON notification (already received or coming) that matches. */
  nextNotification(
    match: (notification: AlertNotification) => boolean,
    path = '/json',
  ): Promise<AlertNotification> {
    return this.next((request) => request.path === path && match(notificationOf(request))).then(
      notificationOf,
    );
  }

  /** The next generic-JSON notification of this subject's transition. */
  notification(subject: string, event: 'raised' | 'resolved', path = '/json'): Promise<AlertNotification> {
    return this.nextNotification((n) => n.alert.subject === subject && n.event === event, path);
  }

  /** The next generic-JSON notification of a rule's transition. */
  ruleNotification(rule: string, event: 'raised' | 'resolved', path = '/json'): Promise<AlertNotification> {
    return this.nextNotification((n) => n.alert.rule === rule && n.event === event, path);
  }

  /** Generic-JSON notifications about one subject, in arrival order. */
  notifications(subject: string, path = '/json'): AlertNotification[] {
    return this.requests
      .filter((request) => request.path === path)
      .map(notificationOf)
      .filter((notification) => notification.alert.subject === subject);
  }
}

function notificationOf(request: ReceivedRequest): AlertNotification {
  return request.body as unknown as AlertNotification;
}

/** Publishes what an agent would: retained meta, availability and state, readings at QoS 1. */
export class FakeAgent {
  readonly bus: Bus;

  constructor(bus: Bus) {
    this.bus = bus;
  }

  static async connect(url: string): Promise<FakeAgent> {
    return new FakeAgent(await Bus.connect({ url, service: 'fake-agent', logger: silentLogger() }));
  }

  async meta(id: string, extra: Partial<DeviceMeta> = {}): Promise<void> {
    const meta: DeviceMeta = {
      id,
      name: `Plug ${id}`,
      type: 'tplink',
      kind: 'workplace',
      location: `test/${id}`,
      poll_interval_ms: 1000,
      model: 'HS110(EU)',
      ts: new Date().toISOString(),
      ...extra,
    };
    await this.bus.publish(this.bus.topics.meta(id), meta, { retain: true });
  }

  async availability(id: string, availability: 'online' | 'offline'): Promise<void> {
    await this.bus.publish(this.bus.topics.availability(id), availability, { retain: true });
  }

  async state(id: string, on: boolean): Promise<void> {
    await this.bus.publish(this.bus.topics.state(id), { on, ts: new Date().toISOString() }, { retain: true });
  }

  async reading(id: string, powerW: number, energyWh?: number): Promise<void> {
    await this.bus.publish(
      this.bus.topics.readings(id),
      {
        ts: new Date().toISOString(),
        device: id,
        power_w: powerW,
        ...(energyWh === undefined ? {} : { energy_wh: energyWh }),
      },
      { qos: 1 },
    );
  }

  async health(health: Omit<ServiceHealth, 'ts' | 'ready'> & { ready?: boolean }): Promise<void> {
    const record: ServiceHealth = { ready: true, ts: new Date().toISOString(), ...health };
    await this.bus.publish(`${this.bus.topics.base}/health/${health.service}`, record, { retain: true });
  }

  async stop(): Promise<void> {
    await this.bus.stop();
  }
}

export interface TestEnv {
  mqttUrl: string;
  influxUrl: string;
  database: string;
  receiver: Receiver;
}

/** A config for one test: fast ticks and retries, its own data dir, webhooks on the receiver. */
export function testConfig(
  env: TestEnv,
  rules: unknown[],
  extra: Record<string, unknown> = {},
): AlertHookConfig {
  return parseAlertHookConfig({
    mqtt: { url: env.mqttUrl },
    influx: { url: env.influxUrl, database: env.database, timeout_ms: 2000 },
    data_dir: mkdtempSync(join(tmpdir(), 'wattbus-alert-hook-')),
    tick_ms: 50,
    unknown_device_warn_ms: 0,
    health_interval_ms: 0,
    retry: { min_ms: 20, max_ms: 200 },
    webhooks: [{ name: 'json', url: `${env.receiver.url}/json`, template: 'json' }],
    rules,
    ...extra,
  });
}

/** Starts a hook and registers it for stopping; returns it. */
export async function startHook(
  config: AlertHookConfig,
  running: AlertHook[],
  clock?: () => number,
): Promise<AlertHook> {
  const hook = new AlertHook({ config, logger: silentLogger(), ...(clock ? { clock } : {}) });
  running.push(hook);
  await hook.start();
  return hook;
}
