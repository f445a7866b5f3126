import type { Alert, AlertListResult, LiveEvent } from '@wattbus/contracts';
import { announce, h } from './dom.js';
import { formatTime } from './format.js';
import type { Page, PageContext } from './page.js';

const HISTORY_DAYS = 7;

/** Active alerts and the transitions of the last 7 days, reloaded when an alert event arrives. */
export class AlertsPage implements Page {
  readonly title = 'Alerts';
  #context: PageContext;
  #active = h('tbody');
  #history = h('tbody');
  #status = h('p', { class: 'status', 'aria-live': 'polite' });
  #reload: ReturnType<typeof setTimeout> | undefined;
  #abort = new AbortController();
  #devices = new Set<string>();

  constructor(context: PageContext) {
    this.#context = context;
  }

  async start(): Promise<void> {
    const head = (...names: string[]) =>
      h('thead', {}, h('tr', {}, ...names.map((name) => h('th', { scope: 'col' }, name))));
    this.#context.root.append(
      h('h1', { tabindex: '-1' }, 'Alerts'),
      this.#status,
      h(
        'section',
        { id: 'alerts-active', 'aria-labelledby': 'alerts-active-title' },
        h('h2', { id: 'alerts-active-title' }, 'Active'),
        h(
          'table',
          { class: 'data alerts' },
          head('Severity', 'Rule', 'Subject', 'Message', 'Since'),
          this.#active,
        ),
      ),
      h(
        'section',
        { id: 'alerts-recent', 'aria-labelledby': 'alerts-recent-title' },
        h('h2', { id: 'alerts-recent-title' }, `Recent (${HISTORY_DAYS} days)`),
        h(
          'table',
          { class: 'data alerts' },
          head('Time', 'Event', 'Severity', 'Rule', 'Subject', 'Message'),
          this.#history,
        ),
      ),
    );
    await this.#context.live.connected();
    await this.#load();
  }

  stop(): void {
    this.#abort.abort();
    clearTimeout(this.#reload);
  }

  onReconnect(): void {
    void this.#load();
  }

  onEvent(event: LiveEvent): void {
    if (event.event === 'meta' && event.data.meta) this.#devices.add(event.data.device);
    if (event.event !== 'alert') return;
    const { alert, rule, subject } = event.data;
    announce(alert ? `Alert: ${alert.message}` : `Resolved: ${rule} on ${subject}`);
    // Several transitions often come together (a site going offline): reload once.
    clearTimeout(this.#reload);
    this.#reload = setTimeout(() => void this.#load(), 300);
  }

  async #load(): Promise<void> {
    const { api } = this.#context;
    const signal = this.#abort.signal;
    try {
      const to = new Date();
      const from = new Date(to.getTime() - HISTORY_DAYS * 86_400_000);
      const [active, recent] = await Promise.all([
        api.get<AlertListResult>('/api/v1/alerts', { active: true }, signal),
        api.get<AlertListResult>(
          '/api/v1/alerts',
          { active: false, from: from.toISOString(), to: to.toISOString(), limit: 200 },
          signal,
        ),
      ]);
      const alerts = active.active ?? [];
      this.#active.replaceChildren(
        ...(alerts.length === 0
          ? [h('tr', {}, h('td', { colspan: 5 }, 'No active alerts.'))]
          : alerts.map((alert) => this.#activeRow(alert))),
      );
      const history = recent.history ?? [];
      this.#history.replaceChildren(
        ...(history.length === 0
          ? [h('tr', {}, h('td', { colspan: 6 }, 'Nothing in the last days.'))]
          : history.map((transition) =>
              h(
                'tr',
                { class: `severity-${transition.severity}` },
                h('td', {}, formatTime(transition.ts)),
                h('td', {}, transition.state),
                h('td', {}, h('span', { class: `badge ${transition.severity}` }, transition.severity)),
                h('td', {}, transition.rule),
                h('td', {}, this.#subject(transition.subject)),
                h('td', {}, transition.message),
              ),
            )),
      );
      this.#status.textContent = `${alerts.length} active`;
    } catch (error) {
      if (!signal.aborted) this.#status.textContent = `Could not load alerts: ${(error as Error).message}`;
    }
  }

  #activeRow(alert: Alert): HTMLTableRowElement {
    return h(
      'tr',
      { class: `severity-${alert.severity}`, 'data-rule': alert.rule, 'data-subject': alert.subject },
      h('td', {}, h('span', { class: `badge ${alert.severity}` }, alert.severity)),
      h('td', {}, alert.rule),
      h('td', {}, this.#subject(alert.subject, alert.name)),
      h('td', {}, alert.message),
      h('td', {}, formatTime(alert.raised_at)),
    );
  }

  /** A device subject links to its page (alerts about services have no page). */
  #subject(subject: string, name?: string): Node {
    if (name !== undefined || this.#devices.has(subject)) {
      return h('a', { href: `#/devices/${encodeURIComponent(subject)}` }, name ?? subject);
    }
    return document.createTextNode(subject);
  }
}
