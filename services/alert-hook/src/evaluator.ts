import type { Fleet } from '@wattbus/fleet';
import type { Logger } from 'pino';
import type { AlertBook } from './alert-book.js';
import type { Rule } from './config.js';
import type { Judge } from './judge.js';

export interface EvaluatorDeps {
  rules: Rule[];
  judge: Judge;
  book: AlertBook;
  fleet: Fleet;
  clock: () => number;
  logger: Logger;
}

interface Pending {
  since_ms: number;
  timer: NodeJS.Timeout;
}

/**
 * Turns verdicts into transitions: a breach must hold `for_ms` before the alert is raised (a
 * timer re-judges when that time is up); an active alert resolves as soon as the verdict (with
 * hysteresis) says it is over. Deduplicated by construction: one active alert per rule and subject.
 */
export class Evaluator {
  #deps: EvaluatorDeps;
  #pending = new Map<string, Pending>();
  #running = false;

  constructor(deps: EvaluatorDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#running = true;
    this.evaluateAll();
  }

  stop(): void {
    this.#running = false;
    for (const pending of this.#pending.values()) clearTimeout(pending.timer);
    this.#pending.clear();
  }

  /** Every rule against every subject, and every active alert (its subject may have gone quiet). */
  evaluateAll(): void {
    if (!this.#running) return;
    for (const rule of this.#deps.rules) {
      const subjects = new Set(this.#deps.judge.subjects(rule));
      for (const alert of this.#deps.book.active()) if (alert.rule === rule.name) subjects.add(alert.subject);
      for (const subject of subjects) this.evaluate(rule, subject);
    }
  }

  /** Rules watching this device (or, for health rules, this service). */
  evaluateSubject(subject: string, health: boolean): void {
    if (!this.#running) return;
    const device = health ? undefined : this.#deps.fleet.get(subject);
    for (const rule of this.#deps.rules) {
      if ((rule.kind === 'health') !== health) continue;
      const watched = health
        ? rule.services === undefined || rule.services.includes(subject)
        : device !== undefined && this.#deps.judge.watches(rule, device);
      if (watched || this.#deps.book.get(rule.name, subject)) this.evaluate(rule, subject);
    }
  }

  evaluate(rule: Rule, subject: string): void {
    if (!this.#running) return;
    const { book, judge, clock } = this.#deps;
    const active = book.get(rule.name, subject);
    let verdict;
    try {
      verdict = judge.judge(rule, subject, active !== undefined);
    } catch (error) {
      this.#deps.logger.error({ err: error, rule: rule.name, subject }, 'rule evaluation failed');
      return;
    }
    if (verdict === null) return;
    const pendingKey = `${rule.name}/${subject}`;
    if (active) {
      if (!verdict.breach) book.resolve(active, verdict);
      return;
    }
    const pending = this.#pending.get(pendingKey);
    if (!verdict.breach) {
      if (pending) {
        clearTimeout(pending.timer);
        this.#pending.delete(pendingKey);
      }
      return;
    }
    const now = clock();
    const since = pending?.since_ms ?? now;
    if (now - since >= rule.for_ms) {
      if (pending) clearTimeout(pending.timer);
      this.#pending.delete(pendingKey);
      const meta = this.#deps.fleet.get(subject)?.meta;
      book.raise(rule, subject, verdict, meta ? { name: meta.name, location: meta.location } : {});
      return;
    }
    // (Re)arm the timer: a timer may fire a millisecond early by the clock, so it re-arms itself.
    if (pending) clearTimeout(pending.timer);
    const remainingMs = Math.max(1, rule.for_ms - (now - since));
    const timer = setTimeout(() => this.evaluate(rule, subject), remainingMs);
    this.#pending.set(pendingKey, { since_ms: since, timer });
  }
}
