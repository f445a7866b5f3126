import { Bus, busTls, type BusOptions } from '@wattbus/bus';
import type { Logger } from '@wattbus/runtime';
import type { GatewayConfig } from './config.js';

/**
 * The bus a gateway needs, from its config: replies up to `mqtt.max_payload_bytes` (the bus'
 * 64 KiB default would dead-letter a 1-day readings answer, and the call would end in 504).
 * Use it wherever a Gateway is embedded; `connect` is the front door's when main runs it.
 */
export function connectGatewayBus(
  config: GatewayConfig,
  logger: Logger,
  connect: (options: BusOptions) => Promise<Bus> = (options) => Bus.connect(options),
): Promise<Bus> {
  return connect({
    url: config.mqtt.url,
    service: 'gateway',
    clientId: config.mqtt.client_id,
    baseTopic: config.mqtt.base_topic,
    username: config.mqtt.username,
    password: config.mqtt.password,
    ...busTls(config.mqtt),
    maxPayloadBytes: config.mqtt.max_payload_bytes,
    logger,
  });
}
