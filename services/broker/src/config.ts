import { Type, type Static } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { adminSchema, ConfigError, loadConfig } from '@wattbus/runtime';
import { CLIENT_ID_PLACEHOLDER, isValidTopicFilter, USERNAME_PLACEHOLDER } from './acl.js';
import { PASSWORD_HASH_PATTERN, parsePasswordHash, PasswordHashFormatError } from './passwords.js';

/**
 * Usernames are substituted into topic rules, so they must never carry `/`, `+` or `#`:
 * a user called `#` would otherwise be granted every topic.
 */
export const USERNAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]*$';

const TopicRulesSchema = Type.Array(Type.String({ minLength: 1 }), {
  default: [],
  description: `MQTT topic filters; ${USERNAME_PLACEHOLDER} stands for the client's username, ${CLIENT_ID_PLACEHOLDER} for its MQTT client id.`,
});

export const BrokerUserSchema = Type.Object(
  {
    username: Type.String({ pattern: USERNAME_PATTERN, maxLength: 128, description: 'Login name.' }),
    password_hash: Type.String({
      pattern: PASSWORD_HASH_PATTERN,
      description: 'scrypt hash of the password, made with the hash-password command.',
      errorMessage: 'must be a scrypt hash scrypt$N$r$p$salt$hash (make one with the hash-password command)',
    }),
    publish: TopicRulesSchema,
    subscribe: TopicRulesSchema,
  },
  { additionalProperties: false },
);

export const AnonymousAccessSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: false,
      description: 'Whether a CONNECT without a username is accepted.',
    }),
    publish: TopicRulesSchema,
    subscribe: TopicRulesSchema,
  },
  { additionalProperties: false, default: { enabled: false, publish: [], subscribe: [] } },
);

const nullablePort = (description: string, errorMessage: string) =>
  Type.Optional(
    Type.Unsafe<number | null>({
      type: ['integer', 'null'],
      minimum: 0,
      maximum: 65535,
      errorMessage,
      description,
    }),
  );

export const BrokerTlsSchema = Type.Object(
  {
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 8883,
      description: 'MQTT over TLS (mqtts://); 0 lets the OS choose.',
    }),
    ws_port: nullablePort(
      'MQTT over secure WebSocket (wss://); 0 lets the OS choose; omitted or null disables it.',
      'must be a port number from 0 to 65535, or null to disable secure WebSocket',
    ),
    cert_file: Type.String({
      minLength: 1,
      description: "PEM file of the broker's certificate (its chain after it).",
    }),
    key_file: Type.String({ minLength: 1, description: "PEM file of the certificate's private key." }),
    ca_file: Type.Optional(
      Type.String({ minLength: 1, description: 'PEM file of the CA that signs client certificates.' }),
    ),
    client_certificates: Type.Union(
      [Type.Literal('none'), Type.Literal('optional'), Type.Literal('required')],
      {
        default: 'none',
        description:
          'none: clients log in with a password only; optional: a client certificate, if sent, must be signed by ca_file; required: every client must send one.',
      },
    ),
  },
  {
    additionalProperties: false,
    description: 'TLS listeners (MQTT on port, WebSocket on ws_port); unset: none.',
  },
);

export const BrokerConfigSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address both listeners bind to.' }),
    port: Type.Unsafe<number | null>({
      type: ['integer', 'null'],
      minimum: 0,
      maximum: 65535,
      default: 1883,
      description: 'MQTT over TCP; 0 lets the OS choose; null: none (with tls, TLS only).',
    }),
    // An integer type that also admits null, without anyOf's three-line error messages.
    ws_port: nullablePort(
      'MQTT over WebSocket; 0 lets the OS choose; omitted or null disables it.',
      'must be a port number from 0 to 65535, or null to disable WebSocket',
    ),
    tls: Type.Optional(BrokerTlsSchema),
    users: Type.Array(BrokerUserSchema, {
      default: [],
      description: 'Who may connect, and the topics each may publish and subscribe to.',
    }),
    anonymous: AnonymousAccessSchema,
    cluster: Type.Optional(
      Type.Object(
        {
          redis_url: Type.String({
            pattern: '^rediss?://[^/?#]+(/[0-9]+)?$',
            description:
              'Redis every node of the cluster shares (redis://[user:password@]host[:port][/db], rediss:// for TLS): messages between nodes, retained messages, sessions and wills live there.',
            errorMessage: 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0',
          }),
          node_id: Type.Optional(
            Type.String({
              pattern: '^[A-Za-z0-9_-]+$',
              maxLength: 64,
              description:
                "This node's id, unique in the cluster (random when unset); it names the node's $SYS topics.",
            }),
          ),
          heartbeat_interval_ms: Type.Integer({
            minimum: 1000,
            default: 60_000,
            description:
              'How often a node tells the others it is alive; when a node misses 3, the others publish the wills of its clients.',
          }),
          max_session_delivery: Type.Integer({
            minimum: 1,
            default: 100_000,
            description:
              'Most queued messages a persistent session gets when it reconnects (the rest on its next reconnect); aedes-persistence-redis defaults to 1000.',
          }),
        },
        {
          additionalProperties: false,
          description:
            'Run as one node of a clustered broker (aedes with mqemitter-redis and aedes-persistence-redis); unset: a single node keeping everything in memory.',
        },
      ),
    ),
    stats_interval_ms: Type.Integer({
      minimum: 0,
      default: 60000,
      description: 'How often metrics are logged and published; 0 disables it.',
    }),
    stop_timeout_ms: Type.Integer({
      minimum: 0,
      default: 5000,
      description: 'How long stop() lets clients close before cutting their connections.',
    }),
    base_topic: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "Topic prefix of the broker's own health record, {base}/health/broker (default wattbus).",
      }),
    ),
    admin: adminSchema(9477),
  },
  { additionalProperties: false },
);

