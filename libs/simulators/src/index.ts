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
export { KasaState, type KasaModel } from './tplink/kasa-model.js';
export { KasaEnergyLog } from './tplink/energy-log.js';
export { TapoState, type TapoModel, type TapoOutlet } from './tplink/tapo-model.js';
export { SimulatedKlapDevice, type KlapFault, type SimulatedKlapOptions } from './tplink/klap-device.js';
export {
  EsphomeNode,
  ShellyGen1,
  ShellyGen2,
  SimulatedMqttDevice,
  TasmotaPlug,
  Zigbee2MqttPlug,
} from './mqtt-devices.js';
export {
  EmporiaCloud,
  MINUTE_RETENTION_MS,
  type EmporiaCloudOptions,
  type EmporiaRequest,
} from './emporia/cloud.js';
export { EmulatedHome, CIRCUIT_NAMES } from './emporia/home.js';
