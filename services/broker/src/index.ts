export { Broker, STATS_TOPIC, type BrokerDependencies, type BrokerPorts } from './broker.js';
export {
  AnonymousAccessSchema,
  BrokerConfigError,
  BrokerConfigSchema,
  BrokerUserSchema,
  ENV_PREFIX,
  loadBrokerConfig,
  parseBrokerConfig,
  USERNAME_PATTERN,
  type AnonymousAccess,
  type BrokerConfig,
  type BrokerUser,
} from './config.js';
export {
  covers,
  expandRules,
  isValidTopicFilter,
  isValidTopicName,
  subscribedFilter,
  TopicPermissions,
  USERNAME_PLACEHOLDER,
  type TopicRules,
} from './acl.js';
export {
  DEFAULT_SCRYPT_COST,
  hashPassword,
  PASSWORD_HASH_PATTERN,
  PasswordHashFormatError,
  parsePasswordHash,
  verifyPassword,
  type ScryptCost,
} from './passwords.js';
export type { BrokerMetrics } from './metrics.js';
