import type { Fleet, FleetDevice } from '@wattbus/fleet';
import type { Rule } from './config.js';
import type { DailyEnergy } from './energy.js';
import type { ServiceWatch } from './services.js';

/** What a rule says about one subject now. */
export interface Verdict {
  breach: boolean;
  message: string;
  value?: number;
  threshold?: number;
  unit?: string;
}

export interface JudgeDeps {
  fleet: Fleet;
  services: ServiceWatch;
  energy: DailyEnergy;
  clock: () => number;
  ratings_w: Record<string, number>;
  /** Clock time the hook started: silence is only judged one full window after it. */
  started_ms: number;
}

/** The default of offline.silent_polls. */
export const DEFAULT_SILENT_POLLS = 3;
/** The default counting window of health metric dead_letters. */
export const DEFAULT_DEAD_LETTER_WINDOW_MS = 60_000;

/**
 * Pure judgement of rules against what the fleet shows. `raised` tells whether the alert is
 * active, so thresholds apply their hysteresis on the way back. `null` means "cannot tell"
 * (no reading yet, no rating for the model…): the alert keeps its state.
 */
export class Judge {
  #deps: JudgeDeps;

  constructor(deps: JudgeDeps) {
    this.#deps = deps;
  }

  /** Subjects (device ids or services) a rule applies to right now. */
  subjects(rule: Rule): string[] {
    if (rule.kind === 'health') {
      return this.#deps.services
        .services()
        .map((view) => view.service)
        .filter((service) => rule.services === undefined || rule.services.includes(service));
    }
    return this.#deps.fleet
      .devices()
      .filter((device) => this.watches(rule, device))
      .map((device) => device.id);
  }

  watches(rule: Rule, device: FleetDevice): boolean {
    if (rule.kind === 'health') return false;
    if (rule.devices === undefined && rule.device_kinds === undefined) return true;
    if (rule.devices?.includes(device.id)) return true;
    return device.meta !== undefined && (rule.device_kinds?.includes(device.meta.kind) ?? false);
  }

  judge(rule: Rule, subject: string, raised: boolean): Verdict | null {
    if (rule.kind === 'health') return this.#health(rule, subject, raised);
    const device = this.#deps.fleet.get(subject);
    if (!device) return null;
    switch (rule.kind) {
      case 'offline':
        return this.#offline(rule, device);
      case 'power_above':
        return this.#powerAbove(rule, device, raised);
      case 'power_below':
        return this.#powerBelow(rule, device, raised);
      case 'energy_budget':
        return this.#energy(rule, device);
    }
  }

  /** The power_above threshold of a device: the rule's, else its model's rating. */
  overloadThreshold(rule: Rule, device: FleetDevice): number | undefined {
    if (rule.threshold_w !== undefined) return rule.threshold_w;
    const model = device.meta?.model;
    if (model === undefined) return undefined;
    let best: [string, number] | undefined;
    for (const entry of Object.entries(this.#deps.ratings_w)) {
      if (model.startsWith(entry[0]) && (!best || entry[0].length > best[0].length)) best = entry;
    }
    return best?.[1];
  }

  #offline(rule: Rule, device: FleetDevice): Verdict | null {
    if (device.availability === 'offline') {
      return { breach: true, message: `${device.id} is offline (its agent says so)` };
    }
    const pollMs = device.meta?.poll_interval_ms;
    if (pollMs === undefined) return device.availability === 'online' ? this.#back(device) : null;
    const polls = rule.silent_polls ?? DEFAULT_SILENT_POLLS;
    const windowMs = polls * pollMs;
    const now = this.#deps.clock();
    const since = device.reading_received_ms ?? Math.max(device.first_seen_ms, this.#deps.started_ms);
    if (device.reading_received_ms === undefined && now - since < windowMs) return null; // too early to tell
    const silenceMs = now - since;
    if (silenceMs > windowMs) {
      return {
        breach: true,
        message: `no reading from ${device.id} for ${formatSeconds(silenceMs)} (${polls} × ${pollMs} ms poll interval)`,
        value: silenceMs,
        threshold: windowMs,
        unit: 'ms',
      };
    }
    return this.#back(device);
  }

  #back(device: FleetDevice): Verdict {
    return { breach: false, message: `${device.id} is back online and reporting` };
  }

