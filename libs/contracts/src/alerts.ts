import { Type, type Static } from '@sinclair/typebox';
import { assertBaseTopic, assertSegment, DEFAULT_BASE_TOPIC, TopicError } from './topics.js';
import { storableDateTime } from './time-range.js';

/**
 * Alerts raised by the alert hook, the request method that lists them, and the health record
 * services publish so platform problems can raise alerts too.
 */

/** Rule names and service names become topic segments and InfluxDB tag values. */
export const ALERT_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]*$';
const alertNameRegex = new RegExp(ALERT_NAME_PATTERN);

/** `req` is taken by the request topic `{base}/alerts/req/{method}`, so no rule may use it. */
export const RESERVED_RULE_NAMES = ['req'] as const;

export const ALERT_KINDS = ['offline', 'power_above', 'power_below', 'energy_budget', 'health'] as const;
export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;

export const AlertKindSchema = Type.Union(
  ALERT_KINDS.map((kind) => Type.Literal(kind)),
  {
    $id: 'AlertKind',
    description:
      'offline: availability offline or no reading for N poll intervals; power_above: overload; power_below: outage; energy_budget: energy per local day; health: platform health of a service.',
    examples: ['power_above'],
  },
);
export type AlertKind = Static<typeof AlertKindSchema>;

export const AlertSeveritySchema = Type.Union(
  ALERT_SEVERITIES.map((severity) => Type.Literal(severity)),
  { $id: 'AlertSeverity', examples: ['warning'] },
);
export type AlertSeverity = Static<typeof AlertSeveritySchema>;

export const AlertStateSchema = Type.Union([Type.Literal('raised'), Type.Literal('resolved')], {
  $id: 'AlertState',
  examples: ['raised'],
});
export type AlertState = Static<typeof AlertStateSchema>;

// Not imported from schemas.ts: that module imports this one for MESSAGE_SCHEMAS.
const TimestampSchema = Type.String({ format: 'date-time', description: 'ISO 8601 timestamp in UTC.' });

const AlertNameSchema = Type.String({ pattern: ALERT_NAME_PATTERN, minLength: 1, maxLength: 64 });

/** The example alert of several schemas below, written once so they cannot drift apart. */
const OVERLOAD_EXAMPLE = {
  id: '5f0c2a8e-6a4b-4a43-9d0e-1b7c6c2d9e11',
  rule: 'overload',
  kind: 'power_above',
  subject: 'desk-3',
  severity: 'warning',
  state: 'raised',
  message: 'desk-3 draws 3712 W, above 3680 W',
  value: 3712,
  threshold: 3680,
  unit: 'W',
  raised_at: '2026-11-23T18:45:00.000Z',
};

export const AlertSchema = Type.Object(
  {
    id: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'Id of this occurrence; the same in its raised and resolved transition.',
    }),
    rule: Type.String({ ...AlertNameSchema, description: 'Name of the rule in the alert hook config.' }),
    kind: AlertKindSchema,
    subject: Type.String({
      ...AlertNameSchema,
      description: 'Device id, or the service name for health alerts. Also the last topic level.',
    }),
    severity: AlertSeveritySchema,
    state: AlertStateSchema,
    message: Type.String({ maxLength: 1000, description: 'One human sentence.' }),
    value: Type.Optional(Type.Number({ description: 'The observed value, in `unit`.' })),
    threshold: Type.Optional(Type.Number({ description: 'The threshold the value was compared to.' })),
    unit: Type.Optional(Type.String({ maxLength: 16, description: 'W, Wh, ms, or a health metric unit.' })),
    raised_at: TimestampSchema,
    resolved_at: Type.Optional(TimestampSchema),
    name: Type.Optional(Type.String({ maxLength: 200, description: 'Device name from its meta.' })),
    location: Type.Optional(Type.String({ maxLength: 256, description: 'Device location from its meta.' })),
  },
  {
    $id: 'Alert',
    additionalProperties: false,
    description:
      'An alert. Retained on `{base}/alerts/{rule}/{subject}` while active; the topic is cleared (empty retained payload) when it resolves.',
    examples: [
      {
        ...OVERLOAD_EXAMPLE,
        name: 'Desk 3, room 214',
        location: 'hq/floor-2/room-214/desk-3',
      },
      {
        id: '9a1d4c7b-2b1e-4f7e-8c52-3e2f7f0b6a01',
        rule: 'storage-backlog',
        kind: 'health',
        subject: 'storage-hook',
        severity: 'critical',
        state: 'resolved',
        message: 'storage-hook wal_depth is 12, back below 1000',
        value: 12,
        threshold: 1000,
        raised_at: '2026-11-23T18:40:00.000Z',
        resolved_at: '2026-11-23T18:45:00.000Z',
      },
    ],
  },
);
export type Alert = Static<typeof AlertSchema>;

