export * from './driver.js';
export * from './drivers.js';
export * from './errors.js';
export * from './registry.js';
export * from './registry-schema.js';
export * from './shared-resources.js';
export { defaultDrivers, registerDriver } from './builtin.js';
export { normalizeRealtime } from './tplink/emeter.js';
export {
  TplinkConnectionSchema,
  TplinkDriver,
  tplinkDriver,
  type TplinkConnection,
} from './tplink/driver.js';
export { discoverTplink, discoveryAsRegistryYaml, type DiscoveredPlug } from './tplink/discovery.js';
export { ShellyDriver, shellyDriver, type ShellyProfile } from './shelly/driver.js';
export { ShellyConnectionSchema, type ShellyConnection } from './shelly/schemas.js';
export { digestAuthorization, parseDigestChallenge, type DigestChallenge } from './shelly/digest.js';
export {
  SimulatedShelly,
  type ShellyFault,
  type ShellyModel,
  type SimulatedMeter,
  type SimulatedShellyOptions,
} from './shelly/simulator.js';
