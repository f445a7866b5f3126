import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';

/** The embedded aedes broker, in-process on a free loopback port (MQTT 3.1.1 only). */
export interface AedesServer {
  readonly url: string;
  readonly port: number;
  readonly broker: Aedes;
  stop(): Promise<void>;
}

export async function startAedes(options: AedesOptions = {}): Promise<AedesServer> {
  const broker = await Aedes.createBroker(options);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true); // no Nagle delay on small MQTT packets (see libs/bus)
    socket.once('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('aedes did not get a port');
  return {
    url: `mqtt://127.0.0.1:${address.port}`,
    port: address.port,
    broker,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
