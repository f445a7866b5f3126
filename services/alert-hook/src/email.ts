import type { createTransport } from 'nodemailer';
import { ALERT_SEVERITIES, type Alert } from '@wattbus/contracts';
import type { Email } from './config.js';
import type { OutboxEntry } from './outbox.js';
import { alertText, DeliveryError, type Sink } from './sinks.js';

/**
 * Sends each transition as a plain-text e-mail over SMTP (nodemailer). The Message-ID is made
 * from the idempotency key, so a repeated delivery is the same message to mail clients, and a
 * resolved mail answers its raised one (In-Reply-To), so the two thread together.
 */
export class EmailSink implements Sink {
  readonly name: string;
  readonly batch = 1;
  #email: Email;
  #transport: ReturnType<typeof createTransport>;

  /**
   * Loads nodemailer only when an e-mail sink is configured: it is ~2.7 MB of V8 heap that an
   * alert hook without one would keep for nothing (docs/benchmarks.md, "Production build and memory").
   */
  static async create(email: Email): Promise<EmailSink> {
    const { createTransport } = await import('nodemailer');
    return new EmailSink(email, createTransport);
  }

  private constructor(email: Email, create: typeof createTransport) {
    this.name = email.name;
    this.#email = email;
    this.#transport = create({
      host: email.smtp.host,
      port: email.smtp.port,
      secure: email.smtp.secure,
      ...(email.smtp.username !== undefined
        ? { auth: { user: email.smtp.username, pass: email.smtp.password ?? '' } }
        : {}),
      connectionTimeout: email.timeout_ms,
      greetingTimeout: email.timeout_ms,
      socketTimeout: email.timeout_ms,
    });
  }

  accepts(alert: Alert): boolean {
    return ALERT_SEVERITIES.indexOf(alert.severity) >= ALERT_SEVERITIES.indexOf(this.#email.min_severity);
  }

  async deliver(entries: OutboxEntry[], signal: AbortSignal): Promise<void> {
    for (const entry of entries) {
      if (signal.aborted) throw new DeliveryError('stopped', false);
      await this.#send(entry);
    }
  }

  close(): void {
    this.#transport.close();
  }

  async #send(entry: OutboxEntry): Promise<void> {
    const alert = entry.alert;
    try {
      await this.#transport.sendMail({
        from: this.#email.from,
        to: this.#email.to,
        subject: alertText({ ...alert, message: '' }).replace(/: $/, ''),
        text: mailText(alert),
        messageId: messageId(entry.key),
        ...(alert.state === 'resolved'
          ? { inReplyTo: messageId(`${alert.id}.raised`), references: [messageId(`${alert.id}.raised`)] }
          : {}),
        headers: { 'X-Wattbus-Idempotency-Key': entry.key },
      });
    } catch (error) {
      const code = (error as { responseCode?: number }).responseCode;
      // 5xx from the server (no such mailbox, message refused) will not change by retrying.
      const permanent = code !== undefined && code >= 500 && code < 600;
      throw new DeliveryError(
        `SMTP ${this.#email.smtp.host}:${this.#email.smtp.port}: ${(error as Error).message}`,
        permanent,
      );
    }
  }
}

function messageId(key: string): string {
  return `<${key}@wattbus.alerts>`;
}

function mailText(alert: Alert): string {
  const lines = [
    alert.message,
    '',
    `rule:      ${alert.rule} (${alert.kind})`,
    `subject:   ${alert.subject}${alert.name ? ` — ${alert.name}` : ''}`,
    ...(alert.location ? [`location:  ${alert.location}`] : []),
    `severity:  ${alert.severity}`,
    `raised:    ${alert.raised_at}`,
    ...(alert.resolved_at ? [`resolved:  ${alert.resolved_at}`] : []),
    ...(alert.value !== undefined ? [`value:     ${alert.value}${alert.unit ? ` ${alert.unit}` : ''}`] : []),
    ...(alert.threshold !== undefined
      ? [`threshold: ${alert.threshold}${alert.unit ? ` ${alert.unit}` : ''}`]
      : []),
    `alert id:  ${alert.id}`,
  ];
  return `${lines.join('\n')}\n`;
}
