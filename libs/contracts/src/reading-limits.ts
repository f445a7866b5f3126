import { Type, type Static } from '@sinclair/typebox';

/**
 * What a device can physically report. The schema accepts any number; a reading beyond its
 * device's limits is a glitch (HS110 firmware answering 23,456,789 W, a float32 register read as
 * 3.4e38) and must never be stored or published. Collectors check before publishing and the
 * storage hook checks at ingest, with the same function and the limits the agent puts in the
 * device's retained meta.
 */
export const ReadingLimitsSchema = Type.Object(
  {
    max_power_w: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'Largest |power_w| (W), import or export.' }),
    ),
    max_current_a: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Largest current_a (A).' })),
    max_voltage_v: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Largest voltage_v (V).' })),
    max_energy_wh: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description: 'Largest energy_wh (and energy_returned_wh) counter value (Wh).',
      }),
    ),
    max_frequency_hz: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'Largest frequency_hz (Hz).' }),
    ),
  },
  {
    $id: 'ReadingLimits',
    additionalProperties: false,
    description:
      "Plausibility limits of a device's readings: from the model's rating (plugs) or the meter profile, overridable per device in the registry (`limits:`). A reading beyond them is refused.",
    examples: [{ max_power_w: 4600, max_current_a: 20, max_voltage_v: 300 }],
  },
);
export type ReadingLimits = Static<typeof ReadingLimitsSchema>;
export type ReadingLimit = keyof ReadingLimits;
