import { Type } from '@sinclair/typebox';
import { ReadingSchema, validator, type Availability, type DeadLetter } from '@wattbus/contracts';
import type { ReadingValues } from '@wattbus/devices';
import type { CompiledExpression, MessageRule } from './profiles.js';
import { ValueError, toAvailability, toFieldUnit, toSwitch } from './values.js';

/** What one foreign message says about its device; any part may be absent. */
export interface MappedMessage {
  values: Partial<ReadingValues>;
  on?: boolean;
  availability?: Availability;
}

/** Why a foreign message does not map; becomes its dead letter. */
export class MappingError extends Error {
  readonly reason: DeadLetter['reason'];

  constructor(reason: DeadLetter['reason'], message: string) {
    super(message);
    this.name = 'MappingError';
    this.reason = reason;
  }
}

/** The reading's own bounds (voltage ≥ 0, power factor −1…1, …) on the fields one message gives. */
const checkValues = validator(
  Type.Partial(Type.Omit(ReadingSchema, ['ts', 'device', 'type', 'location', 'phase']), {
    additionalProperties: false,
  }),
);

/** The payload as its rule reads it: JSON (must parse), text, or JSON when it parses (auto). */
export function parsePayload(rule: MessageRule, payload: Buffer): unknown {
  const text = payload.toString('utf8');
  if (rule.payload === 'text') return text;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    if (rule.payload === 'auto') return text;
    throw new MappingError('unparsable', `not JSON: ${(error as Error).message}`);
  }
}

/**
 * Maps one foreign message by its rule. Throws MappingError when the payload is not what the
 * rule reads, when a value it finds is not a number/state/availability, when values break the
 * reading's bounds, or when the message carries nothing the rule maps. Never half-maps: a
 * message with one bad field is refused whole.
 */
export async function mapMessage(
  rule: MessageRule,
  payload: Buffer,
  bindings: Record<string, unknown>,
): Promise<MappedMessage> {
  const input = parsePayload(rule, payload);
  const result: MappedMessage = { values: {} };
  const absent: string[] = [];
  for (const field of rule.reading) {
    const value = await evaluate(field.value, input, bindings, field.field);
    if (value === undefined) absent.push(`${field.field} (${field.value.source})`);
    else result.values[field.field] = convert(field.field, () => toFieldUnit(field.field, value, field.unit));
  }
  if (rule.state) {
    const { on, off } = rule.state;
    const value = await evaluate(rule.state.value, input, bindings, 'state');
    if (value === undefined) absent.push(`state (${rule.state.value.source})`);
    else result.on = convert('state', () => toSwitch(value, lower(on), lower(off)));
  }
  if (rule.availability) {
    const { online, offline } = rule.availability;
    const value = await evaluate(rule.availability.value, input, bindings, 'availability');
    if (value === undefined) absent.push(`availability (${rule.availability.value.source})`);
    else
      result.availability = convert('availability', () =>
        toAvailability(value, lower(online), lower(offline)),
      );
  }
  if (
    Object.keys(result.values).length === 0 &&
    result.on === undefined &&
    result.availability === undefined
  ) {
    throw new MappingError('schema', `nothing to map: ${absent.join(', ')} absent`);
  }
  if (!checkValues(result.values)) {
    throw new MappingError('schema', `values out of bounds: ${checkValues.errorText()}`);
  }
  return result;
}

/** undefined for absent, null or empty results (Zigbee2MQTT sends null for values it does not know). */
async function evaluate(
  expression: CompiledExpression,
  input: unknown,
  bindings: Record<string, unknown>,
  what: string,
): Promise<unknown> {
  let value: unknown;
  try {
    value = await expression.evaluate(input, bindings);
  } catch (error) {
    throw new MappingError('schema', `${what} (${expression.source}): ${(error as Error).message}`);
  }
  if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) return undefined;
  return value;
}

function convert<T>(what: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof ValueError) throw new MappingError('schema', `${what}: ${error.message}`);
    throw error;
  }
}

function lower(words: string[] | undefined): string[] | undefined {
  return words?.map((word) => word.toLowerCase());
}