/** Environment variables: `WATTBUS_BROKER_<KEY>` (e.g. `WATTBUS_BROKER_PORT`; users as JSON). */
export const ENV_PREFIX = 'WATTBUS_BROKER_';

export type BrokerConfig = Static<typeof BrokerConfigSchema>;
export type BrokerUser = Static<typeof BrokerUserSchema>;
export type AnonymousAccess = Static<typeof AnonymousAccessSchema>;

/** A config that does not validate; `issues` are `path: message` lines, e.g. `users/2/password_hash: …`. */
export class BrokerConfigError extends ConfigError {
  override name = 'BrokerConfigError';
  readonly issues: readonly string[];

  constructor(issues: readonly string[], source?: string) {
    super(`invalid broker config${source === undefined ? '' : ` in ${source}`}: ${issues.join('; ')}`);
    this.issues = issues;
  }
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, allowUnionTypes: true, verbose: true });
// An annotation only: it carries a friendlier message than "must match pattern ^scrypt…".
ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
const validateShape = ajv.compile<BrokerConfig>(BrokerConfigSchema);

/** Reads a YAML or JSON file and `WATTBUS_BROKER_*` variables through runtime's loader; checks them here. */
export function loadBrokerConfig(file?: string, env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  return loadConfig({
    schema: BrokerConfigSchema,
    file,
    env,
    envPrefix: ENV_PREFIX,
    parse: parseBrokerConfig,
  });
}

/**
 * Checks `value` (parsed YAML or JSON) and returns it with defaults filled in; the input is not
 * modified. `source` names the file in the error message.
 */
export function parseBrokerConfig(value: unknown, source?: string): BrokerConfig {
  const config = structuredClone(value ?? {});
  if (!validateShape(config)) {
    throw new BrokerConfigError((validateShape.errors ?? []).map(describeSchemaError), source);
  }
  const issues = findMeaningIssues(config);
  if (issues.length > 0) {
    throw new BrokerConfigError(issues, source);
  }
  return config;
}

function describeSchemaError(error: ErrorObject): string {
  const path = displayPath(error.instancePath);
  if (error.keyword === 'additionalProperties') {
    const key = (error.params as { additionalProperty: string }).additionalProperty;
    return `${path}: unknown key '${key}'`;
  }
  const custom = (error.parentSchema as { errorMessage?: unknown } | undefined)?.errorMessage;
  return `${path}: ${typeof custom === 'string' ? custom : (error.message ?? 'is invalid')}`;
}

/** What a schema cannot say: hash parameters, topic filter syntax, duplicate names. */
function findMeaningIssues(config: BrokerConfig): string[] {
  const issues: string[] = [];
  const firstIndexByName = new Map<string, number>();
  config.users.forEach((user, index) => {
    const firstIndex = firstIndexByName.get(user.username);
    if (firstIndex === undefined) {
      firstIndexByName.set(user.username, index);
    } else {
      issues.push(`users/${index}/username: '${user.username}' is already defined by users/${firstIndex}`);
    }
    try {
      parsePasswordHash(user.password_hash);
    } catch (error) {
      if (!(error instanceof PasswordHashFormatError)) {
        throw error;
      }
      issues.push(`users/${index}/password_hash: ${error.message}`);
    }
    issues.push(...findRuleIssues(`users/${index}`, user, true));
  });
  issues.push(...findRuleIssues('anonymous', config.anonymous, false));
  if (config.tls && config.tls.client_certificates !== 'none' && config.tls.ca_file === undefined) {
    issues.push(
      `tls/ca_file: client_certificates '${config.tls.client_certificates}' needs the CA that signs them`,
    );
  }
  if (config.port === null && !config.tls && config.ws_port == null) {
    issues.push('port: null leaves no listener (set tls or ws_port)');
  }
  return issues;
}

function findRuleIssues(
  path: string,
  rules: { publish: string[]; subscribe: string[] },
  hasUsername: boolean,
): string[] {
  const issues: string[] = [];
  for (const list of ['publish', 'subscribe'] as const) {
    rules[list].forEach((rule, index) => {
      const rulePath = `${path}/${list}/${index}`;
      if (!hasUsername && rule.includes(USERNAME_PLACEHOLDER)) {
        issues.push(`${rulePath}: ${USERNAME_PLACEHOLDER} cannot be used for anonymous clients`);
      } else if (!isValidTopicFilter(rule.replaceAll(USERNAME_PLACEHOLDER, 'user'))) {
        issues.push(`${rulePath}: '${rule}' is not a valid MQTT topic filter`);
      }
    });
  }
  return issues;
}

function displayPath(instancePath: string): string {
  return instancePath === '' ? '(root)' : instancePath.slice(1);
}
