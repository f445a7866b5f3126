import { Type, type Static } from '@sinclair/typebox';
import { MqttConnectionSchema } from '@wattbus/bus';
import {
  ALERT_KINDS,
  ALERT_NAME_PATTERN,
  ALERT_SEVERITIES,
  DEVICE_ID_MAX_LENGTH,
  DEVICE_ID_PATTERN,
  RESERVED_RULE_NAMES,
} from '@wattbus/contracts';
import { InfluxConnectionSchema } from '@wattbus/influx';
import { adminSchema, ConfigError, loadConfig, parseConfig } from '@wattbus/runtime';

/**
 * Alert hook configuration. Durations are integers in milliseconds with `_ms` names, like every
 * other WattBus config. The schema checks types and ranges; `checkRules` then checks what a
 * JSON Schema cannot say clearly (which keys each kind needs, a real time zone).
 */

const Name = Type.String({ pattern: ALERT_NAME_PATTERN, maxLength: 64 });
const DeviceId = Type.String({ pattern: DEVICE_ID_PATTERN, maxLength: DEVICE_ID_MAX_LENGTH });

export const RuleSchema = Type.Object(
  {
    name: Type.String({
      ...Name,
      description: 'Unique; names the alert topic `{base}/alerts/{name}/{subject}`.',
    }),
    kind: Type.Union(
      ALERT_KINDS.map((kind) => Type.Literal(kind)),
      { description: ALERT_KINDS.join(' | ') },
    ),
    severity: Type.Union(
      ALERT_SEVERITIES.map((severity) => Type.Literal(severity)),
      { default: 'warning', description: 'How severe the alert is; webhooks and e-mails filter on it.' },
    ),
    for_ms: Type.Integer({
      minimum: 0,
      default: 60_000,
      description: 'The condition must hold this long before the alert is raised.',
    }),
    devices: Type.Optional(
      Type.Array(DeviceId, {
        description: 'Device ids this rule watches (with device_kinds: either matches).',
      }),
    ),
    device_kinds: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        description: 'DeviceMeta kinds this rule watches, e.g. appliance, meter.',
      }),
    ),
    // offline
    silent_polls: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'offline: no reading for this many poll intervals counts as offline.',
      }),
    ),
    // power_above, power_below
    threshold_w: Type.Optional(
      Type.Number({
        minimum: 0,
        description: 'power_above: default the plug rating by model; power_below: required.',
      }),
    ),
    hysteresis_w: Type.Optional(
      Type.Number({
        minimum: 0,
        description: 'How far back across the threshold before the alert resolves.',
      }),
    ),
    expect: Type.Optional(
      Type.Union([Type.Literal('always'), Type.Literal('when_on')], {
        description: 'power_below: when power is expected (when_on: only while the relay is on).',
      }),
    ),
    // energy_budget
    budget_wh: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'energy_budget: Wh per local day.' }),
    ),
    // health
    services: Type.Optional(
      Type.Array(Name, { description: 'health: services this rule watches (default all).' }),
    ),
    check: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9_]+$',
        description: 'health: raised while this named check is not ok.',
      }),
    ),
    metric: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9_]+$',
        description: 'health: a ServiceHealth metric, or `dead_letters` (counted by the hook per window_ms).',
      }),
    ),
    above: Type.Optional(
      Type.Number({ minimum: 0, description: 'health: raised while the metric is above this.' }),
    ),
    hysteresis: Type.Optional(Type.Number({ minimum: 0, description: 'health: metric hysteresis.' })),
    stale_after_ms: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'health: raised while the service has not published its health for this long.',
      }),
    ),
    window_ms: Type.Optional(
      Type.Integer({ minimum: 1, description: 'health, metric dead_letters: counting window.' }),
    ),
  },
  { additionalProperties: false },
);
export type Rule = Static<typeof RuleSchema>;

export const WebhookSchema = Type.Object(
  {
    name: Type.String({
      ...Name,
      description: 'Unique among webhooks and e-mails; names its queue in the outbox.',
    }),
    url: Type.String({ pattern: '^https?://', description: 'Where the POST goes (http or https).' }),
    template: Type.Union(
      [Type.Literal('json'), Type.Literal('slack'), Type.Literal('matrix'), Type.Literal('ntfy')],
      {
        default: 'json',
        description: 'json: AlertNotification; slack/matrix: {text}; ntfy: ntfy JSON publish.',
      },
    ),
    ntfy_topic: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'Required with template ntfy: the topic (the POST goes to the server root URL).',
      }),
    ),
    headers: Type.Record(Type.String(), Type.String(), {
      default: {},
      description: 'Extra headers, e.g. authorization.',
    }),
    min_severity: Type.Union(
      ALERT_SEVERITIES.map((severity) => Type.Literal(severity)),
      { default: 'info', description: 'Only alerts at least this severe.' },
    ),
    timeout_ms: Type.Integer({ minimum: 100, default: 10_000, description: 'Per attempt.' }),
  },
  { additionalProperties: false },
);
export type Webhook = Static<typeof WebhookSchema>;

