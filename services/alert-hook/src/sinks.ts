import { ALERT_SEVERITIES, type Alert, type AlertNotification } from '@wattbus/contracts';
import { InfluxError, encodeLine, ensureDatabase, influxWrite, type InfluxConnection } from '@wattbus/influx';
import type { Webhook } from './config.js';
import type { OutboxEntry } from './outbox.js';

/** Where notifications go. `deliver` resolves once the far end accepted the entry. */
export interface Sink {
  readonly name: string;
  /** How many queued entries one `deliver` call may take (1 for webhooks: one POST per transition). */
  readonly batch: number;
  accepts(alert: Alert): boolean;
  deliver(entries: OutboxEntry[], signal: AbortSignal): Promise<void>;
}

/** A failed delivery; `permanent` ones (a 400 from the receiver) are not retried. */
export class DeliveryError extends Error {
  readonly permanent: boolean;

  constructor(message: string, permanent: boolean) {
    super(message);
    this.name = 'DeliveryError';
    this.permanent = permanent;
  }
}

/** POSTs JSON to a webhook with the `Idempotency-Key` header; body from the webhook's template. */
export class WebhookSink implements Sink {
  readonly name: string;
  readonly batch = 1;
  #webhook: Webhook;

  constructor(webhook: Webhook) {
    this.name = webhook.name;
    this.#webhook = webhook;
  }

  accepts(alert: Alert): boolean {
    return ALERT_SEVERITIES.indexOf(alert.severity) >= ALERT_SEVERITIES.indexOf(this.#webhook.min_severity);
  }

  async deliver(entries: OutboxEntry[], signal: AbortSignal): Promise<void> {
    for (const entry of entries) await this.#post(entry, signal);
  }

  async #post(entry: OutboxEntry, signal: AbortSignal): Promise<void> {
    const body = renderBody(this.#webhook, entry);
    let response: Response;
    try {
      response = await fetch(this.#webhook.url, {
        method: 'POST',
        headers: {
          ...this.#webhook.headers,
          'content-type': 'application/json',
          'idempotency-key': entry.key,
        },
        body: JSON.stringify(body),
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.#webhook.timeout_ms)]),
      });
    } catch (error) {
      throw new DeliveryError(`POST ${redact(this.#webhook.url)} failed: ${causeOf(error)}`, false);
    }
    await response.arrayBuffer().catch(() => undefined);
    if (response.ok) return;
    // 408 and 429 are "later", 5xx the receiver's trouble; any other 4xx will not get better.
    const retry = response.status === 408 || response.status === 429 || response.status >= 500;
    throw new DeliveryError(`POST ${redact(this.#webhook.url)} answered ${response.status}`, !retry);
  }
}

export function renderBody(webhook: Pick<Webhook, 'template' | 'ntfy_topic'>, entry: OutboxEntry): unknown {
  const alert = entry.alert;
  switch (webhook.template) {
    case 'json':
      return { idempotency_key: entry.key, event: alert.state, alert } satisfies AlertNotification;
    case 'slack':
    case 'matrix':
      return { text: alertText(alert) };
    case 'ntfy':
      return {
        topic: webhook.ntfy_topic,
        title: `${alert.state === 'raised' ? 'Alert' : 'Resolved'}: ${alert.rule} on ${alert.subject}`,
        message: alert.message,
        // ntfy priorities: 5 urgent … 3 default.
        priority:
          alert.state === 'resolved'
            ? 3
            : alert.severity === 'critical'
              ? 5
              : alert.severity === 'warning'
                ? 4
                : 3,
        tags: [alert.state === 'raised' ? 'rotating_light' : 'white_check_mark', alert.severity],
      };
  }
}

/** One line for chat: `[RAISED warning] overload on desk-3: desk-3 draws 3712 W, above 3680 W`. */
export function alertText(alert: Alert): string {
  const where = alert.name ? `${alert.subject} (${alert.name})` : alert.subject;
  return `[${alert.state.toUpperCase()} ${alert.severity}] ${alert.rule} on ${where}: ${alert.message}`;
}

/** Writes each transition as a point of measurement `alerts`. */
export class InfluxSink implements Sink {
  readonly name = 'influx';
  readonly batch = 500;
  #connection: InfluxConnection;
  #databaseCreated = false;

  constructor(connection: InfluxConnection) {
    this.#connection = connection;
  }

  accepts(): boolean {
    return true;
  }

  async deliver(entries: OutboxEntry[], signal: AbortSignal): Promise<void> {
    let lines: string[];
    try {
      lines = entries.map((entry) => alertLine(entry.alert));
    } catch (error) {
      throw new DeliveryError(`an alert cannot be stored: ${(error as Error).message}`, true);
    }
    try {
      await this.#write(lines, signal);
    } catch (error) {
      if (!(error instanceof InfluxError)) throw error;
      // 408 and 429 are "later", 5xx InfluxDB's trouble, no answer at all is worth another try.
      const status = error.status;
      const retry = status === undefined || status >= 500 || status === 429 || status === 408;
      throw new DeliveryError(error.message, !retry);
    }
  }

  async #write(lines: string[], signal: AbortSignal): Promise<void> {
    try {
      await influxWrite(this.#connection, lines, { signal });
    } catch (error) {
      if (!(error instanceof InfluxError) || error.status !== 404 || this.#databaseCreated) throw error;
      // InfluxDB 1.x: "database not found"; create it once (2.x/3.x buckets are made by their admin).
      this.#databaseCreated = true;
      await ensureDatabase(this.#connection).catch(() => undefined);
      await influxWrite(this.#connection, lines, { signal });
    }
  }
}

/** Line protocol of one transition; its time is the transition's, so a repeat overwrites itself. */
export function alertLine(alert: Alert): string {
  const at = Date.parse(
    alert.state === 'resolved' ? (alert.resolved_at ?? alert.raised_at) : alert.raised_at,
  );
  const text = (value: string) => ({ type: 'string' as const, value: value.replace(/\n/g, ' ') });
  return encodeLine({
    measurement: 'alerts',
    tags: { rule: alert.rule, device: alert.subject, severity: alert.severity, kind: alert.kind },
    fields: {
      state: text(alert.state),
      alert_id: text(alert.id),
      message: text(alert.message),
      ...(alert.value !== undefined && Number.isFinite(alert.value)
        ? { value: { type: 'float' as const, value: alert.value } }
        : {}),
    },
    timestamp: at,
  });
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

/** Webhook URLs often carry a secret in the path or query; log only scheme, host and port. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}/…`;
  } catch {
    return '(bad url)';
  }
}
