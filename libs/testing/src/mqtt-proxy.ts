import { connect, createServer, type Server, type Socket } from 'node:net';
import mqttPacket, { type IConnackPacket, type Packet } from 'mqtt-packet';

/**
 * How a broker we cannot run here behaves, as measured in issue 25, put in front of a real broker:
 * - `mqtt5Connect: 'close'`: closes the socket on an MQTT 5 CONNECT without any CONNACK (RabbitMQ 3.10).
 * - `sharedSubscribe: 'disconnect-158'`: answers a SUBSCRIBE to a `$share/` filter with DISCONNECT
 *   reason 158 "Shared Subscriptions not supported" and closes (ejabberd 23.01).
 * - `connackProperties`: adds properties to an MQTT 5 CONNACK, e.g. `sharedSubscriptionAvailable:
 *   false` as a broker without shared subscriptions announces it (MQTT 5 §3.2.2.3.15).
 * Everything else passes through unchanged, byte for byte.
 */
export interface BrokerQuirks {
  mqtt5Connect?: 'close';
  sharedSubscribe?: 'disconnect-158';
  connackProperties?: IConnackPacket['properties'];
}

export interface MqttProxy {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** A TCP proxy on a free loopback port that forwards to `target` (mqtt://host:port) with `quirks`. */
export async function startMqttProxy(target: string, quirks: BrokerQuirks): Promise<MqttProxy> {
  const { hostname, port: targetPort } = new URL(target);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const broker = connect(Number(targetPort), hostname);
    for (const socket of [client, broker]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.once('close', () => broker.destroy());
    broker.once('close', () => client.destroy());
    let protocolVersion = 4;
    client.on(
      'data',
      framer((frame) => {
        const packet = parse(frame, protocolVersion);
        if (packet.cmd === 'connect') {
          protocolVersion = packet.protocolVersion ?? 4;
          if (protocolVersion === 5 && quirks.mqtt5Connect === 'close') return client.destroy();
        }
        if (packet.cmd === 'subscribe' && quirks.sharedSubscribe === 'disconnect-158') {
          if (packet.subscriptions.some((subscription) => subscription.topic.startsWith('$share/'))) {
            const disconnect = mqttPacket.generate(
              { cmd: 'disconnect', reasonCode: 158 },
              { protocolVersion },
            );
            client.end(disconnect);
            broker.destroy();
            return;
          }
        }
        broker.write(frame);
      }),
    );
    let connackSeen = false;
    broker.on(
      'data',
      framer((frame) => {
        if (!connackSeen && quirks.connackProperties && protocolVersion === 5) {
          connackSeen = true;
          const connack = parse(frame, 5) as IConnackPacket;
          connack.properties = { ...connack.properties, ...quirks.connackProperties };
          return client.write(mqttPacket.generate(connack, { protocolVersion: 5 }));
        }
        client.write(frame);
      }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy did not get a port');
  return {
    url: `mqtt://127.0.0.1:${address.port}`,
    port: address.port,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Splits a byte stream into whole MQTT packets (fixed header, variable-length remaining length). */
function framer(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      let length = 0;
      let multiplier = 1;
      let offset = 1;
      for (;;) {
        if (offset >= pending.length) return;
        const byte = pending[offset++]!;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) break;
      }
      if (pending.length < offset + length) return;
      const frame = pending.subarray(0, offset + length);
      pending = pending.subarray(offset + length);
      onFrame(frame);
    }
  };
}

function parse(frame: Buffer, protocolVersion: number): Packet {
  const parser = mqttPacket.parser({ protocolVersion });
  let packet: Packet | undefined;
  parser.on('packet', (parsed: Packet) => (packet = parsed));
  parser.on('error', (error: Error) => {
    throw error;
  });
  parser.parse(frame);
  if (!packet) throw new Error('the proxy could not parse an MQTT packet');
  return packet;
}