export const EmailSchema = Type.Object(
  {
    name: Type.String({
      ...Name,
      description: 'Unique among webhooks and e-mails; names its queue in the outbox.',
    }),
    smtp: Type.Object(
      {
        host: Type.String({ minLength: 1, description: 'SMTP server.' }),
        port: Type.Integer({ minimum: 1, maximum: 65535, default: 587, description: 'SMTP port.' }),
        secure: Type.Boolean({
          default: false,
          description: 'TLS from the start (port 465); else STARTTLS when offered.',
        }),
        username: Type.Optional(Type.String({ description: 'SMTP AUTH user.' })),
        password: Type.Optional(Type.String({ description: 'SMTP AUTH password.' })),
      },
      { additionalProperties: false },
    ),
    from: Type.String({ minLength: 3, description: 'Sender, e.g. "WattBus <alerts@example.org>".' }),
    to: Type.Array(Type.String({ minLength: 3 }), { minItems: 1, description: 'Recipients.' }),
    min_severity: Type.Union(
      ALERT_SEVERITIES.map((severity) => Type.Literal(severity)),
      { default: 'warning', description: 'Only alerts at least this severe.' },
    ),
    timeout_ms: Type.Integer({
      minimum: 100,
      default: 30_000,
      description: 'Connection, greeting and socket timeouts.',
    }),
  },
  { additionalProperties: false },
);
export type Email = Static<typeof EmailSchema>;

