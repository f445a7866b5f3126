import { randomUUID } from 'node:crypto';
import type { Bus } from '@wattbus/bus';
import { AlertSchema, AlertTopics, validator, type Alert } from '@wattbus/contracts';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Rule } from './config.js';
import type { Dispatcher } from './dispatcher.js';
import type { Verdict } from './judge.js';

export interface AlertBookDeps {
  bus: Bus;
  dispatcher: Dispatcher;
  clock: () => number;
  logger: Logger;
}

/**
 * The active alerts and their lifecycle. A transition is first put in the outbox (fsynced),
 * then announced: the active alert retained on `{base}/alerts/{rule}/{subject}`, cleared with
 * an empty retained payload when it resolves. On start the retained topics are read back, so
 * a restarted hook knows what is active and does not raise (or notify) it again.
 */
export class AlertBook {
  #deps: AlertBookDeps;
  #topics: AlertTopics;
  #active = new Map<string, Alert>();
  #inFlight = new Set<Promise<void>>();
  #chain: Promise<void> = Promise.resolve();

  constructor(deps: AlertBookDeps) {
    this.#deps = deps;
    this.#topics = new AlertTopics(deps.bus.topics.base);
  }

  /** Reads the retained alerts of these rules; resolves once the broker has sent them all. */
  async recover(rules: Rule[]): Promise<number> {
    const { bus } = this.#deps;
    const checkAlert = validator(AlertSchema);
    const byName = new Map(rules.map((rule) => [rule.name, rule]));
    const subscriptions = [];
    for (const rule of rules) {
      subscriptions.push(
        await bus.subscribe(
          this.#topics.rule(rule.name),
          checkAlert,
          (alert, { topic }) => {
            const where = this.#topics.parseAlert(topic);
            if (!where || where.rule !== alert.rule || where.subject !== alert.subject) return;
            if (alert.state !== 'raised' || !byName.has(alert.rule)) return;
            this.#active.set(key(alert.rule, alert.subject), alert);
          },
          { onEmpty: () => undefined },
        ),
      );
    }
    await this.#barrier();
    await Promise.all(subscriptions.map((subscription) => subscription.unsubscribe()));
    if (this.#active.size > 0) {
      this.#deps.logger.info({ active: this.#active.size }, 'recovered active alerts from retained topics');
    }
    return this.#active.size;
  }

  get(rule: string, subject: string): Alert | undefined {
    return this.#active.get(key(rule, subject));
  }

  /** Active alerts, oldest first. */
  active(): Alert[] {
    return [...this.#active.values()].sort((a, b) => a.raised_at.localeCompare(b.raised_at));
  }

  /** Marks the alert active at once (so a second evaluation cannot raise it twice), then records and announces it. */
  raise(
    rule: Rule,
    subject: string,
    verdict: Verdict,
    about: { name?: string; location?: string } = {},
  ): Alert {
    const alert: Alert = {
      id: randomUUID(),
      rule: rule.name,
      kind: rule.kind,
      subject,
      severity: rule.severity,
      state: 'raised',
      message: verdict.message.slice(0, 1000),
      ...numbers(verdict),
      raised_at: new Date(this.#deps.clock()).toISOString(),
      ...about,
    };
    this.#active.set(key(rule.name, subject), alert);
    this.#deps.logger.warn(
      { rule: rule.name, subject, severity: rule.severity, message: alert.message },
      'alert raised',
    );
    this.#track(() => this.#announce(alert, alert));
    return alert;
  }

  resolve(active: Alert, verdict: Verdict): Alert {
    this.#active.delete(key(active.rule, active.subject));
    const resolved: Alert = {
      ...active,
      state: 'resolved',
      message: verdict.message.slice(0, 1000),
      ...numbers(verdict),
      resolved_at: new Date(this.#deps.clock()).toISOString(),
    };
    this.#deps.logger.info(
      { rule: active.rule, subject: active.subject, message: resolved.message },
      'alert resolved',
    );
    this.#track(() => this.#announce(resolved, ''));
    return resolved;
  }

  /** Waits for transitions being recorded and announced. */
  async settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  async #announce(transition: Alert, retained: Alert | ''): Promise<void> {
    try {
      await this.#deps.dispatcher.enqueue(transition);
      await this.#deps.bus.publish(this.#topics.alert(transition.rule, transition.subject), retained, {
        qos: 1,
        retain: true,
      });
    } catch (error) {
      this.#deps.logger.error(
        { err: error, rule: transition.rule, subject: transition.subject },
        'could not record the transition',
      );
    }
  }

  /** Transitions are recorded and announced one after another, so a resolve never overtakes its raise. */
  #track(work: () => Promise<void>): void {
    const run = this.#chain.then(work);
    this.#chain = run;
    this.#inFlight.add(run);
    void run.finally(() => this.#inFlight.delete(run));
  }

  /**
   * MQTT has no "end of retained messages". The broker sends them right after the SUBACK, before
   * it handles anything we publish later, so a message we send ourselves after subscribing comes
   * back after them.
   */
  async #barrier(): Promise<void> {
    const { bus } = this.#deps;
    const topic = bus.topics.reply(bus.clientId, `alert-recovery-${randomUUID()}`);
    let arrive!: () => void;
    const arrived = new Promise<void>((resolve) => (arrive = resolve));
    const sub = await bus.subscribe(topic, validator(Type.String()), () => arrive(), { encoding: 'text' });
    await bus.publish(topic, 'barrier', { qos: 1 });
    await arrived;
    await sub.unsubscribe();
  }
}

function key(rule: string, subject: string): string {
  return `${rule}/${subject}`;
}

function numbers(verdict: Verdict): Pick<Alert, 'value' | 'threshold' | 'unit'> {
  return {
    ...(verdict.value !== undefined && Number.isFinite(verdict.value) ? { value: verdict.value } : {}),
    ...(verdict.threshold !== undefined ? { threshold: verdict.threshold } : {}),
    ...(verdict.unit !== undefined ? { unit: verdict.unit } : {}),
  };
}
