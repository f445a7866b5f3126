import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { stringify } from 'yaml';
import { idFromName } from '@wattbus/devices';
import { ForeignBroker, type ForeignConnection } from './foreign.js';
import { mapMessage } from './mapping.js';
import { builtinMqttProfiles, fillTopic, loadMqttProfile } from './profiles.js';
import { describe } from './values.js';

/** One topic as seen while listening. */
export interface SeenTopic {
  topic: string;
  messages: number;
  /** The last payload (cut at `maxPayloadBytes`). */
  payload: Buffer;
  retained: boolean;
}

/** A device a built-in profile recognised: one of its reading topics carried a power value. */
export interface Proposal {
  profile: string;
  foreignId: string;
  /** The topic that showed it, and the power it carried. */
  topic: string;
  power_w: number;
}

export interface DiscoveryOptions {
  connection: ForeignConnection;
  seconds: number;
  clientId: string;
  logger: Logger;
  /** At most this many distinct topics are kept (a busy broker has many). Default 10 000. */
  maxTopics?: number;
  maxPayloadBytes?: number;
}

/** Listens to everything (`#`) on the broker for `seconds`, then returns what was published. */
export async function listen(options: DiscoveryOptions): Promise<Map<string, SeenTopic>> {
  const maxTopics = options.maxTopics ?? 10_000;
  const maxPayloadBytes = options.maxPayloadBytes ?? 64 * 1024;
  const seen = new Map<string, SeenTopic>();
  const broker = await ForeignBroker.connect(options.connection, options.clientId, options.logger);
  try {
    await broker.subscribe('#', (payload, context) => {
      const known = seen.get(context.topic);
      if (!known && seen.size >= maxTopics) return;
      seen.set(context.topic, {
        topic: context.topic,
        messages: (known?.messages ?? 0) + 1,
        payload: payload.subarray(0, maxPayloadBytes),
        retained: context.packet.retain,
      });
    });
    await sleep(options.seconds * 1000);
  } finally {
    await broker.stop();
  }
  return seen;
}

/**
 * Tries every built-in profile's reading topics on every topic seen: `{id}` may be any text
 * (Zigbee2MQTT names have slashes), variables take their defaults. A match whose payload maps to
 * a power value is a proposal; anything else is only listed.
 */
export async function propose(seen: ReadonlyMap<string, SeenTopic>): Promise<Proposal[]> {
  const proposals = new Map<string, Proposal>();
  for (const name of builtinMqttProfiles().keys()) {
    const profile = loadMqttProfile(name);
    for (const rule of profile.messages.filter((candidate) => candidate.reading.length > 0)) {
      const pattern = topicPattern(fillTopic(rule.topic, profile.variables));
      for (const entry of seen.values()) {
        const foreignId = pattern.exec(entry.topic)?.[1];
        if (foreignId === undefined || proposals.has(`${name}\u0000${foreignId}`)) continue;
        const mapped = await mapMessage(rule, entry.payload, { ...profile.variables, id: foreignId }).catch(
          () => undefined,
        );
        if (mapped?.values.power_w === undefined) continue;
        proposals.set(`${name}\u0000${foreignId}`, {
          profile: name,
          foreignId,
          topic: entry.topic,
          power_w: mapped.values.power_w,
        });
      }
    }
  }
  return [...proposals.values()].sort(
    (a, b) => a.profile.localeCompare(b.profile) || a.foreignId.localeCompare(b.foreignId),
  );
}

/** `tele/{id}/SENSOR` → /^tele\/(.+)\/SENSOR$/ */
function topicPattern(template: string): RegExp {
  const [before, after] = template.split('{id}');
  return new RegExp(`^${escape(before ?? '')}(.+)${escape(after ?? '')}$`);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** What was published (as comments) and the proposed registry entries, ready to edit and paste. */
export function discoveryReport(
  seen: ReadonlyMap<string, SeenTopic>,
  proposals: readonly Proposal[],
  heading: string,
): string {
  const lines = [`# ${heading}: ${seen.size} topic(s) published, ${proposals.length} device(s) recognised.`];
  lines.push('# messages  retained  topic  last payload');
  for (const entry of [...seen.values()].sort((a, b) => a.topic.localeCompare(b.topic))) {
    const text = entry.payload.toString('utf8').replace(/\s+/g, ' ');
    lines.push(
      `#   ${String(entry.messages).padStart(6)}  ${entry.retained ? 'yes' : 'no '}  ${entry.topic}  ${describe(text)}`,
    );
  }
  const used = new Set<string>();
  const devices = proposals.map((proposal) => {
    const base = idFromName(proposal.foreignId) || proposal.profile;
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}-${n}`.slice(0, 64);
    used.add(id);
    return {
      id,
      name: `${proposal.foreignId} (${proposal.profile})`,
      type: 'mqtt',
      location: 'unassigned',
      kind: 'appliance',
      connection: { profile: proposal.profile, id: proposal.foreignId },
    };
  });
  if (devices.length > 0) {
    lines.push("# Edit location and kind, then use these as (or paste them under) 'devices:'.");
    return `${lines.join('\n')}\n${stringify({ devices })}`;
  }
  return `${lines.join('\n')}\n`;
}
