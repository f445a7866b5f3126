import { WattbusError, type AlertListParams, type AlertTransition } from '@wattbus/contracts';
import { InfluxQueryClient, type InfluxConnection, type StatementResult } from '@wattbus/influx';

export const DEFAULT_HISTORY_MS = 24 * 3600_000;
export const MAX_HISTORY_MS = 31 * 24 * 3600_000;
export const DEFAULT_HISTORY_LIMIT = 1000;

/** Reads alert transitions back from measurement `alerts` with InfluxQL, newest first. */
export class AlertHistory {
  #client: InfluxQueryClient;

  constructor(connection: InfluxConnection) {
    this.#client = new InfluxQueryClient({ connection });
  }

  /** The bounded range a list request asks for: `to` defaults to now, `from` to 24 h before `to`. */
  static range(params: AlertListParams, nowMs: number): { fromMs: number; toMs: number } {
    const toMs = params.to !== undefined ? Date.parse(params.to) : nowMs;
    const fromMs = params.from !== undefined ? Date.parse(params.from) : toMs - DEFAULT_HISTORY_MS;
    if (fromMs > toMs)
      throw new WattbusError('INVALID_PARAMS', `from (${params.from}) is after to (${params.to ?? 'now'})`);
    if (toMs - fromMs > MAX_HISTORY_MS) {
      throw new WattbusError(
        'QUERY_TOO_LARGE',
        `alert history is limited to ${MAX_HISTORY_MS / 86_400_000} days per request`,
      );
    }
    return { fromMs, toMs };
  }

  async list(params: AlertListParams, fromMs: number, toMs: number): Promise<AlertTransition[]> {
    const q = await this.#client.builder();
    const conditions = [`time >= ${q.time(Math.floor(fromMs))}`, `time <= ${q.time(Math.floor(toMs))}`];
    if (params.rule !== undefined) conditions.push(`${q.ident('rule')} = ${q.value(params.rule)}`);
    if (params.subject !== undefined) conditions.push(`${q.ident('device')} = ${q.value(params.subject)}`);
    const limit = params.limit ?? DEFAULT_HISTORY_LIMIT;
    q.statement(
      'SELECT "alert_id", "kind", "message", "rule", "device", "severity", "state", "value" FROM "alerts" ' +
        `WHERE ${conditions.join(' AND ')} ORDER BY time DESC LIMIT ${limit}`,
    );
    let results: StatementResult[];
    try {
      results = await this.#client.run(q);
    } catch (error) {
      // Nothing was ever written: no history yet.
      if (error instanceof WattbusError && /database not found/.test(error.message)) return [];
      throw error;
    }
    const series = results[0]?.series[0];
    if (!series) return [];
    const column = (name: string) => series.columns.indexOf(name);
    const at = {
      time: column('time'),
      alert_id: column('alert_id'),
      kind: column('kind'),
      message: column('message'),
      rule: column('rule'),
      device: column('device'),
      severity: column('severity'),
      state: column('state'),
      value: column('value'),
    };
    return series.values.map((row) => {
      const text = (index: number) =>
        index >= 0 && typeof row[index] === 'string' ? (row[index] as string) : '';
      const value = at.value >= 0 ? row[at.value] : null;
      const kind = text(at.kind);
      return {
        ts: new Date(Number(row[at.time])).toISOString(),
        alert_id: text(at.alert_id),
        rule: text(at.rule),
        ...(kind ? { kind } : {}),
        subject: text(at.device),
        severity: text(at.severity),
        state: text(at.state) === 'resolved' ? 'resolved' : 'raised',
        message: text(at.message),
        ...(typeof value === 'number' ? { value } : {}),
      } satisfies AlertTransition;
    });
  }
}
