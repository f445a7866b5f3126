/** MQTT topic-filter matching (`+` one level, `#` the rest), and `$share/<group>/` handling. */

const SHARED_PREFIX = '$share/';

/** The filter a message arrives under: `$share/g/a/+` delivers messages of `a/+`. */
export function unshared(filter: string): string {
  if (!filter.startsWith(SHARED_PREFIX)) return filter;
  const afterGroup = filter.indexOf('/', SHARED_PREFIX.length);
  return afterGroup === -1 ? filter : filter.slice(afterGroup + 1);
}

export function topicMatches(filter: string, topic: string): boolean {
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  // Wildcards at the first level never match topics starting with $ (MQTT 4.7.2).
  if (topic.startsWith('$') && (filterLevels[0] === '+' || filterLevels[0] === '#')) return false;
  for (let index = 0; index < filterLevels.length; index++) {
    const level = filterLevels[index];
    if (level === '#') return true;
    if (index >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[index]) return false;
  }
  return filterLevels.length === topicLevels.length;
}