/** The body of a webhook with the generic `json` template. `Idempotency-Key` header = `idempotency_key`. */
export const AlertNotificationSchema = Type.Object(
  {
    idempotency_key: Type.String({
      minLength: 1,
      description: '`{alert id}.{state}`: one per transition; a receiver drops repeats of a key it has seen.',
    }),
    event: AlertStateSchema,
    alert: AlertSchema,
  },
  {
    $id: 'AlertNotification',
    additionalProperties: false,
    examples: [
      {
        idempotency_key: '5f0c2a8e-6a4b-4a43-9d0e-1b7c6c2d9e11.raised',
        event: 'raised',
        alert: OVERLOAD_EXAMPLE,
      },
    ],
  },
);
export type AlertNotification = Static<typeof AlertNotificationSchema>;

/** One transition read back from InfluxDB (measurement `alerts`). */
export const AlertTransitionSchema = Type.Object(
  {
    ts: TimestampSchema,
    alert_id: Type.String(),
    rule: Type.String(),
    kind: Type.Optional(Type.String()),
    subject: Type.String(),
    severity: Type.String(),
    state: AlertStateSchema,
    message: Type.String(),
    value: Type.Optional(Type.Number()),
  },
  {
    $id: 'AlertTransition',
    additionalProperties: false,
    examples: [
      {
        ts: '2026-11-23T18:45:00.000Z',
        alert_id: '5f0c2a8e-6a4b-4a43-9d0e-1b7c6c2d9e11',
        rule: 'overload',
        kind: 'power_above',
        subject: 'desk-3',
        severity: 'warning',
        state: 'raised',
        message: 'desk-3 draws 3712 W, above 3680 W',
        value: 3712,
      },
    ],
  },
);
export type AlertTransition = Static<typeof AlertTransitionSchema>;

/** Params of `{base}/alerts/req/list`. */
export const AlertListParamsSchema = Type.Object(
  {
    active: Type.Optional(
      Type.Boolean({
        description:
          'true: only the active alerts; false: only the history. Default: active alerts, plus the history when from/to is given.',
      }),
    ),
    from: Type.Optional(storableDateTime({ description: 'History from (default to − 24 h).' })),
    to: Type.Optional(storableDateTime({ description: 'History until (default now).' })),
    rule: Type.Optional(AlertNameSchema),
    subject: Type.Optional(AlertNameSchema),
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10_000,
        description: 'Most recent transitions first; default 1000.',
      }),
    ),
  },
  {
    $id: 'AlertListParams',
    additionalProperties: false,
    examples: [{}, { active: true }, { from: '2026-11-23T00:00:00.000Z', to: '2026-11-24T00:00:00.000Z' }],
  },
);
export type AlertListParams = Static<typeof AlertListParamsSchema>;

export const AlertListResultSchema = Type.Object(
  {
    active: Type.Optional(Type.Array(AlertSchema, { description: 'Active alerts, oldest first.' })),
    history: Type.Optional(
      Type.Array(AlertTransitionSchema, { description: 'Transitions in the range, newest first.' }),
    ),
    from: Type.Optional(TimestampSchema),
    to: Type.Optional(TimestampSchema),
  },
  {
    $id: 'AlertListResult',
    additionalProperties: false,
    examples: [
      {
        active: [OVERLOAD_EXAMPLE],
      },
    ],
  },
);
export type AlertListResult = Static<typeof AlertListResultSchema>;

/**
 * Health of a service, retained on `{base}/health/{service}` and republished when it changes
 * (and at least every minute). The alert hook's `health` rules read `checks` and `metrics`.
 */
