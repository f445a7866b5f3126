/** MQTT topic-filter matching (`+` one level, `#` the rest), and `$share/<group>/` handling. */

const SHARED_PREFIX = '$share/';

/** `$share/<group>/<filter>`: the filter through share group `group` (see Bus.verifyShareGroup). */
export function shareGroupFilter(group: string, filter: string): string {
  return `${SHARED_PREFIX}${group}/${filter}`;
}

/** The group of a `$share/<group>/…` filter, or undefined for a plain one. */
export function shareGroupOf(filter: string): string | undefined {
  if (!filter.startsWith(SHARED_PREFIX)) return undefined;
  const afterGroup = filter.indexOf('/', SHARED_PREFIX.length);
  return afterGroup === -1 ? undefined : filter.slice(SHARED_PREFIX.length, afterGroup);
}

/** The filter a message arrives under: `$share/g/a/+` delivers messages of `a/+`. */
export function unshared(filter: string): string {
  if (!filter.startsWith(SHARED_PREFIX)) return filter;
  const afterGroup = filter.indexOf('/', SHARED_PREFIX.length);
  return afterGroup === -1 ? filter : filter.slice(afterGroup + 1);
}

/**
 * A matcher for one filter: the filter is split once, the topic is walked without splitting
 * (this runs for every message on every subscription).
 */
export function compileFilter(filter: string): (topic: string) => boolean {
  const levels = filter.split('/');
  // Wildcards at the first level never match topics starting with $ (MQTT 4.7.2).
  const wildcardFirst = levels[0] === '+' || levels[0] === '#';
  return (topic) => {
    if (wildcardFirst && topic.startsWith('$')) return false;
    let start = 0;
    for (const level of levels) {
      if (level === '#') return true;
      if (start > topic.length) return false; // the topic has fewer levels
      let end = topic.indexOf('/', start);
      if (end === -1) end = topic.length;
      if (level !== '+' && (end - start !== level.length || !topic.startsWith(level, start))) return false;
      start = end + 1;
    }
    return start === topic.length + 1;
  };
}
