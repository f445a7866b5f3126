import type { Reading } from '@wattbus/contracts';

const T0 = Date.parse('2026-11-23T00:00:00.000Z');

/**
 * Reading `index` of a run: `devices` meters take turns, one reading per meter per second from
 * T0. The publisher and the direct line-protocol baseline both use it, so they store the same points.
 */
export function benchReading(index: number, devices: number): Reading {
  return {
    ts: new Date(T0 + Math.floor(index / devices) * 1000).toISOString(),
    device: `meter-${index % devices}`,
    power_w: 100 + (index % 1000) / 10,
    voltage_v: 230.1,
    current_a: 0.43,
    energy_wh: 1000 + index,
    type: 'modbus',
    location: 'hq/floor-1/panel-a',
  };
}