export const ServiceHealthSchema = Type.Object(
  {
    service: Type.String({ ...AlertNameSchema, description: 'Service name; also the last topic level.' }),
    ts: TimestampSchema,
    ready: Type.Boolean({ description: 'true when every check is ok.' }),
    checks: Type.Record(
      Type.String({ pattern: '^[a-z0-9_]+$', maxLength: 64 }),
      Type.Object(
        {
          ok: Type.Boolean(),
          detail: Type.Optional(Type.String({ maxLength: 1000 })),
          since: Type.Optional(TimestampSchema),
        },
        { additionalProperties: false },
      ),
      { description: 'Named checks, e.g. `broker`, `influx` (false while InfluxDB is unreachable).' },
    ),
    metrics: Type.Record(Type.String({ pattern: '^[a-z0-9_]+$', maxLength: 64 }), Type.Number(), {
      description:
        'Named numbers with units in their names, e.g. `wal_depth`, `wal_bytes`, `dead_lettered`, `write_errors`.',
    }),
  },
  {
    $id: 'ServiceHealth',
    additionalProperties: false,
    examples: [
      {
        service: 'storage-hook',
        ts: '2026-11-23T18:45:00.000Z',
        ready: false,
        checks: {
          broker: { ok: true, since: '2026-11-23T18:00:00.000Z' },
          influx: {
            ok: false,
            detail: 'connect ECONNREFUSED 127.0.0.1:8086',
            since: '2026-11-23T18:44:10.000Z',
          },
        },
        metrics: { wal_depth: 1532, wal_bytes: 402311, dead_lettered: 3 },
      },
    ],
  },
);
export type ServiceHealth = Static<typeof ServiceHealthSchema>;

export function isAlertName(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 64 && alertNameRegex.test(value);
}

/** Topics of the alert hook and of service health, next to `Topics` (same base topic rules). */
export class AlertTopics {
  readonly base: string;

  constructor(base: string = DEFAULT_BASE_TOPIC) {
    this.base = assertBaseTopic(base);
  }

  /** Retained while the alert is active: `{base}/alerts/{rule}/{subject}`. */
  alert(rule: string, subject: string): string {
    return `${this.base}/alerts/${assertRule(rule)}/${assertName(subject, 'alert subject')}`;
  }

  /** Every active alert of one rule. (`{base}/alerts/+/+` would also match the request topic.) */
  rule(rule: string): string {
    return `${this.base}/alerts/${assertRule(rule)}/+`;
  }

  /** Request topic served by the alert hook, e.g. `{base}/alerts/req/list`. */
  request(method: string): string {
    return `${this.base}/alerts/req/${assertSegment(method, 'method')}`;
  }

  /** Splits `{base}/alerts/{rule}/{subject}`; null for anything else (including requests). */
  parseAlert(topic: string): { rule: string; subject: string } | null {
    const prefix = `${this.base}/alerts/`;
    if (!topic.startsWith(prefix)) return null;
    const [rule, subject, ...rest] = topic.slice(prefix.length).split('/');
    if (rest.length > 0 || !isAlertName(rule) || !isAlertName(subject)) return null;
    if ((RESERVED_RULE_NAMES as readonly string[]).includes(rule)) return null;
    return { rule, subject };
  }

  /** Retained ServiceHealth of one service. */
  health(service: string): string {
    return `${this.base}/health/${assertName(service, 'service name')}`;
  }

  allHealth(): string {
    return `${this.base}/health/+`;
  }

  allDeadLetters(): string {
    return `${this.base}/deadletter/+`;
  }

  /** The service named by `{base}/health/{service}` or `{base}/deadletter/{service}`. */
  serviceOf(topic: string): string | null {
    for (const kind of ['health', 'deadletter']) {
      const prefix = `${this.base}/${kind}/`;
      if (topic.startsWith(prefix)) {
        const service = topic.slice(prefix.length);
        return isAlertName(service) ? service : null;
      }
    }
    return null;
  }
}

function assertName(value: string, what: string): string {
  assertSegment(value, what);
  if (!isAlertName(value)) {
    throw new TopicError(`${what} ${JSON.stringify(value)} must match [a-z0-9][a-z0-9_-]* (at most 64)`);
  }
  return value;
}

function assertRule(rule: string): string {
  assertName(rule, 'rule name');
  if ((RESERVED_RULE_NAMES as readonly string[]).includes(rule)) {
    throw new TopicError(`rule name ${JSON.stringify(rule)} is reserved`);
  }
  return rule;
}
