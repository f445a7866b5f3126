export * from './driver.js';
export * from './history.js';
export * from './drivers.js';
export * from './errors.js';
export * from './registry.js';
export * from './registry-schema.js';
export * from './shared-resources.js';
export { idFromName } from './id-from-name.js';
export { readYamlFile, readYamlFileSync, valueAt, type ParsedYaml } from './yaml-file.js';
export { defaultDrivers, registerDriver } from './builtin.js';
export { normalizeRealtime } from './tplink/emeter.js';
export {
  TplinkConnectionSchema,
  TplinkDriver,
  tplinkDriver,
  type TplinkConnection,
} from './tplink/driver.js';
export {
  KlapCipher,
  klapAuthHash,
  klapClientProof,
  klapServerProof,
  sameProof,
  splitHandshake1,
  type KlapVersion,
} from './tplink/klap-cipher.js';
export { PassthroughCipher, sealHandshakeKey, sha1HexBase64 } from './tplink/passthrough-cipher.js';
export { xorFrame, xorOpen, XorFrameReader } from './tplink/xor-cipher.js';
export { credentialsOf, type CredentialKeys } from './tplink/credentials.js';
export type { TplinkCredentials, TplinkTransport } from './tplink/transport.js';
export { discoverTplink, discoveryAsRegistryYaml, type DiscoveredPlug } from './tplink/discovery.js';
export { ShellyDriver, shellyDriver, type ShellyProfile } from './shelly/driver.js';
export { ShellyConnectionSchema, type ShellyConnection } from './shelly/schemas.js';
export { digestAuthorization, parseDigestChallenge, type DigestChallenge } from './shelly/digest.js';
export * from './modbus/profile-schema.js';
export { BUILTIN_PROFILES_DIR, builtinProfiles, loadProfile, withOverrides } from './modbus/profiles.js';
export type { MeterProfile, MeterRegister, ProfileOverrides } from './modbus/profiles.js';
export { decodeWords, encodeWords, registerValue, registerWords } from './modbus/codec.js';
export { MAX_REGISTERS_PER_READ, planReads, splitBlock, type ReadBlock } from './modbus/plan.js';
export { MODBUS_FAILURES, type ModbusFailure } from './modbus/failures.js';
export { ModbusLine, type LineMetrics, type LineRequest, type ModbusLineSettings } from './modbus/line.js';
export {
  ModbusConnectionSchema,
  ModbusDriver,
  lineKeyOf,
  lineSettingsOf,
  modbusDriver,
  type ModbusConnection,
} from './modbus/driver.js';
export * from './ratings.js';
// What a Shelly says about itself (`/shelly`, `Shelly.GetStatus`), for discovery.
export { Gen1InfoSchema, Gen2DeviceStatusSchema, Gen2InfoSchema } from './shelly/schemas.js';
export { EmporiaChannelDriver, accountKeyOf, emporiaDriver } from './emporia/driver.js';
export { EmporiaConnectionSchema, type EmporiaConnection, type EmporiaScale } from './emporia/schemas.js';
export { EmporiaAccount, powerWOf, type UsageSnapshot } from './emporia/account.js';
export { HoldOff } from './emporia/api.js';
export { tokenFileOf } from './emporia/sign-in.js';
export {
  channelSlug,
  discoverEmporia,
  emporiaDeviceId,
  emporiaRegistryYaml,
  type EmporiaAccountKeys,
} from './emporia/discovery.js';
