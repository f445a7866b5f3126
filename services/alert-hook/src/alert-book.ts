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
  #queue: { transition: Alert; retained: Alert | '' }[] = [];
  #draining: Promise<void> | undefined;

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
    this.#announce(alert, alert);
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
    this.#announce(resolved, '');
    return resolved;
  }

  /** Waits for transitions being recorded and announced. */
  async settle(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  /**
   * Transitions are recorded and announced in order, in batches: those that arrive while one
   * batch is being fsynced go together in the next (one fsync, pipelined publishes), so a burst
   * (an agent dying with 200 plugs) costs a few fsyncs, not 200, and a resolve never overtakes
   * its raise.
   */
  #announce(transition: Alert, retained: Alert | ''): void {
    this.#queue.push({ transition, retained });
    this.#draining ??= this.#drain().finally(() => (this.#draining = undefined));
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0);
      try {
        await this.#deps.dispatcher.enqueue(batch.map((item) => item.transition));
      } catch (error) {
        // The outbox is unwritable (disk full?): announce anyway, notifications are lost for these.
        this.#deps.logger.error(
          { err: error, transitions: batch.length },
          'could not record transitions in the outbox',
        );
      }
      await Promise.all(
        batch.map(({ transition, retained }) =>
          this.#deps.bus
            .publish(this.#topics.alert(transition.rule, transition.subject), retained, {
              qos: 1,
              retain: true,
            })
            .catch((error: unknown) =>
              this.#deps.logger.error(
                { err: error, rule: transition.rule, subject: transition.subject },
                'could not publish the alert',
              ),
            ),
        ),
      );
    }
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
