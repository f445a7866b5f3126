/**
 * A device id (`[a-z0-9][a-z0-9_-]*`, at most 64 characters) made from a name a device gave
 * itself (a plug's alias, a foreign MQTT id), for discovery's proposed registry entries; empty
 * when nothing usable is left.
 */
export function idFromName(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
}
