export {
  SimulatedPlug,
  type Realtime,
  type SimulatedModel,
  type SimulatedPlugOptions,
} from './tplink/legacy-plug.js';
export { SimulatedMeters, type SimulatedRequest, type SimulatedServer } from './modbus.js';
export {
  SimulatedShelly,
  type ShellyFault,
  type ShellyModel,
  type SimulatedMeter,
  type SimulatedShellyOptions,
} from './shelly.js';
