import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

/**
 * A TCP port that was free on loopback a moment ago. Picked at random below the kernel's
 * ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`): a port the OS hands out for
 * `listen(0)` is also what it hands to the next outgoing connection, and with thousands of test
 * connections one of them took such a port before the server we picked it for had bound it
 * (EADDRINUSE in a loaded CI run). Falls back to the OS's pick when no low port is free.
 */
export async function freePort(): Promise<number> {
  const [low, high] = belowEphemeral();
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = low + Math.floor(Math.random() * (high - low));
    if ((await bindable(port)) !== undefined) return port;
  }
  const port = await bindable(0);
  if (port === undefined) throw new Error('could not pick a free port');
  return port;
}

/** The port range to pick from: 10,000 ports below the ephemeral range (20000–32767 by default). */
function belowEphemeral(): [number, number] {
  let first = 32768;
  try {
    first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    // not Linux: keep the usual start of the range
  }
  const high = Math.max(first, 11024);
  return [high - 10000, high];
}

/** Listens on `port` (0: the OS picks) and closes again; the port, or undefined when taken. */
async function bindable(port: number): Promise<number | undefined> {
  const server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!bound) return undefined;
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address === null || typeof address === 'string' ? undefined : address.port;
}

/** Whether something accepts TCP connections on loopback `port` right now. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
