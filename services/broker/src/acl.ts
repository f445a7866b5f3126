/**
 * Topic access rules. A rule is an MQTT topic filter; `{username}` in it stands for the name the
 * client logged in with, so one rule can confine every device agent to its own subtree, and
 * `{clientid}` for its MQTT client id (mosquitto's `%c`), so a requester reads only its own replies.
 */

export const USERNAME_PLACEHOLDER = '{username}';
export const CLIENT_ID_PLACEHOLDER = '{clientid}';

const SHARED_SUBSCRIPTION_PREFIX = '$share/';

export interface TopicRules {
  publish: readonly string[];
  subscribe: readonly string[];
}

/** A topic a client may publish to: not empty, no wildcards, no NUL. */
export function isValidTopicName(topic: string): boolean {
  return topic.length > 0 && !/[+#]/.test(topic) && !topic.includes('\u0000');
}

/** A topic filter per MQTT 3.1.1 §4.7: `+` fills a whole level, `#` only the whole last level. */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0 || filter.includes('\u0000')) {
    return false;
  }
  const levels = filter.split('/');
  return levels.every((level, index) => {
    if (level === '#') {
      return index === levels.length - 1;
    }
    return level === '+' || !/[+#]/.test(level);
  });
}

/**
 * True when every topic that `filter` matches is also matched by `pattern`, so a client allowed
 * `pattern` may subscribe to `filter`. A topic name is a filter matching only itself, so this also
 * answers whether `pattern` allows publishing to a topic. Invalid input never covers anything.
 */
export function covers(pattern: string, filter: string): boolean {
  if (!isValidTopicFilter(pattern) || !isValidTopicFilter(filter)) {
    return false;
  }
  const patternLevels = pattern.split('/');
  const filterLevels = filter.split('/');
  // A wildcard first level does not match topics beginning with `$` [MQTT-4.7.2-1],
  // so `#` does not grant `$SYS/...`; such topics must be allowed by name.
  const firstPatternLevel = patternLevels[0];
  if (filter.startsWith('$') && (firstPatternLevel === '+' || firstPatternLevel === '#')) {
    return false;
  }
  for (const [index, patternLevel] of patternLevels.entries()) {
    if (patternLevel === '#') {
      // `a/#` also matches `a` itself, so it covers whatever is left, even nothing.
      return true;
    }
    const filterLevel = filterLevels[index];
    if (filterLevel === undefined || filterLevel === '#') {
      return false;
    }
    if (patternLevel === '+') {
      continue;
    }
    if (filterLevel !== patternLevel) {
      // Also rejects a `+` in the filter against a literal level in the pattern.
      return false;
    }
  }
  return filterLevels.length === patternLevels.length;
}

/**
 * The filter a subscription actually reads: `$share/<group>/<filter>` reads `<filter>`.
 * Undefined for a malformed shared subscription.
 */
export function subscribedFilter(filter: string): string | undefined {
  if (!filter.startsWith(SHARED_SUBSCRIPTION_PREFIX)) {
    return filter;
  }
  const rest = filter.slice(SHARED_SUBSCRIPTION_PREFIX.length);
  const separator = rest.indexOf('/');
  const group = rest.slice(0, separator);
  if (separator <= 0 || /[+#]/.test(group)) {
    return undefined;
  }
  return rest.slice(separator + 1);
}

/**
 * Replaces `{username}` and `{clientid}`. Without the value, or with one that is not a single
 * topic level (a `/`, `+` or `#` in it would widen the rule), a rule naming it is dropped.
 */
export function expandRules(
  rules: readonly string[],
  username: string | undefined,
  clientId?: string,
): string[] {
  return rules.flatMap((rule) => {
    let expanded = rule;
    for (const [placeholder, value] of [
      [USERNAME_PLACEHOLDER, username],
      [CLIENT_ID_PLACEHOLDER, clientId],
    ] as const) {
      if (!expanded.includes(placeholder)) continue;
      if (value === undefined || !isTopicLevel(value)) return [];
      expanded = expanded.replaceAll(placeholder, value);
    }
    return [expanded];
  });
}

function isTopicLevel(value: string): boolean {
  return value.length > 0 && !/[/+#]/.test(value) && !value.includes('\u0000');
}

/** What one logged-in client may do; built once per connection. */
export class TopicPermissions {
  readonly #publish: readonly string[];
  readonly #subscribe: readonly string[];

  constructor(rules: TopicRules, username?: string, clientId?: string) {
    this.#publish = expandRules(rules.publish, username, clientId);
    this.#subscribe = expandRules(rules.subscribe, username, clientId);
  }

  canPublish(topic: string): boolean {
    // `$` topics belong to the broker [MQTT-4.7.2]; a rule cannot hand them out.
    if (!isValidTopicName(topic) || topic.startsWith('$')) {
      return false;
    }
    return this.#publish.some((pattern) => covers(pattern, topic));
  }

  canSubscribe(filter: string): boolean {
    const readFilter = subscribedFilter(filter);
    if (readFilter === undefined) {
      return false;
    }
    return this.#subscribe.some((pattern) => covers(pattern, readFilter));
  }
}
