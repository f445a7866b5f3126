import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import {
  freePort,
  startAedes,
  startInflux,
  waitUntil,
  type AedesServer,
  type InfluxServer,
} from '@wattbus/testing';
import type { AlertHook } from '../src/index.js';
import { FakeAgent, Receiver, startHook, testConfig } from './helpers.js';

interface Mail {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP peer (smtp-server) on a fixed loopback port that can go down and come back. */
class MailReceiver extends EventEmitter {
  readonly mails: Mail[] = [];
  port = 0;
  #server: SMTPServer | undefined;

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      disableReverseLookup: true,
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const mail = {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((address) => address.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          };
          this.mails.push(mail);
          this.emit('mail', mail);
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  next(match: (mail: Mail) => boolean): Promise<Mail> {
    const seen = this.mails.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const onMail = (mail: Mail) => {
        if (!match(mail)) return;
        this.off('mail', onMail);
        resolve(mail);
      };
      this.on('mail', onMail);
    });
  }
}

function header(mail: Mail, name: string): string | undefined {
  const match = new RegExp(`^${name}: (.*)$`, 'im').exec(mail.raw);
  return match?.[1]?.trim();
}

describe('e-mail notifications over SMTP (nodemailer → smtp-server)', () => {
  let aedes: AedesServer;
  let influx: InfluxServer;
  let agent: FakeAgent;
  const receiver = new Receiver();
  const smtp = new MailReceiver();
  const running: AlertHook[] = [];

  before(async () => {
    [aedes, influx] = await Promise.all([startAedes(), startInflux()]);
    await receiver.start();
    smtp.port = await freePort(); // reserved, but nobody listens yet: the mail server is down
    agent = await FakeAgent.connect(aedes.url);
  });

  after(async () => {
    await Promise.all(running.map((hook) => hook.stop()));
    await agent?.stop();
    await smtp.stop();
    await receiver.stop();
    await aedes?.stop();
    await influx?.destroy();
  });

  test('raised and resolved mails, threaded, each once, delivered after the SMTP server comes back', async () => {
    const config = testConfig(
      { mqttUrl: aedes.url, influxUrl: influx.url, database: 'alerts_mail', receiver },
      [
        {
          name: 'overload',
          kind: 'power_above',
          devices: ['mail-1'],
          threshold_w: 1000,
          for_ms: 0,
          severity: 'critical',
        },
      ],
      {
        emails: [
          {
            name: 'ops-mail',
            smtp: { host: '127.0.0.1', port: smtp.port },
            from: 'WattBus <alerts@wattbus.test>',
            to: ['ops@wattbus.test', 'oncall@wattbus.test'],
            timeout_ms: 2000,
          },
        ],
      },
    );
    await startHook(config, running);
    await agent.meta('mail-1');
    await agent.reading('mail-1', 1500);
    await agent.reading('mail-1', 200);
    // Both transitions are notified on the webhook while the mail server is still down…
    const resolved = await receiver.notification('mail-1', 'resolved');
    await smtp.start();
    // …and the mails follow once it is up, in order.
    const raisedMail = await smtp.next((mail) => /RAISED/.test(header(mail, 'Subject') ?? ''));
    const resolvedMail = await smtp.next((mail) => /RESOLVED/.test(header(mail, 'Subject') ?? ''));

    assert.equal(header(raisedMail, 'Subject'), '[RAISED critical] overload on mail-1 (Plug mail-1)');
    assert.deepEqual(raisedMail.to, ['ops@wattbus.test', 'oncall@wattbus.test']);
    assert.equal(raisedMail.from, 'alerts@wattbus.test');
    assert.equal(header(raisedMail, 'Message-ID'), `<${resolved.alert.id}.raised@wattbus.alerts>`);
    assert.equal(header(resolvedMail, 'In-Reply-To'), `<${resolved.alert.id}.raised@wattbus.alerts>`);
    assert.match(resolvedMail.raw, /mail-1 draws 200 W, back below 1000 W/);
    assert.equal(smtp.mails.indexOf(raisedMail) < smtp.mails.indexOf(resolvedMail), true);
    assert.equal(smtp.mails.length, 2, 'one mail per transition');

    // The database did not exist: the InfluxDB sink created it (1.x) and wrote both transitions.
    await waitUntil('both transitions in the new database', async () => {
      const answer = await influx.query('alerts_mail', 'SELECT count("state") FROM "alerts"');
      return answer.results?.[0]?.series?.[0]?.values[0]?.[1] === 2;
    });
  });
});
