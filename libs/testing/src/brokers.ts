import { startAedes } from './aedes.js';
import { startMosquitto } from './mosquitto.js';

/** A running broker, whichever it is. */
export interface BrokerUnderTest {
  url: string;
  stop(): Promise<void>;
}

/** The brokers WattBus runs on, for a suite that must pass on each: mosquitto 2 (MQTT 5) and aedes (3.1.1). */
export const BROKERS_UNDER_TEST: Record<'mosquitto' | 'aedes', () => Promise<BrokerUnderTest>> = {
  mosquitto: async () => {
    const server = await startMosquitto({ persistence: false });
    return { url: server.url, stop: () => server.destroy() };
  },
  aedes: async () => startAedes(),
};