  #powerAbove(rule: Rule, device: FleetDevice, raised: boolean): Verdict | null {
    const threshold = this.overloadThreshold(rule, device);
    const power = device.reading?.power_w;
    if (threshold === undefined || power === undefined) return null;
    const clear = threshold - (rule.hysteresis_w ?? 0);
    const breach = raised ? power > clear : power > threshold;
    return {
      breach,
      message: breach
        ? `${device.id} draws ${round(power)} W, above ${round(threshold)} W`
        : `${device.id} draws ${round(power)} W, back below ${round(raised ? clear : threshold)} W`,
      value: power,
      threshold,
      unit: 'W',
    };
  }

  #powerBelow(rule: Rule, device: FleetDevice, raised: boolean): Verdict | null {
    const threshold = rule.threshold_w ?? 0;
    const power = device.reading?.power_w;
    if (power === undefined) return null;
    if (rule.expect === 'when_on' && device.state?.on === false) {
      return {
        breach: false,
        message: `${device.id} was switched off; no power expected`,
        value: power,
        unit: 'W',
      };
    }
    const clear = threshold + (rule.hysteresis_w ?? 0);
    const breach = raised ? power < clear : power < threshold;
    return {
      breach,
      message: breach
        ? `${device.id} draws ${round(power)} W, below the expected ${round(threshold)} W`
        : `${device.id} draws ${round(power)} W again, at least ${round(raised ? clear : threshold)} W`,
      value: power,
      threshold,
      unit: 'W',
    };
  }

  #energy(rule: Rule, device: FleetDevice): Verdict | null {
    const consumed = this.#deps.energy.today(device.id);
    const budget = rule.budget_wh;
    if (consumed === undefined || budget === undefined) return null;
    const breach = consumed > budget;
    const day = this.#deps.energy.day(this.#deps.clock());
    return {
      breach,
      message: breach
        ? `${device.id} used ${round(consumed)} Wh on ${day}, over its ${round(budget)} Wh budget`
        : `${device.id} used ${round(consumed)} Wh on ${day}, within its ${round(budget)} Wh budget`,
      value: consumed,
      threshold: budget,
      unit: 'Wh',
    };
  }

  #health(rule: Rule, service: string, raised: boolean): Verdict | null {
    const view = this.#deps.services.service(service);
    if (!view) return null;
    if (rule.stale_after_ms !== undefined) {
      if (view.health_received_ms === undefined) return null;
      const ageMs = this.#deps.clock() - view.health_received_ms;
      const breach = ageMs > rule.stale_after_ms;
      return {
        breach,
        message: breach
          ? `no health from ${service} for ${formatSeconds(ageMs)}`
          : `${service} publishes its health again`,
        value: ageMs,
        threshold: rule.stale_after_ms,
        unit: 'ms',
      };
    }
    if (rule.check !== undefined) {
      // `ready` names the record's own flag unless the service has a check of that name.
      const check =
        view.health?.checks[rule.check] ??
        (rule.check === 'ready' && view.health ? { ok: view.health.ready, detail: undefined } : undefined);
      if (!check) return null;
      const detail = check.detail ? `: ${check.detail}` : '';
      return {
        breach: !check.ok,
        message: check.ok
          ? `${service} check ${rule.check} is ok again`
          : `${service} check ${rule.check} fails${detail}`,
      };
    }
    const metric = rule.metric!;
    const above = rule.above ?? 0;
    let value: number | undefined;
    let what = metric;
    if (metric === 'dead_letters') {
      const windowMs = rule.window_ms ?? DEFAULT_DEAD_LETTER_WINDOW_MS;
      value = this.#deps.services.deadLetters(service, windowMs);
      what = `dead letters in ${formatSeconds(windowMs)}`;
    } else {
      value = view.health?.metrics[metric];
    }
    if (value === undefined) return null;
    const clear = above - (rule.hysteresis ?? 0);
    const breach = raised ? value > clear : value > above;
    return {
      breach,
      message: breach
        ? `${service} ${what}: ${round(value)}, above ${round(above)}`
        : `${service} ${what}: ${round(value)}, back below ${round(raised ? clear : above)}`,
      value,
      threshold: above,
    };
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function formatSeconds(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}
