import { Bus, checkBrokerUrl, type BusOptions } from '@wattbus/bus';

/**
 * Why `url` cannot be a broker URL, or undefined. Checked with the rest of the config, before
 * any connection, by the bus's own rule (`checkBrokerUrl`), so the two cannot disagree.
 */
export function brokerUrlProblem(url: string): string | undefined {
  try {
    checkBrokerUrl(url);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** CONNACK codes of a refused login: 4/5 in MQTT 3.1.1, 134/135 in MQTT 5. */
const REFUSED_LOGIN = new Set([4, 5, 134, 135]);

/** The broker could not be reached, or refused us; the message names the URL and the cause. */
export class BrokerConnectionError extends Error {
  override name = 'BrokerConnectionError';
}

/** Bus.connect, with its failure turned into one line an operator can act on. */
export async function connectBus(options: BusOptions): Promise<Bus> {
  try {
    return await Bus.connect(options);
  } catch (error) {
    throw describeConnectFailure(error, options);
  }
}

function describeConnectFailure(
  error: unknown,
  options: Pick<BusOptions, 'url' | 'username'>,
): BrokerConnectionError {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'number' && REFUSED_LOGIN.has(code)) {
    const who = options.username ? `user '${options.username}'` : 'a client without a username';
    return new BrokerConnectionError(
      `the MQTT broker at ${options.url} refused ${who}: not authorised (CONNACK ${code}: ${message}); ` +
        'check mqtt.username and mqtt.password, and the user on the broker',
    );
  }
  return new BrokerConnectionError(
    message.includes(options.url)
      ? message
      : `cannot connect to the MQTT broker at ${options.url}: ${message}`,
  );
}