export const AlertHookConfigSchema = Type.Object(
  {
    mqtt: MqttConnectionSchema,
    influx: InfluxConnectionSchema,
    data_dir: Type.String({
      minLength: 1,
      default: './data/alert-hook',
      description: 'Outbox of undelivered notifications and daily energy counters.',
    }),
    time_zone: Type.String({
      minLength: 1,
      default: 'UTC',
      description: 'IANA zone of the local day for energy_budget.',
    }),
    tick_ms: Type.Integer({
      minimum: 10,
      default: 1000,
      description: 'How often time-based conditions are checked.',
    }),
    unknown_device_warn_ms: Type.Integer({
      minimum: 0,
      default: 60_000,
      description: 'Warn about rule devices never seen on the bus this long after start.',
    }),
    ratings_w: Type.Record(Type.String({ minLength: 1 }), Type.Number({ exclusiveMinimum: 0 }), {
      // HS110: 16 A at 230 V. Matched as a prefix of DeviceMeta.model, e.g. HS110(EU).
      default: { HS110: 3680 },
      description: 'power_above without threshold_w: the rating of the model (prefix of DeviceMeta.model).',
    }),
    retry: Type.Object(
      {
        min_ms: Type.Integer({
          minimum: 1,
          default: 1000,
          description: 'Shortest wait before a failed webhook, e-mail or InfluxDB delivery is tried again.',
        }),
        max_ms: Type.Integer({
          minimum: 1,
          default: 300_000,
          description: 'Longest such wait (exponential backoff with jitter in between).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    health_interval_ms: Type.Integer({
      minimum: 0,
      default: 30_000,
      description: 'How often the hook publishes its own ServiceHealth; 0 disables it.',
    }),
    rules: Type.Array(RuleSchema, { default: [], description: 'Alert rules (see Rules below).' }),
    webhooks: Type.Array(WebhookSchema, {
      default: [],
      description: 'HTTP endpoints notified of every transition (see Webhooks below).',
    }),
    emails: Type.Array(EmailSchema, { default: [], description: 'E-mail over SMTP (nodemailer).' }),
    admin: adminSchema(9475),
  },
  { additionalProperties: false },
);
export type AlertHookConfig = Static<typeof AlertHookConfigSchema>;

export const ENV_PREFIX = 'WATTBUS_ALERTS_';

/** Reads file + WATTBUS_ALERTS_* environment, validates, and checks the rules. */
export function loadAlertHookConfig(
  options: { file?: string; env?: NodeJS.ProcessEnv } = {},
): AlertHookConfig {
  const config = loadConfig({
    schema: AlertHookConfigSchema,
    file: options.file,
    env: options.env ?? process.env,
    envPrefix: ENV_PREFIX,
  });
  checkConfig(config, options.file);
  return config;
}

/** Validates an in-memory config (tests, embedding) like a file: defaults filled, then the rule checks. */
export function parseAlertHookConfig(value: unknown): AlertHookConfig {
  const config = parseConfig(
    AlertHookConfigSchema,
    (value ?? {}) as Record<string, unknown>,
    'the alert hook',
  );
  checkConfig(config);
  return config;
}

const KIND_KEYS: Record<Rule['kind'], readonly (keyof Rule)[]> = {
  offline: ['silent_polls'],
  power_above: ['threshold_w', 'hysteresis_w'],
  power_below: ['threshold_w', 'hysteresis_w', 'expect'],
  energy_budget: ['budget_wh'],
  health: ['services', 'check', 'metric', 'above', 'hysteresis', 'window_ms', 'stale_after_ms'],
};
const DEVICE_KEYS: readonly (keyof Rule)[] = ['devices', 'device_kinds'];
const COMMON_KEYS: readonly (keyof Rule)[] = ['name', 'kind', 'severity', 'for_ms'];

/** Per-kind checks; throws one ConfigError listing every problem, each naming the rule. */
export function checkConfig(config: AlertHookConfig, file?: string): void {
  const problems: string[] = [];
  const names = new Set<string>();
  config.rules.forEach((rule, index) => {
    const at = `/rules/${index} (${rule.name})`;
    if (names.has(rule.name)) problems.push(`${at}: duplicate rule name`);
    names.add(rule.name);
    if ((RESERVED_RULE_NAMES as readonly string[]).includes(rule.name)) {
      problems.push(`${at}: the name '${rule.name}' is reserved (request topic)`);
    }
    const allowed = new Set<keyof Rule>([
      ...COMMON_KEYS,
      ...KIND_KEYS[rule.kind],
      ...(rule.kind === 'health' ? [] : DEVICE_KEYS),
    ]);
    for (const key of Object.keys(rule) as (keyof Rule)[]) {
      if (!allowed.has(key)) problems.push(`${at}/${key}: not used by kind ${rule.kind}`);
    }
    if (rule.kind === 'power_below' && rule.threshold_w === undefined) {
      problems.push(`${at}/threshold_w: is required for kind power_below`);
    }
    if (rule.kind === 'energy_budget' && rule.budget_wh === undefined) {
      problems.push(`${at}/budget_wh: is required for kind energy_budget`);
    }
    if (rule.kind === 'health') {
      const modes = [rule.check, rule.metric, rule.stale_after_ms].filter((mode) => mode !== undefined);
      if (modes.length !== 1) {
        problems.push(`${at}: kind health needs exactly one of check, metric or stale_after_ms`);
      }
      if (rule.metric !== undefined && rule.above === undefined) {
        problems.push(`${at}/above: is required with metric`);
      }
      if (rule.check !== undefined && (rule.above !== undefined || rule.hysteresis !== undefined)) {
        problems.push(`${at}: above/hysteresis apply to metric, not check`);
      }
      if (rule.window_ms !== undefined && rule.metric !== 'dead_letters') {
        problems.push(`${at}/window_ms: only applies to metric dead_letters`);
      }
    }
    if (rule.devices?.length === 0)
      problems.push(`${at}/devices: must not be empty (omit it for every device)`);
  });
  const webhooks = new Set<string>();
  config.webhooks.forEach((webhook, index) => {
    const at = `/webhooks/${index} (${webhook.name})`;
    if (webhooks.has(webhook.name) || webhook.name === 'influx')
      problems.push(`${at}: duplicate or reserved name`);
    webhooks.add(webhook.name);
    if (webhook.template === 'ntfy' && webhook.ntfy_topic === undefined) {
      problems.push(`${at}/ntfy_topic: is required for template ntfy`);
    }
    try {
      new URL(webhook.url);
    } catch {
      problems.push(`${at}/url: not a valid URL`);
    }
  });
  config.emails.forEach((email, index) => {
    if (webhooks.has(email.name) || email.name === 'influx') {
      problems.push(`/emails/${index} (${email.name}): name already used by another webhook or e-mail`);
    }
    webhooks.add(email.name);
  });
  if (!isTimeZone(config.time_zone))
    problems.push(`/time_zone: unknown IANA time zone '${config.time_zone}'`);
  if (config.retry.max_ms < config.retry.min_ms) problems.push('/retry/max_ms: must be >= retry.min_ms');
  if (problems.length > 0) {
    const where = file ? ` in ${file}` : '';
    throw new ConfigError(`invalid alert hook configuration${where}:\n  ${problems.join('\n  ')}`);
  }
}

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-CA', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
